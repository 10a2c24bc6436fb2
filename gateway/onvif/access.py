"""ONVIF user levels and access classes, and the authorizer the SOAP core calls (docs/wire-format.md §8.2).

The default access policy of ONVIF Core: which user level may use which
access class.  Anonymous requests get only ``PRE_AUTH`` operations; anything
else asks for credentials with ``env:Sender / ter:NotAuthorized``.
"""
from __future__ import annotations

from gateway.onvif import faults
from gateway.soap.dispatch import Principal

PRE_AUTH = "PRE_AUTH"
READ_SYSTEM = "READ_SYSTEM"
READ_SYSTEM_SENSITIVE = "READ_SYSTEM_SENSITIVE"
READ_SYSTEM_SECRET = "READ_SYSTEM_SECRET"
WRITE_SYSTEM = "WRITE_SYSTEM"
UNRECOVERABLE = "UNRECOVERABLE"
READ_MEDIA = "READ_MEDIA"
ACTUATE = "ACTUATE"

#: The levels a user can be created with (Anonymous and Extended cannot).
USER_LEVELS = ("Administrator", "Operator", "User")

_ALL = frozenset(
    {PRE_AUTH, READ_SYSTEM, READ_SYSTEM_SENSITIVE, READ_SYSTEM_SECRET, WRITE_SYSTEM, UNRECOVERABLE, READ_MEDIA, ACTUATE}
)
POLICY: dict[str, frozenset[str]] = {
    "Administrator": _ALL,
    "Operator": frozenset({PRE_AUTH, READ_SYSTEM, READ_SYSTEM_SENSITIVE, READ_MEDIA, ACTUATE}),
    "User": frozenset({PRE_AUTH, READ_SYSTEM, READ_MEDIA}),
    "Anonymous": frozenset({PRE_AUTH}),
}


def normalise_level(text: str) -> str:
    """``administrator`` -> ``Administrator``; raises ValueError for anything else."""
    for level in USER_LEVELS:
        if text.strip().lower() == level.lower():
            return level
    expected = ", ".join(name.lower() for name in USER_LEVELS)
    raise ValueError(f"unknown user level {text!r} (expected one of: {expected})")


def authorize(principal: Principal, access: str) -> None:
    """Raise ``ter:NotAuthorized`` unless ``principal``'s level may use ``access``."""
    if access in POLICY.get(principal.level, frozenset()):
        return
    if principal.name is None:
        raise faults.not_authorized("this operation requires authentication (WS-UsernameToken)")
    raise faults.not_authorized(f"user level {principal.level} may not use {access} operations")


def granted(name: str, user_levels: str) -> Principal | None:
    """The principal a configured ``tt:UserLevel`` list grants: its first level; None when the list is empty."""
    levels = user_levels.split()
    return Principal(name=name, level=levels[0]) if levels else None
