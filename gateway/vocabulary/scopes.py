"""The canonical key of a scope URI, under WS-Discovery's rfc3986 matching rule.

Stored beside every resource scope so that a ScopeFilter term is an index range
scan: a filter scope matches a resource scope when the filter's key equals the
scope's key or is a whole-segment prefix of it (``key + "/"``).  The rule
(docs/wire-format.md §5.5): scheme and authority compare case-insensitively, the path
case-sensitively and segment-wise; percent-escapes are canonicalised; query
and fragment are ignored; URIs with ``.`` or ``..`` segments never match.

At the bottom (it imports nothing of the gateway) because the catalog keys
scopes with it, the filter semantics match with it and the resource-event
reader checks scope text with it.
"""
from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _canonical_escapes(text: str) -> str:
    """Decode escapes of unreserved characters, upper-case the hex of the rest (RFC 3986 §6.2.2)."""

    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if _UNRESERVED.fullmatch(ch) else "%" + m.group(1).upper()

    return _ESCAPE.sub(repl, text)


def has_space(text: str) -> bool:
    """Whether ``text`` holds whitespace; printable text without " " holds none, so most need no scan."""
    return not (text.isprintable() and " " not in text) and any(c.isspace() for c in text)


@functools.lru_cache(maxsize=8192)
def scope_key(uri: str) -> str | None:
    """``scheme://authority/seg/seg`` in canonical form, or ``None`` if ``uri`` can never match.

    Cached: a catalog's scopes repeat (city, type, hardware, device name), and
    a sync or an import keys hundreds of thousands of them.
    """
    if not uri or has_space(uri) or "%" in _ESCAPE.sub("", uri):
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if not parts.scheme:
        return None
    segments = [_canonical_escapes(s) for s in parts.path.split("/")]
    if any(s in (".", "..") for s in segments):
        return None
    path = "/".join(segments).rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    authority = _canonical_escapes(parts.netloc).lower()
    return f"{parts.scheme.lower()}://{authority}{path}"


def rfc3986_match(filter_uri: str, scope_uri: str) -> bool:
    """Whether ``filter_uri`` matches ``scope_uri`` under the rfc3986 rule."""
    f, s = scope_key(filter_uri), scope_key(scope_uri)
    return f is not None and s is not None and (s == f or s.startswith(f + "/"))
