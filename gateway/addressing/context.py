"""Token context: how a downstream segment's tokens become this gateway's tokens (docs/wire-format.md §3.3,
docs/decisions.md §8.11).

A client may only use tokens it received from *this* gateway, so every token
coming up from a segment is mapped once and the mapping is persisted by the
catalog (docs/decisions.md §7).  The rules here are pure; the catalog applies them
inside a write transaction so that two segments can never claim one prefix.

Rule 1.  A segment token ``P:L`` keeps its prefix ``P`` when ``P`` is valid,
at most :data:`MAX_KEPT_PREFIX` characters long (so any local part up to 36
still fits in 64) and not claimed by another segment or by local resources.
Rule 2.  Otherwise the device gets a remapped prefix ``<base>~<n>``, the
smallest ``n`` not yet claimed; the base is the segment's prefix shortened, or
the segment's name for tokens that had no prefix at all.
Rule 3.  The local part ``L`` is kept when it is a valid local token; otherwise
(too long, a colon, empty) it becomes a digest of the whole segment token,
which is stable without being stored.
Rule 4.  Tokens no ONVIF peer may send (over 64 characters, empty, whitespace
or control characters) are refused: the segment is misbehaving.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterator

from gateway.addressing.tokens import MAX_LOCAL, MAX_TOKEN, SEPARATOR, TokenError, bad_character

#: A kept prefix leaves room for the colon and a 36-character local part: 64 - 1 - 36.
MAX_KEPT_PREFIX = MAX_TOKEN - 1 - MAX_LOCAL
#: Length of the base of a remapped prefix; with "~" and up to 6 digits it stays under MAX_KEPT_PREFIX.
REMAP_BASE = 20
REMAP_MARK = "~"
#: Characters kept from a segment name when it becomes a prefix base.
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def parse_segment_token(token: str) -> tuple[str, str]:
    """``(prefix, local)`` of a token received from a segment; ``prefix`` is "" when it had none (Rule 4)."""
    if not token:
        raise TokenError("empty token")
    if len(token) > MAX_TOKEN:
        raise TokenError(f"token of {len(token)} characters exceeds the {MAX_TOKEN} of tt:ReferenceToken")
    bad = bad_character(token)
    if bad is not None:
        raise TokenError(f"token contains the character {bad!r}")
    prefix, sep, local = token.partition(SEPARATOR)
    return (prefix, local) if sep and prefix else ("", token)


def local_part(local: str, segment_token: str) -> str:
    """The local part this gateway uses (Rule 3)."""
    if local and len(local) <= MAX_LOCAL and SEPARATOR not in local:
        return local
    digest = base64.b32encode(hashlib.sha256(segment_token.encode()).digest()).decode().lower()
    return "h" + digest[:25]


def prefix_candidates(remote_prefix: str, segment_name: str) -> Iterator[str]:
    """The prefixes to try for a device, best first (Rules 1 and 2); never exhausted."""
    if remote_prefix and len(remote_prefix) <= MAX_KEPT_PREFIX:
        yield remote_prefix
    base = remote_prefix[:REMAP_BASE] if remote_prefix else (_NAME_CHARS.sub("", segment_name)[:REMAP_BASE] or "seg")
    if not remote_prefix:
        yield base
    for n in itertools.count(2):
        yield f"{base}{REMAP_MARK}{n}"
