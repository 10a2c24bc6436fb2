"""HTTP/2 in WebSocket binary messages: the ``wss`` variant of the Uplink (docs/wire-format.md §9.2) as a byte stream.

Theory of operation.  Once the upgrade is done (the listener's handshake.py or
the connector's dial.py), :class:`WebSocketStream` wraps the connection's
:class:`~gateway.uplink.shared.stream.ByteStream` and is one itself: ``write()``
sends the bytes as one binary message, ``read()`` returns the payload of the
binary frames received, in order, as they arrive — message boundaries carry
no meaning for HTTP/2.  wsproto's post-handshake ``Connection`` does the
framing, so either role can use the adapter: the connector (local service) is
the WebSocket *client* and masks its frames, the listener (remote client) is
the *server* and checks that they are masked.

Rules.
1. Pings are answered with the same payload; pongs are ignored.
2. A text message has no meaning in an ``h2c-reverse`` tunnel: the stream is
   closed with 1003 (unsupported data) and ends.
3. A close from the peer is answered and ends the stream; a frame wsproto
   cannot parse closes with the code it names (1002, 1007, 1009 ...).
4. ``read()`` returns ``b""`` at the end, whatever ended it, and after;
   ``write()`` on an ended stream raises ``ConnectionResetError``.
"""
from __future__ import annotations

import asyncio

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

from gateway.uplink.shared.stream import ByteStream

#: Seconds ``aclose()`` waits to send the close frame; the peer may not be reading.
CLOSE_FRAME_TIMEOUT = 1.0
#: Largest message written: HTTP/2 writes are a few frames, rarely more than this; larger ones are split
#: so that a peer's message size limit (commonly 1 MiB) is never hit.
MAX_MESSAGE = 256 * 1024


class WebSocketStream:
    """A :class:`ByteStream` of binary WebSocket messages over ``inner``.

    ``client`` is the WebSocket role (True for the connector).  ``trailing``
    are bytes that arrived with the upgrade reply or request and already
    belong to the WebSocket.
    """

    def __init__(self, inner: ByteStream, *, client: bool, trailing: bytes = b"") -> None:
        self._inner = inner
        self._ws = Connection(ConnectionType.CLIENT if client else ConnectionType.SERVER)
        self._lock = asyncio.Lock()
        self._ended = False
        self.close_code: int | None = None  # why it ended, once it has
        self._ws.receive_data(trailing)

    async def read(self) -> bytes:
        while not self._ended:
            payload = await self._drain_events()
            if payload:
                return payload
            if self._ended:
                break
            data = await self._inner.read()
            self._ws.receive_data(data or None)  # None: the transport ended without a close frame (1006)
        return b""

    async def _drain_events(self) -> bytes:
        chunks: list[bytes] = []
        for event in self._ws.events():
            if isinstance(event, BytesMessage):
                chunks.append(bytes(event.data))
            elif isinstance(event, Ping):
                await self._send(event.response())
            elif isinstance(event, TextMessage):
                await self._end(CloseReason.UNSUPPORTED_DATA, "h2c-reverse carries binary messages only")
                break
            elif isinstance(event, CloseConnection):
                await self._end(event.code, event.reason or "")
                break
        return b"".join(chunks)

    async def _end(self, code: int, reason: str) -> None:
        """Answer or send the close, once; the stream has ended."""
        self._ended = True
        self.close_code = code
        if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            # 1005 and 1006 are "no code" markers that must not travel in a close frame (RFC 6455 §7.4.1).
            sent = CloseReason.NORMAL_CLOSURE if code in (1005, 1006) else code
            try:
                await self._send(CloseConnection(code=sent, reason=reason[:100]))
            except (ConnectionError, OSError):
                pass

    async def write(self, data: bytes) -> None:
        if self._ended or self._ws.state is not ConnectionState.OPEN:
            raise ConnectionResetError("the WebSocket is closed")
        for start in range(0, len(data), MAX_MESSAGE):
            await self._send(BytesMessage(data=data[start:start + MAX_MESSAGE]))

    async def _send(self, event: Event) -> None:
        async with self._lock:
            await self._inner.write(self._ws.send(event))

    async def aclose(self) -> None:
        if not self._ended and self._ws.state is ConnectionState.OPEN:
            self._ended = True
            try:
                async with asyncio.timeout(CLOSE_FRAME_TIMEOUT):
                    await self._inner.write(self._ws.send(CloseConnection(code=1000)))
            except (TimeoutError, ConnectionError, OSError):
                pass
        self._ended = True
        await self._inner.aclose()
