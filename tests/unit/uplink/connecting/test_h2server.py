"""The uplink's HTTP/2 server running a tiny ASGI app, against a raw h2 client over a socket pair."""
from __future__ import annotations

import asyncio
import socket
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import h2.config
import h2.connection
import h2.events
import hpack
import hyperframe.frame
import pytest
from h2.errors import ErrorCodes

from gateway.uplink.connecting.h2server import (
    DEFAULT_LIMITS,
    H2Server,
    LinkBroken,
    LinkSilent,
    ServerLimits,
)
from gateway.uplink.shared.stream import AsyncioStream
from tests.unit.uplink.connecting.h2kit import H2TestClient, Reply

EXTENSIONS = {"vmsgw.uplink": {"level": "Operator", "remote": "https://cloud/uplink"}}
MEGABYTE = b"0123456789abcdef" * 65536


class App:
    """Routes: /hello, /echo (POST), /big (1 MB), /gate (held until ``gate_at`` run at once), /hang, /boom."""

    def __init__(self, gate_at: int = 0) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.active = self.high_water = 0
        self.gate_at, self.gate = gate_at, asyncio.Event()
        self.hanging = asyncio.Event()
        self.cancelled = 0

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.scopes.append(scope)
        self.active += 1
        self.high_water = max(self.high_water, self.active)
        try:
            body = await self._body(scope, receive)
            if scope["path"] == "/boom":
                raise RuntimeError("application bug")
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1

    async def _body(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
        path = scope["path"]
        if path == "/echo":
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    return b"".join(chunks)
        if path == "/big":
            return MEGABYTE
        if path == "/gate":
            if self.active >= self.gate_at:
                self.gate.set()
            await self.gate.wait()
        if path == "/hang":
            self.hanging.set()
            await asyncio.Event().wait()
        return b"hello " + scope["query_string"]


@asynccontextmanager
async def running(app: App, limits: ServerLimits = DEFAULT_LIMITS) -> AsyncIterator[tuple[H2Server, H2TestClient,
                                                                                          asyncio.Task[None]]]:
    server_sock, client_sock = socket.socketpair()
    server_io = AsyncioStream(*await asyncio.open_connection(sock=server_sock))
    client_io = AsyncioStream(*await asyncio.open_connection(sock=client_sock))
    server = H2Server(app, server_io, extensions=EXTENSIONS, server=("10.0.0.2", 50000),
                      client=("192.0.2.1", 443), limits=limits)
    serving = asyncio.create_task(server.serve())
    client = H2TestClient(client_io)
    await client.start()
    try:
        yield server, client, serving
    finally:
        await client.close()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await server_io.aclose()


def frames_in(data: bytes) -> list[hyperframe.frame.Frame]:
    frames, offset = [], 0
    while offset + 9 <= len(data):
        frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(data[offset:offset + 9]))
        frame.parse_body(memoryview(data[offset + 9:offset + 9 + length]))
        frames.append(frame)
        offset += 9 + length
    return frames


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


def test_get_and_post_with_the_uplink_scope() -> None:
    async def go() -> None:
        app = App()
        async with running(app) as (_, client, _serving):
            got = await client.request("GET", "/hello%20there?x=1", authority="device-1:443")
            assert (got.status, bytes(got.body)) == (200, b"hello x=1")
            assert (b"connection", b"close") not in got.headers  # hop-by-hop headers never reach HTTP/2
            posted = await client.request("POST", "/echo", b"payload" * 20000)
            assert (posted.status, bytes(posted.body)) == (200, b"payload" * 20000)
        scope = app.scopes[0]
        assert (scope["method"], scope["path"], scope["raw_path"], scope["query_string"], scope["scheme"],
                scope["http_version"]) == ("GET", "/hello there", b"/hello%20there", b"x=1", "https", "2")
        assert scope["headers"][0] == (b"host", b"device-1:443")
        assert (scope["server"], scope["client"], scope["extensions"]) == (("10.0.0.2", 50000),
                                                                          ("192.0.2.1", 443), EXTENSIONS)
    run(go())


def test_150_concurrent_streams_under_a_cap_of_100() -> None:
    async def go() -> None:
        app = App(gate_at=100)
        async with running(app, ServerLimits(max_streams=100)) as (server, client, _serving):
            assert client.conn.remote_settings.max_concurrent_streams == 100
            replies = await asyncio.gather(*(client.request("GET", f"/gate?n={n}") for n in range(150)))
            assert [r.status for r in replies] == [200] * 150
            assert app.high_water == server.active_high_water == 100
    run(go())


def test_one_megabyte_response_under_flow_control() -> None:
    async def go() -> None:
        async with running(App()) as (_, client, _serving):
            assert client.conn.local_settings.initial_window_size == 65535  # the server must wait for updates
            replies = await asyncio.gather(*(client.request("GET", "/big") for _ in range(3)))
            assert all(bytes(r.body) == MEGABYTE for r in replies)
    run(go())


def test_reset_stream_cancels_its_app_task() -> None:
    async def go() -> None:
        app = App()
        async with running(app) as (_, client, _serving):
            stream_id = await client.open("GET", "/hang")
            await app.hanging.wait()
            client.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
            await client.flush()
            await until(lambda: app.cancelled == 1)
            assert app.active == 0
            assert (await client.request("GET", "/hello")).status == 200  # the connection lives on
    run(go())


def test_app_failure_is_a_500_and_oversized_body_a_413() -> None:
    async def go() -> None:
        async with running(App(), ServerLimits(max_body_bytes=100_000)) as (_, client, _serving):
            assert (await client.request("GET", "/boom")).status == 500
            refused = await client.request("POST", "/echo", b"x" * 300_000)
            assert (refused.status, refused.reset) == (413, ErrorCodes.NO_ERROR)
            assert (await client.request("POST", "/echo", b"y" * 90_000)).body == b"y" * 90_000
    run(go())


def test_drain_refuses_new_streams_and_lets_running_ones_finish() -> None:
    async def go() -> None:
        app = App(gate_at=2)  # /gate waits until released
        async with running(app) as (server, client, serving):
            slow = await client.open("GET", "/gate?n=1")
            await until(lambda: app.active == 1)
            draining = asyncio.create_task(server.drain(5.0))
            await asyncio.sleep(0.05)
            refused = await client.request("GET", "/hello")
            assert refused.reset == ErrorCodes.REFUSED_STREAM
            app.gate.set()
            await client.replies[slow].done.wait()
            assert client.replies[slow].status == 200
            await draining
            await asyncio.wait_for(serving, 2)  # serve() returned: the link ended cleanly
            assert serving.exception() is None
    run(go())


async def until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_connect_is_not_implemented() -> None:
    async def go() -> None:
        app = App()
        async with running(app) as (_, client, _serving):
            stream_id = client.conn.get_next_available_stream_id()
            client.replies[stream_id] = Reply()
            client.conn.send_headers(stream_id, [(b":method", b"CONNECT"), (b":authority", b"elsewhere:443")],
                                     end_stream=True)
            await client.flush()
            await client.replies[stream_id].done.wait()
            assert client.replies[stream_id].status == 501 and app.scopes == []
    run(go())


def test_ping_answered_and_own_pings_sent() -> None:
    async def go() -> None:
        async with running(App(), ServerLimits(ping_interval=0.05)) as (_, client, serving):
            client.conn.ping(b"12345678")
            await client.flush()
            await asyncio.sleep(0.3)
            assert client.ping_acks == 1
            assert client.pings_received >= 3
            assert not serving.done()
    run(go())


def test_silence_ends_the_link_but_ping_acks_keep_it_alive() -> None:
    async def go() -> None:
        limits = ServerLimits(ping_interval=0.05, silence_timeout=0.3)
        async with running(App(), limits) as (_, client, serving):
            await asyncio.sleep(0.8)  # idle, but the client acknowledges the server's pings
            assert not serving.done()
            await client.close()  # a client that stops reading sends nothing, not even ACKs
            client._reader = None
        server_sock, client_sock = socket.socketpair()
        server_io = AsyncioStream(*await asyncio.open_connection(sock=server_sock))
        server = H2Server(App(), server_io, extensions=EXTENSIONS, limits=limits)
        started = asyncio.get_running_loop().time()
        with pytest.raises(LinkSilent):
            await server.serve()
        assert 0.3 <= asyncio.get_running_loop().time() - started < 1.0
        await server_io.aclose()
        client_sock.close()
    run(go())


def test_flood_of_10000_streams_is_cut_without_exhausting_memory() -> None:
    async def go() -> None:
        server_sock, client_sock = socket.socketpair()
        server_io = AsyncioStream(*await asyncio.open_connection(sock=server_sock))
        flood_io = AsyncioStream(*await asyncio.open_connection(sock=client_sock))
        app = App()
        server = H2Server(app, server_io, extensions=EXTENSIONS)
        # A client ignoring SETTINGS_MAX_CONCURRENT_STREAMS: raw frames (h2 itself would refuse to send them).
        flood = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        flood.initiate_connection()
        encoder = hpack.Encoder()
        request = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"d"), (b":path", b"/hang")]
        frames = [flood.data_to_send()]
        for n in range(10_000):
            frame = hyperframe.frame.HeadersFrame(2 * n + 1, encoder.encode(request),
                                                  flags=["END_HEADERS", "END_STREAM"])
            frames.append(frame.serialize())
        tracemalloc.start()
        writing = asyncio.create_task(flood_io.write(b"".join(frames)))
        with pytest.raises(LinkBroken, match="protocol error"):
            await server.serve()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert app.high_water <= DEFAULT_LIMITS.max_streams and server.active_high_water <= DEFAULT_LIMITS.max_streams
        assert peak < 32 << 20
        await asyncio.gather(writing, return_exceptions=True)
        await server_io.aclose()
        received = b""
        while chunk := await flood_io.read():
            received += chunk
        goaways = [f for f in frames_in(received) if isinstance(f, hyperframe.frame.GoAwayFrame)]
        assert [f.error_code for f in goaways] == [ErrorCodes.PROTOCOL_ERROR]
        await flood_io.aclose()
    run(go())
