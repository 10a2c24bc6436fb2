"""The byte stream an uplink's HTTP/2 runs over, whichever side and variant.

After the upgrade an uplink is just an ordered, reliable byte stream: the TLS
socket itself (native ``h2c-reverse``) or binary WebSocket messages over it
(``wss``, :mod:`gateway.uplink.shared.ws`).  Both HTTP/2 roles (the listener's client
in link.py, the connector's server) read and write through
:class:`ByteStream`, so neither knows which variant it runs on.

Rules: ``read()`` returns ``b""`` once, at the end of the stream, and again
after; ``write()`` returns when the bytes are accepted by the layer below
(asyncio's flow control: it waits while the peer does not read); ``aclose()``
is idempotent and never raises.
"""
from __future__ import annotations

import asyncio
from typing import Protocol

#: Bytes asked of the socket per read: one TLS record holds at most 16 KiB, a few fit.
READ_SIZE = 64 * 1024
#: Seconds ``aclose()`` lets buffered bytes (a GOAWAY, a refusal) drain before aborting:
#: a peer that never reads must not keep a closed connection open.
CLOSE_TIMEOUT = 2.0


class ByteStream(Protocol):
    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def aclose(self) -> None: ...


class AsyncioStream:
    """A :class:`ByteStream` over an asyncio reader/writer pair.

    ``pending`` are bytes already read from the socket that belong to this
    stream (the tail of the upgrade exchange); ``read()`` returns them first.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pending: bytes = b"") -> None:
        self._reader, self._writer, self._pending = reader, writer, pending
        self._closed = False

    async def read(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        if self._closed:
            return b""
        try:
            return await self._reader.read(READ_SIZE)
        except (ConnectionError, OSError):  # a reset is an end of stream like any other
            return b""

    async def write(self, data: bytes) -> None:
        if self._closed or self._writer.is_closing():
            raise ConnectionResetError("the uplink stream is closed")
        self._writer.write(data)
        await self._writer.drain()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await close_writer(self._writer)

    def peer(self) -> str:
        """``host:port`` of the other end, for logs."""
        return describe_peer(self._writer)


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close, letting buffered bytes drain for :data:`CLOSE_TIMEOUT`; then abort.  Never raises."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.wait_closed()
    except (TimeoutError, ConnectionError, OSError):
        writer.transport.abort()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise


def describe_peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
        return f"{host}:{peer[1]}"
    return str(peer or "?")
