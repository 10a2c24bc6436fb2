"""The connector's half of the Uplink upgrade (docs/wire-format.md §9.2, phase 2), as a sans-IO machine.

Theory of operation
-------------------
The local service (this gateway, behind a firewall) has opened TLS to the
remote client.  It writes one HTTP/1.1 request and reads one reply; every
byte after the reply's blank line already belongs to the next protocol::

    dial = Dial(Target.parse("https://cloud.example.net/uplink"), token=None)
    writer.write(dial.request())                 # IDLE -> AWAITING
    while (result := dial.receive_data(chunk)) is NEED_DATA:
        ...                                      # read the next chunk; b"" is EOF
    result.leftover                              # -> SWITCHED: hand these to the HTTP/2 server

The variant follows the scheme of ``RemoteAddress``: ``https`` asks for
``Upgrade: h2c-reverse`` directly; ``wss`` asks for a WebSocket with the
``h2c-reverse`` subprotocol (RFC 6455 §4.1), after which the HTTP/2 bytes
travel in binary messages.

Rules:

1. The reply is parsed by h11, which caps its head at 16 KiB.  Interim 1xx
   replies other than 101 are skipped (RFC 9110 §15.2).
2. A 101 is a switch only if it names what was asked for: ``Upgrade:
   h2c-reverse``; or ``Upgrade: websocket`` with the ``Sec-WebSocket-Accept``
   derived from our key and ``Sec-WebSocket-Protocol: h2c-reverse``.
3. A final status is a refusal, :class:`UpgradeRefused` carrying it; 401 and
   403 are :class:`CredentialsRefused`, because retrying will not help until
   an operator fixes the certificate or token.
4. Whatever bytes the peer sends, whole or split, :meth:`Dial.receive_data`
   returns ``NEED_DATA`` or a :class:`Switched`, or raises a
   :class:`DialError`; never anything else.  After an error, every later
   call raises the same error.

ALPN is not used and no ``HTTP2-Settings`` header is sent (docs/wire-format.md §9.2 rec).
"""
from __future__ import annotations

import base64
import enum
import os
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import h11

from gateway.uplink.shared.upgrade import H2C_REVERSE, websocket_accept

#: Port implied by both https:// and wss:// (RFC 9110 §4.2.2, RFC 6455 §3).
_DEFAULT_PORT = 443


class Variant(enum.Enum):
    NATIVE = "https"
    WEBSOCKET = "wss"


class BadRemoteAddress(ValueError):
    """A RemoteAddress that is not an absolute ``https://`` or ``wss://`` URL with a host."""


class Unsendable(ValueError):
    """The RemoteAddress or the token holds characters an HTTP/1.1 request line or header cannot carry."""


class DialError(Exception):
    """The remote client did not switch protocols; ``str()`` is the reason, fit for the Error status."""


class BadReply(DialError):
    """The reply was not HTTP/1.1, ended early, or was a 101 to something we did not ask for."""


class UpgradeRefused(DialError):
    """The remote client answered the upgrade with a final status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"upgrade refused: {status} {reason}".rstrip())
        self.status = status


class CredentialsRefused(UpgradeRefused):
    """401 or 403: the client certificate or access token was not accepted."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where an uplink dials: parsed from its RemoteAddress."""

    variant: Variant
    host: str  # as for TLS SNI and certificate matching: no brackets around IPv6
    port: int
    target: str  # request target: path and query

    @classmethod
    def parse(cls, address: str) -> Target:
        try:
            url = urlsplit(address)
            port = url.port or _DEFAULT_PORT
        except ValueError as exc:
            raise BadRemoteAddress(f"{address!r}: {exc}") from None
        try:
            variant = Variant(url.scheme.lower())
        except ValueError:
            raise BadRemoteAddress(f"{address!r}: the scheme must be https or wss") from None
        if not url.hostname:
            raise BadRemoteAddress(f"{address!r}: no host")
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        return cls(variant=variant, host=url.hostname, port=port, target=target)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORT else f"{host}:{self.port}"


class _State(enum.Enum):
    IDLE = "idle"
    AWAITING = "awaiting"
    SWITCHED = "switched"


class _NeedData(enum.Enum):
    NEED_DATA = "need data"


#: Returned by :meth:`Dial.receive_data` while the reply's head is incomplete.
NEED_DATA = _NeedData.NEED_DATA


@dataclass(frozen=True, kw_only=True)
class Switched:
    """The 101 arrived: ``leftover`` is the first bytes of the tunnelled protocol."""

    variant: Variant
    leftover: bytes


class Dial:
    """One upgrade attempt.  ``token`` is the AccessToken (``None`` in mTLS mode);
    ``token_in_query`` (wss only) sends it as ``access_token=`` (RFC 6750 §2.3)
    instead of in the Authorization header; ``ws_key`` fixes the WebSocket key
    (16 random bytes by default)."""

    def __init__(self, target: Target, *, token: str | None = None, token_in_query: bool = False,
                 ws_key: bytes | None = None) -> None:
        if token_in_query and target.variant is not Variant.WEBSOCKET:
            raise ValueError("access_token in the query is only defined for wss")
        self.target = target
        self._token, self._token_in_query = token, token_in_query
        self._key = base64.b64encode(ws_key if ws_key is not None else os.urandom(16))
        self._h11 = h11.Connection(h11.CLIENT)
        self._state = _State.IDLE
        self._error: DialError | None = None
        self._switch_headers: dict[bytes, bytes] = {}  # of the 101, once it arrives

    def request(self) -> bytes:
        """The upgrade request, to write once to the TLS stream."""
        if self._state is not _State.IDLE:
            raise RuntimeError("the upgrade request was already produced")
        target, headers = self.target.target, [("Host", self.target.authority), ("Connection", "Upgrade")]
        if self.target.variant is Variant.NATIVE:
            headers.append(("Upgrade", H2C_REVERSE))
        else:
            headers += [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
                        ("Sec-WebSocket-Key", self._key.decode()), ("Sec-WebSocket-Protocol", H2C_REVERSE)]
        if self._token is not None and self._token_in_query:
            target += ("&" if "?" in target else "?") + "access_token=" + quote(self._token, safe="")
        elif self._token is not None:
            headers.append(("Authorization", f"Bearer {self._token}"))
        try:
            head = self._h11.send(h11.Request(method="GET", target=target, headers=headers))
        except h11.LocalProtocolError as exc:
            raise Unsendable(f"the upgrade request cannot be written: {exc}") from None
        self._h11.send(h11.EndOfMessage())  # no body: nothing to write
        self._state = _State.AWAITING
        return head or b""

    def receive_data(self, data: bytes) -> Switched | _NeedData:
        """Feed reply bytes (``b""`` at EOF): NEED_DATA, the switch, or a raised :class:`DialError`."""
        if self._error is not None:
            raise self._error
        if self._state is not _State.AWAITING:
            raise RuntimeError(f"receive_data in state {self._state.value}")
        try:
            return self._receive(data)
        except DialError as exc:
            self._error = exc
            raise
        except h11.RemoteProtocolError as exc:
            self._error = BadReply(f"malformed reply to the upgrade: {exc}")
            raise self._error from None

    def _receive(self, data: bytes) -> Switched | _NeedData:
        self._h11.receive_data(data)
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                return NEED_DATA
            if isinstance(event, h11.ConnectionClosed):
                raise BadReply("connection closed before the upgrade reply")
            if isinstance(event, h11.Response):
                reason = event.reason.decode("latin-1")
                refusal = CredentialsRefused if event.status_code in (401, 403) else UpgradeRefused
                raise refusal(event.status_code, reason)
            if event is h11.PAUSED:  # a 101 with an Upgrade header
                self._check_switch()
                self._state = _State.SWITCHED
                return Switched(variant=self.target.variant, leftover=self._h11.trailing_data[0])
            if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                self._switch_headers = {name: value for name, value in event.headers}

    def _check_switch(self) -> None:
        headers = self._switch_headers
        upgrade = headers.get(b"upgrade", b"").strip().lower()
        if self.target.variant is Variant.NATIVE:
            if upgrade != H2C_REVERSE.encode():
                raise BadReply(f"101 switched to {upgrade.decode('latin-1')!r}, not {H2C_REVERSE}")
            return
        accept = websocket_accept(self._key)
        if upgrade != b"websocket":
            raise BadReply(f"101 switched to {upgrade.decode('latin-1')!r}, not websocket")
        if headers.get(b"sec-websocket-accept", b"").strip() != accept:
            raise BadReply("101 with a wrong Sec-WebSocket-Accept")
        if headers.get(b"sec-websocket-protocol", b"").strip() != H2C_REVERSE.encode():
            raise BadReply(f"101 without the WebSocket subprotocol {H2C_REVERSE}")
