"""Remote tokens: ``Prefix ":" LocalToken``, the gateway's global resource address.

Every resource the gateway hands out is named by a remote token (docs/wire-format.md §3.2,
docs/decisions.md §7).  The prefix names the device (one prefix per device, so a
client can group tokens by device and a PrefixFilter can select them); the
local part names the resource on that device.  The rules enforced here:

- the whole token fits ``tt:ReferenceToken`` (at most :data:`MAX_TOKEN` characters);
- the local part is at most :data:`MAX_LOCAL` characters and contains no colon;
- neither part is empty, and neither contains whitespace or control characters
  (a token travels in XML attributes and URLs, where those are mangled).

Parsing is lenient where the specification says "tolerate": :func:`split_remote_token`
splits at the first colon and accepts a colon in the local part; validation
(:func:`validate_remote_token`) is what the gateway applies to tokens it makes.
"""
from __future__ import annotations

import unicodedata

#: ``tt:ReferenceToken`` has ``maxLength 64`` in common.xsd, whose annotation
#: points at the remote-token clause (docs/wire-format.md §3.2).
MAX_TOKEN = 64
#: The local part may be an RFC 4122 UUID string, which is 36 characters (docs/wire-format.md §3.2).
MAX_LOCAL = 36
#: The longest prefix that still leaves room for the colon and a one-character local part.
MAX_PREFIX = MAX_TOKEN - 2

SEPARATOR = ":"


class TokenError(ValueError):
    """A string that is not a valid remote token (or prefix, or local part)."""


def bad_character(text: str) -> str | None:
    """The first whitespace or control character in ``text``, if any."""
    if text.isprintable() and " " not in text:
        return None  # printable excludes every whitespace but " " and every control character: no scan
    for ch in text:
        if ch.isspace() or unicodedata.category(ch) == "Cc":
            return ch
    return None


def split_remote_token(token: str) -> tuple[str, str]:
    """``(prefix, local)``, split at the first colon (docs/wire-format.md §3.2 (rec)).

    A prefix never contains a colon; a local token "should" not, so a second
    colon stays in the local part.  Raises :class:`TokenError` without a colon.
    """
    prefix, sep, local = token.partition(SEPARATOR)
    if not sep:
        raise TokenError(f"remote token {token!r} has no ':' between prefix and local token")
    return prefix, local


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start a valid remote token, else raise :class:`TokenError`."""
    if not prefix:
        raise TokenError("empty prefix")
    if SEPARATOR in prefix:
        raise TokenError(f"prefix {prefix!r} contains ':'")  # docs/wire-format.md §3.2: a prefix never does
    bad = bad_character(prefix)
    if bad is not None:
        raise TokenError(f"prefix {prefix!r} contains whitespace or control character {bad!r}")
    if len(prefix) > MAX_PREFIX:
        raise TokenError(
            f"prefix {prefix!r} is {len(prefix)} characters; at most {MAX_PREFIX} leave room "
            f"for ':' and a local token within {MAX_TOKEN}"
        )
    return prefix


def validate_remote_token(token: str) -> tuple[str, str]:
    """``(prefix, local)`` of a token that obeys every rule of docs/wire-format.md §3.2, else :class:`TokenError`."""
    if not token:
        raise TokenError("empty remote token")
    bad = bad_character(token)
    if bad is not None:
        raise TokenError(f"remote token {token!r} contains whitespace or control character {bad!r}")
    if len(token) > MAX_TOKEN:
        raise TokenError(f"remote token {token!r} is {len(token)} characters; at most {MAX_TOKEN} allowed")
    prefix, local = split_remote_token(token)
    if not prefix:
        raise TokenError(f"remote token {token!r} has an empty prefix")
    if not local:
        raise TokenError(f"remote token {token!r} has an empty local token")
    if len(local) > MAX_LOCAL:
        raise TokenError(
            f"local token {local!r} of {token!r} is {len(local)} characters; at most {MAX_LOCAL} allowed"
        )
    if SEPARATOR in local:
        raise TokenError(f"local token {local!r} of {token!r} contains ':'")
    return prefix, local


def make_remote_token(prefix: str, local: str) -> str:
    """``prefix:local``, validated by the same rules as :func:`validate_remote_token`."""
    validate_prefix(prefix)
    token = f"{prefix}{SEPARATOR}{local}"
    validate_remote_token(token)
    return token
