"""The URIs of streams and snapshots, minted from the remote token (docs/wire-format.md §11.3).

``/live/<token>`` and ``/snapshot/<token>``, the token percent-encoded (RFC 3986 unreserved characters and ``:``
stay as they are, so a usual ``prefix:local`` token reads as itself).  The mapping is reversible and canonical:
one token has exactly one path, and a path that is not the encoding of a token is no path of ours.  Nothing else
is in the URI (no secret, no expiry), so it stays valid as long as the token does; Media2 caps a URI at
:data:`MAX_URI` octets, which a 64-character ASCII token behind any usual host and port leaves room for.
"""
from __future__ import annotations

from urllib.parse import quote, unquote

STREAM = "/live/"
SNAPSHOT = "/snapshot/"
#: The longest stream or snapshot URI Media2 allows a device to return.
MAX_URI = 128
_SAFE = ":"


class UriTooLong(ValueError):
    """The URI of a token behind this base would exceed :data:`MAX_URI` octets."""


def _encode(token: str) -> str:
    encoded = quote(token, safe=_SAFE, encoding="utf-8", errors="strict")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded  # no dot segments (RFC 3986 §5.2.4)


def _decode(segment: str) -> str | None:
    if not segment:
        return None
    try:
        token = unquote(segment, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return None
    return token if _encode(token) == segment else None


def stream_path(token: str) -> str:
    if not token:
        raise ValueError("a stream needs a token")
    return STREAM + _encode(token)


def snapshot_path(token: str) -> str:
    if not token:
        raise ValueError("a snapshot needs a token")
    return SNAPSHOT + _encode(token)


def split_stream_path(path: str) -> tuple[str, str] | None:
    """``(token, rest)`` of a stream path or one of its tracks (``/live/T/stream=0`` gives ``rest`` "/stream=0")."""
    if not path.startswith(STREAM):
        return None
    segment, slash, rest = path[len(STREAM):].partition("/")
    token = _decode(segment)
    return None if token is None else (token, slash + rest)


def token_of_stream_path(path: str) -> str | None:
    split = split_stream_path(path)
    return split[0] if split is not None and split[1] == "" else None


def token_of_snapshot_path(path: str) -> str | None:
    return _decode(path[len(SNAPSHOT):]) if path.startswith(SNAPSHOT) and "/" not in path[len(SNAPSHOT):] else None


def is_relay_path(path: str) -> bool:
    """Whether the web-service port hands ``path`` to the relay's ASGI app."""
    return path.startswith((STREAM, SNAPSHOT))


def _checked(uri: str) -> str:
    if len(uri.encode("utf-8")) > MAX_URI:
        raise UriTooLong(f"{len(uri.encode('utf-8'))} octets, more than {MAX_URI}")
    return uri


def stream_uri(base: str, token: str) -> str:
    """``base`` (``rtsp://host:port``, no path) and the token's stream path."""
    return _checked(base.rstrip("/") + stream_path(token))


def snapshot_uri(base: str, token: str) -> str:
    """``base`` (``http://host:port``, no path) and the token's snapshot path."""
    return _checked(base.rstrip("/") + snapshot_path(token))
