"""The listener's half of the Uplink upgrade (docs/wire-format.md §9.2, phase 2), as a sans-IO machine.

Theory of operation
-------------------
A local service has opened TLS to this gateway (the remote client) and sends
one HTTP/1.1 request; every byte after its blank line already belongs to the
tunnel.  The machine turns bytes into exactly one outcome::

    parser = UpgradeParser()
    while (result := parser.receive_data(chunk)) is NEED_DATA:
        ...                                  # read the next chunk; b"" is EOF
    result.trailing                          # the first bytes of the tunnel

or a raised :class:`Refusal` carrying the status to answer.  The caller then
authenticates the peer (its certificate, or ``result.token``), answers
:func:`switching_protocols` or :func:`refusal_response`, and hands the stream
to HTTP/2 with ``client_side=True`` (hypercorn's h2c move, reversed).

Two variants, chosen by the request (the connector chose by its scheme):
``Upgrade: h2c-reverse`` (native) and ``Upgrade: websocket`` with the
``h2c-reverse`` subprotocol (RFC 6455 §4.2.1), after which HTTP/2 travels in
binary messages (ws.py).

Rules:

1. h11 parses the head.  The whole head is capped at :data:`MAX_HEAD`
   (431 beyond it, whether it arrives in pieces or at once).
2. Only ``GET`` (405 otherwise) on HTTP/1.1, with an origin-form target,
   ``Connection: upgrade``, a known ``Upgrade`` and no body (400 otherwise).
   ``HTTP2-Settings`` is accepted and ignored (docs/wire-format.md §9.2 rec).
   One deviation is tolerated: the version written ``http/1.1`` in lower case
   at the end of the request line, as a widely copied relay does (the
   protocol's own figure shows it so).  It is read as ``HTTP/1.1`` and named
   in :attr:`UpgradeRequest.deviations`; everything else in the line stays
   strict (h11's grammar).
3. The bearer token comes from ``Authorization: Bearer`` or the query's
   ``access_token`` (RFC 6750 §2.1, §2.3), for either variant; both at once,
   or a malformed one, is 400 (RFC 6750 §3.1 ``invalid_request``).
4. Whatever bytes arrive, whole or split anywhere, :meth:`receive_data`
   returns ``NEED_DATA`` or an :class:`UpgradeRequest`, or raises a
   :class:`Refusal`; never anything else.  After a refusal every later call
   raises the same refusal.
"""
from __future__ import annotations

import base64
import binascii
import enum
import http
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import h11

from gateway.uplink.shared.upgrade import H2C_REVERSE, websocket_accept

#: Largest upgrade request head: h11's default (16 KiB, between Apache's 8 KiB per line and
#: node's 80 KiB); room for a long JWT, nothing for a flood.
MAX_HEAD = 16 * 1024
#: RFC 6750 §2.1 b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: The realm of our WWW-Authenticate challenges (RFC 6750 §3).
REALM = "vmsgw-uplink"
#: The request line's ending as deployed relays write it, and what HTTP/1.1 spells (the name is case-sensitive).
_LOWER_CASE_VERSION, _VERSION = b" http/1.1", b" HTTP/1.1"
#: How :attr:`UpgradeRequest.deviations` names the tolerated lower-case version.
LOWER_CASE_VERSION = "the request line's version is written 'http/1.1' (HTTP/1.1 spells it 'HTTP/1.1')"


class Kind(str, enum.Enum):
    NATIVE = "h2c-reverse"
    WEBSOCKET = "websocket"


class _NeedData(enum.Enum):
    NEED_DATA = "need data"


#: Returned by :meth:`UpgradeParser.receive_data` while the request head is incomplete.
NEED_DATA = _NeedData.NEED_DATA


@dataclass(frozen=True, kw_only=True)
class UpgradeRequest:
    """A well-formed upgrade request, not yet authenticated."""

    kind: Kind
    path: str  # without the query
    host: str
    token: str | None  # the bearer access token, from either place
    ws_key: str | None  # Sec-WebSocket-Key (websocket only)
    trailing: bytes  # bytes after the head: the start of the tunnel
    deviations: tuple[str, ...] = ()  # tolerated departures from HTTP/1.1 (rule 2), for the log


class Refusal(Exception):
    """The upgrade is refused with ``status``; ``reason`` is for the log and the response body."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.headers = status, reason, headers

    @classmethod
    def unauthorized(cls, reason: str, *, invalid_token: bool = False) -> Refusal:
        """401 with the Bearer challenge (RFC 6750 §3): no credentials, or a token we do not know."""
        challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if invalid_token else "")
        return cls(401, reason, (("WWW-Authenticate", challenge),))


class UpgradeParser:
    """One upgrade request, read from the bytes of one connection."""

    def __init__(self) -> None:
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._received = 0
        self._request: h11.Request | None = None
        self._refusal: Refusal | None = None
        self._done = False
        self._line: bytes | None = b""  # the request line until its end is seen, then None
        self._deviations: tuple[str, ...] = ()

    def _tolerant(self, head: bytes) -> bytes:
        """``head`` with a request line ending in lower-case ``http/1.1`` (rule 2) spelled ``HTTP/1.1``."""
        end = head.find(b"\n")
        line_end = end - 1 if end > 0 and head[end - 1:end] == b"\r" else end
        if end < 0 or not head[:line_end].endswith(_LOWER_CASE_VERSION):
            return head
        self._deviations = (LOWER_CASE_VERSION,)
        start = line_end - len(_LOWER_CASE_VERSION)
        return head[:start] + _VERSION + head[line_end:]

    def receive_data(self, data: bytes) -> UpgradeRequest | _NeedData:
        """Feed bytes (``b""`` at EOF): NEED_DATA, the request, or a raised :class:`Refusal`."""
        if self._refusal is not None:
            raise self._refusal
        if self._done:
            raise RuntimeError("the upgrade request was already parsed")
        try:
            return self._receive(data)
        except Refusal as exc:
            self._refusal = exc
            raise
        except h11.RemoteProtocolError as exc:
            self._refusal = Refusal(exc.error_status_hint, f"malformed upgrade request: {exc}")
            raise self._refusal from None

    def _receive(self, data: bytes) -> UpgradeRequest | _NeedData:
        self._received += len(data)
        if self._line is not None:  # h11 sees nothing before the request line is complete (or EOF, or too long)
            self._line += data
            if b"\n" not in self._line and data and len(self._line) <= MAX_HEAD:
                return NEED_DATA
            data, self._line = self._tolerant(self._line), None
        self._h11.receive_data(data)
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                if self._received > MAX_HEAD:
                    raise Refusal(431, f"upgrade request head larger than {MAX_HEAD} bytes")
                return NEED_DATA
            if isinstance(event, h11.ConnectionClosed):
                raise Refusal(400, "connection closed before the upgrade request")
            if isinstance(event, h11.Request):
                _check_head(event)
                self._request = event
            elif isinstance(event, h11.EndOfMessage) and self._request is not None:
                trailing = bytes(self._h11.trailing_data[0])
                if self._received - len(trailing) > MAX_HEAD:
                    raise Refusal(431, f"upgrade request head larger than {MAX_HEAD} bytes")
                self._done = True
                return _upgrade(self._request, trailing, self._deviations)
            else:  # a checked head has no body, so nothing else can come before its end
                raise Refusal(400, "unexpected data in the upgrade request")


def _values(request: h11.Request, name: bytes) -> list[str]:
    return [v.decode("latin-1") for n, v in request.headers if n == name]


def _tokens(request: h11.Request, name: bytes) -> list[str]:
    """The comma-separated list items of every ``name`` header, stripped and lower-cased."""
    return [item.strip().lower() for v in _values(request, name) for item in v.split(",") if item.strip()]


def _check_head(request: h11.Request) -> None:
    if request.method != b"GET":
        raise Refusal(405, f"an upgrade is a GET, not {request.method.decode('latin-1')}", (("Allow", "GET"),))
    if request.http_version != b"1.1":
        raise Refusal(400, "an upgrade needs HTTP/1.1")
    if not request.target.startswith(b"/"):
        raise Refusal(400, "the upgrade target must be a path")
    if any(v != "0" for v in _values(request, b"content-length")) or _values(request, b"transfer-encoding"):
        raise Refusal(400, "an upgrade request carries no body")
    if "upgrade" not in _tokens(request, b"connection"):
        raise Refusal(400, "missing Connection: Upgrade")


def _upgrade(request: h11.Request, trailing: bytes, deviations: tuple[str, ...]) -> UpgradeRequest:
    offered = _tokens(request, b"upgrade")
    ws_key = None
    if H2C_REVERSE in offered:
        kind = Kind.NATIVE
    elif "websocket" in offered:
        kind, ws_key = Kind.WEBSOCKET, _websocket_key(request)
    else:
        raise Refusal(400, f"Upgrade must be {H2C_REVERSE} or websocket, not {', '.join(offered) or 'absent'}")
    target = urlsplit(request.target.decode("ascii", "replace"))
    host = _values(request, b"host")
    return UpgradeRequest(kind=kind, path=target.path, host=host[0] if host else "",
                          token=_token(request, target.query), ws_key=ws_key, trailing=trailing,
                          deviations=deviations)


def _websocket_key(request: h11.Request) -> str:
    if _values(request, b"sec-websocket-version") != ["13"]:
        raise Refusal(400, "a WebSocket upgrade needs Sec-WebSocket-Version: 13", (("Sec-WebSocket-Version", "13"),))
    keys = _values(request, b"sec-websocket-key")
    try:
        valid = len(keys) == 1 and len(base64.b64decode(keys[0].strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise Refusal(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    protocols = [p.strip() for v in _values(request, b"sec-websocket-protocol") for p in v.split(",")]
    if H2C_REVERSE not in protocols:
        raise Refusal(400, f"a WebSocket uplink needs Sec-WebSocket-Protocol: {H2C_REVERSE}")
    return keys[0].strip()


def _token(request: h11.Request, query: str) -> str | None:
    in_query = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "access_token"]
    in_header = []
    for value in _values(request, b"authorization"):
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.lower() == "bearer":
            in_header.append(credentials.strip())
    found = in_query + in_header
    if len(found) > 1:
        raise Refusal(400, "more than one access token (RFC 6750 §2: use one method)")
    if found and not _B64TOKEN.fullmatch(found[0]):
        raise Refusal(400, "malformed access token")
    return found[0] if found else None


def switching_protocols(request: UpgradeRequest) -> bytes:
    """The 101 that accepts ``request``; the tunnel starts right after it."""
    lines = ["HTTP/1.1 101 Switching Protocols", "Connection: Upgrade"]
    if request.kind is Kind.NATIVE:
        lines.append(f"Upgrade: {H2C_REVERSE}")
    else:
        assert request.ws_key is not None  # the parser sets it for every websocket request
        accept = websocket_accept(request.ws_key.encode()).decode()
        lines += ["Upgrade: websocket", f"Sec-WebSocket-Accept: {accept}", f"Sec-WebSocket-Protocol: {H2C_REVERSE}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def refusal_response(refusal: Refusal) -> bytes:
    """A complete HTTP/1.1 response for ``refusal``, after which the connection closes."""
    body = (refusal.reason + "\n").encode("utf-8", "replace")
    phrase = http.HTTPStatus(refusal.status).phrase
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
               ("Connection", "close"), *refusal.headers]
    head = f"HTTP/1.1 {refusal.status} {phrase}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return head.encode("latin-1", "replace") + body
