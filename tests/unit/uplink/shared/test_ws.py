"""The WebSocket byte-stream adapter, both roles back to back over a real socket pair."""
from __future__ import annotations

import asyncio
import socket

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from gateway.uplink.shared.stream import AsyncioStream
from gateway.uplink.shared.ws import WebSocketStream


async def stream_pair() -> tuple[AsyncioStream, AsyncioStream]:
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    return AsyncioStream(ra, wa), AsyncioStream(rb, wb)


async def read_exactly(stream: WebSocketStream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await asyncio.wait_for(stream.read(), 5)
        assert chunk, f"ended after {len(data)} of {n} bytes"
        data += chunk
    return data


def test_bytes_travel_both_ways_and_large_writes_are_split() -> None:
    async def main() -> None:
        a, b = await stream_pair()
        client, server = WebSocketStream(a, client=True), WebSocketStream(b, client=False)
        await client.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert await read_exactly(server, 24) == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        big = bytes(range(256)) * 4096  # 1 MiB: more than one message
        writing = asyncio.create_task(server.write(big))
        assert await read_exactly(client, len(big)) == big
        await writing
        await client.aclose()
        assert await asyncio.wait_for(server.read(), 5) == b""
        assert server.close_code == 1000
        await server.aclose()

    asyncio.run(main())


def test_trailing_bytes_of_the_upgrade_are_read_first() -> None:
    async def main() -> None:
        a, b = await stream_pair()
        peer = Connection(ConnectionType.CLIENT)
        early = peer.send(BytesMessage(data=b"early"))
        server = WebSocketStream(b, client=False, trailing=early)
        assert await asyncio.wait_for(server.read(), 5) == b"early"
        await a.aclose()
        assert await asyncio.wait_for(server.read(), 5) == b""
        assert server.close_code == 1006
        await server.aclose()

    asyncio.run(main())


def test_pings_are_answered_and_text_ends_the_stream_with_1003() -> None:
    async def main() -> None:
        a, b = await stream_pair()
        peer = Connection(ConnectionType.CLIENT)
        server = WebSocketStream(b, client=False)
        reading = asyncio.create_task(server.read())
        await a.write(peer.send(Ping(payload=b"hi")))
        peer.receive_data(await asyncio.wait_for(a.read(), 5))
        assert [type(e) for e in peer.events()] == [Pong]
        await a.write(peer.send(TextMessage(data="not http/2")))
        assert await asyncio.wait_for(reading, 5) == b""
        assert server.close_code == 1003
        peer.receive_data(await asyncio.wait_for(a.read(), 5))
        (closed,) = list(peer.events())
        assert isinstance(closed, CloseConnection) and closed.code == 1003
        try:
            await server.write(b"x")
        except ConnectionResetError:
            pass
        else:
            raise AssertionError("write after the end must fail")
        await server.aclose()
        await a.aclose()

    asyncio.run(main())


def test_unmasked_client_frames_are_a_protocol_error() -> None:
    async def main() -> None:
        a, b = await stream_pair()
        server = WebSocketStream(b, client=False)
        await a.write(b"\x82\x03abc")  # a binary frame without the mask a client must set
        assert await asyncio.wait_for(server.read(), 5) == b""
        assert server.close_code == 1002
        await server.aclose()
        await a.aclose()

    asyncio.run(main())
