"""Long-lived streams through a real link: the listening side's channels and RTSP tunnel against the connecting
side's HTTP/2 server running small ASGI apps, over a socket pair (docs/wire-format.md §13).

The apps: an endless response, a streaming echo, one that never reads its
request body, and a minimal RTSP-over-HTTP tunnel server (GET + POST paired by
``x-sessioncookie``, base64 decoded as it arrives) that answers every decoded
byte back through the GET.  Last, the runtime's opener of uplink tunnels turns each failure into the relay's
error and status.
"""
from __future__ import annotations

import asyncio
import base64
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import h2.config
import h2.connection
import pytest

from gateway.relay.upstream import RelayError, UnknownToken, UpstreamFailed, UpstreamTimeout
from gateway.runtime import uplink_tunnels
from gateway.uplink.connecting.h2server import H2Server, ServerLimits
from gateway.uplink.listening.errors import LinkClosed, LinkTimeout, StreamError
from gateway.uplink.listening.link import STREAM_WINDOW, Link, LinkLimits
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.listening.tunnel import POST_LENGTH, TUNNEL_TYPE, TunnelRefused, open_link_tunnel, open_tunnel
from gateway.uplink.shared.stream import AsyncioStream

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
LIMITS = LinkLimits(ping_interval=0.5, dead_after=5.0, start_timeout=2.0, write_timeout=5.0, request_timeout=5.0)
CHUNK = 16 * 1024
HUGE = [(b"content-length", str(POST_LENGTH).encode())]


def _header(scope: dict[str, Any], name: bytes) -> bytes:
    return dict(scope["headers"]).get(name, b"")


class Apps:
    """Routes: /endless (16 KiB chunks until the client goes), /echo (each body chunk back at once), /sink (never
    reads its body), /broken (fails mid-stream), /refuse (404), /silent (never answers), /tunnel (RTSP over HTTP, uppercasing nothing: an echo)."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}  # bytes each /endless?NAME sent so far
        self.ended: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)  # "METHOD /path?query" returned
        self.tunnels: dict[bytes, asyncio.Queue[bytes | None]] = {}  # cookie -> bytes for the GET to send
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        name = f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}"
        try:
            route = "tunnel" if scope["path"].startswith(("/relay/", "/tunnel")) else scope["path"].strip("/")
            await getattr(self, "_" + route)(scope, receive, send)
        finally:
            self.ended[name].set()

    async def _start(self, send: Send, status: int = 200, content_type: bytes = b"application/octet-stream") -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})

    async def _endless(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        key = scope["query_string"].decode()
        self.sent[key] = 0
        await self._start(send)
        while True:
            await send({"type": "http.response.body", "body": b"e" * CHUNK, "more_body": True})
            self.sent[key] += CHUNK

    async def _echo(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await self._start(send)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            more = message.get("more_body", False)
            await send({"type": "http.response.body", "body": message.get("body", b""), "more_body": more})
            if not more:
                return

    async def _sink(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    async def _broken(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await self._start(send)
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("the app fails mid-stream")

    async def _refuse(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await self._start(send, 404, b"text/plain")
        await send({"type": "http.response.body", "body": b"no such stream"})

    async def _silent(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    async def _tunnel(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        cookie = _header(scope, b"x-sessioncookie")
        if scope["method"] == "GET":
            queue = self.tunnels[cookie] = asyncio.Queue(maxsize=4)
            await self._start(send, content_type=TUNNEL_TYPE)
            while (data := await queue.get()) is not None:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        queue = self.tunnels[cookie]
        pending = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            pending += message.get("body", b"")
            usable = len(pending) - len(pending) % 4  # base64 decodes in whole quanta, padding anywhere between
            decoded = b"".join(base64.b64decode(pending[i:i + 4]) for i in range(0, usable, 4))
            pending = pending[usable:]
            if decoded:
                await queue.put(decoded)
            if not message.get("more_body", False):
                await queue.put(None)
                return


@asynccontextmanager
async def served(apps: Apps, *, limits: ServerLimits | None = None) -> AsyncIterator[tuple[Link, H2Server]]:
    a, b = socket.socketpair()
    for sock in (a, b):  # small kernel buffers, so flow control, not the socket, is what holds bytes back
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    server = H2Server(apps, AsyncioStream(rb, wb), extensions={"vmsgw.uplink": {"level": "Operator", "remote": "x"}},
                      **({"limits": limits} if limits else {}))
    serving = asyncio.create_task(server.serve())
    link = Link(AsyncioStream(ra, wa), authority="leaf", limits=LIMITS)
    try:
        await link.start()
        yield link, server
    finally:
        await link.aclose()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)


def run(coro: Awaitable[None]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro, 60)
    asyncio.run(bounded())


async def read_at_least(channel: Any, size: int) -> int:
    got = 0
    while got < size:
        data = await channel.read()
        assert data, f"the stream ended after {got} bytes"
        got += len(data)
    return got


async def settled(read: Callable[[], int], quiet: float = 0.3) -> int:
    """The value ``read()`` stops changing at (nothing moved for ``quiet`` seconds)."""
    last = -1
    while (now := read()) != last:
        last = now
        await asyncio.sleep(quiet)
    return last


def test_an_endless_response_flows_under_flow_control_and_a_reset_ends_the_app() -> None:
    apps = Apps()

    async def main() -> None:
        async with served(apps) as (link, _server):
            channel = await link.open_channel("GET", "/endless?a", end_request=True)
            status, headers = await channel.response()
            assert status == 200 and not any(name == b"content-length" for name, _ in headers)
            assert await read_at_least(channel, 8 * STREAM_WINDOW) >= 8 * STREAM_WINDOW  # many windows' worth
            channel.close()
            await asyncio.wait_for(apps.ended["GET /endless?a"].wait(), 3)
            with pytest.raises(StreamError):
                await channel.read()
            assert (await link.request("POST", "/echo", body=b"still fine")).body == b"still fine"
            assert link.alive

    run(main())


def test_a_reader_that_stalls_stalls_only_its_own_stream() -> None:
    apps = Apps()

    async def main() -> None:
        async with served(apps) as (link, _server):
            stalled = await link.open_channel("GET", "/endless?stalled", end_request=True)
            await stalled.response()
            held = await settled(lambda: apps.sent.get("stalled", 0))
            assert held <= STREAM_WINDOW + CHUNK  # what the app could send is one stream window, nothing buffered
            others = [await link.open_channel("GET", f"/endless?{i}", end_request=True) for i in range(3)]
            await asyncio.gather(*(read_at_least(c, 4 * STREAM_WINDOW) for c in others))
            assert (await link.request("POST", "/echo", body=b"x" * 100_000)).body == b"x" * 100_000
            assert apps.sent["stalled"] == held  # it moved nothing while the others flowed
            assert await read_at_least(stalled, 2 * STREAM_WINDOW)  # and it resumes when read
            for channel in (stalled, *others):
                channel.close()

    run(main())


def test_apps_that_stop_reading_their_bodies_stall_only_their_own_streams() -> None:
    """Twenty stalled uploads hold twenty stream windows: more than the server's connection window, yet the
    next exchanges flow, because the connection's window is credited on arrival."""
    apps = Apps()

    async def main() -> None:
        async with served(apps) as (link, _server):
            sinks = [await link.open_channel("POST", f"/sink?{i}", [(b"content-type", TUNNEL_TYPE), *HUGE])
                     for i in range(20)]
            writes = [asyncio.create_task(sink.write(b"s" * 200_000)) for sink in sinks]
            done, _ = await asyncio.wait(writes, timeout=1.0)
            assert not done  # each is held by its stream's window of 65,535 bytes
            echo = await link.open_channel("POST", "/echo", [(b"content-type", TUNNEL_TYPE), *HUGE])
            payload = bytes(range(256)) * 8192  # 2 MiB: past the 1 MiB connection window many times
            sender = asyncio.create_task(echo.write(payload))
            got = bytearray()
            while len(got) < len(payload):
                got += await echo.read()
            await sender
            assert bytes(got) == payload
            for task in writes:
                task.cancel()
            for channel in (*sinks, echo):
                channel.close()
            await asyncio.gather(*writes, return_exceptions=True)

    run(main())


def test_a_tunnel_post_may_outgrow_the_body_cap_while_other_bodies_may_not() -> None:
    apps = Apps()
    limits = ServerLimits(max_body_bytes=100_000)

    async def main() -> None:
        async with served(apps, limits=limits) as (link, _server):
            tunnel_post = await link.open_channel("POST", "/echo", [(b"content-type", TUNNEL_TYPE), *HUGE])
            sender = asyncio.create_task(tunnel_post.write(b"t" * 500_000))
            assert await read_at_least(tunnel_post, 500_000) == 500_000
            await sender
            tunnel_post.close()
            other = await link.open_channel("POST", "/echo", [(b"content-type", b"application/soap+xml"), *HUGE])
            with pytest.raises(StreamError):
                await other.write(b"s" * 500_000)
                await read_at_least(other, 500_000)
            other.close()

    run(main())


def test_the_peer_ending_or_resetting_a_channel_ends_it_here() -> None:
    apps = Apps()

    async def main() -> None:
        async with served(apps) as (link, _server):
            echo = await link.open_channel("POST", "/echo", [(b"content-type", TUNNEL_TYPE)])  # no length: it may end
            await echo.write(b"once")
            assert await echo.read() == b"once"
            await echo.end()  # the app's last http.request: it ends its response
            assert await echo.read() == b""
            with pytest.raises(StreamError):
                await echo.write(b"more")
            echo.close()
            refused = await link.open_channel("GET", "/refuse", end_request=True)
            assert (await refused.response())[0] == 404
            broken = await link.open_channel("GET", "/broken", end_request=True)
            assert await broken.read() == b"partial"
            with pytest.raises(StreamError, match="reset"):  # the app failed mid-stream: the server reset it
                await broken.read()
            broken.close()
            assert link.alive

    run(main())


def test_a_tunnel_carries_rtsp_both_ways_and_closing_it_ends_both_app_calls() -> None:
    apps = Apps()

    async def main() -> None:
        async with served(apps) as (link, _server):
            tunnel = await open_link_tunnel(link, "http://leaf.example:8080/relay/stream/tok%3A1?x=1", timeout=5)
            request = b"OPTIONS rtsp://leaf.example/relay/stream/tok%3A1 RTSP/1.0\r\nCSeq: 1\r\n\r\n"
            await tunnel.write(request)
            assert await tunnel.read() == request
            [get, post] = [s for s in apps.scopes if s["path"] == "/relay/stream/tok:1"]
            assert (get["method"], post["method"]) == ("GET", "POST")
            assert get["query_string"] == b"x=1" and _header(get, b"host") == b"leaf.example:8080"
            assert _header(get, b"accept") == TUNNEL_TYPE and _header(post, b"content-type") == TUNNEL_TYPE
            assert int(_header(post, b"content-length")) > 2**62
            assert _header(get, b"x-sessioncookie") == _header(post, b"x-sessioncookie") != b""
            sizes = [1, 2, 3, 4, 5, 1000, 65_537]  # every padding, one at a time
            for size in sizes:
                await tunnel.write(bytes([size % 251]) * size)
            expected = b"".join(bytes([size % 251]) * size for size in sizes)
            got = bytearray()
            while len(got) < len(expected):
                got += await tunnel.read()
            assert bytes(got) == expected
            await tunnel.aclose()
            await asyncio.wait_for(apps.ended["GET /relay/stream/tok:1?x=1"].wait(), 3)
            await asyncio.wait_for(apps.ended["POST /relay/stream/tok:1?x=1"].wait(), 3)
            assert await tunnel.read() == b""
            with pytest.raises(ConnectionResetError):
                await tunnel.write(b"late")
            await tunnel.aclose()  # idempotent

    run(main())


def test_a_tunnel_ends_when_the_server_ends_it_or_the_link_dies() -> None:
    apps = Apps()

    async def main() -> None:
        async with served(apps) as (link, _server):
            tunnel = await open_link_tunnel(link, "/tunnel", timeout=5)
            await tunnel.write(b"bye")
            assert await tunnel.read() == b"bye"
            [queue] = apps.tunnels.values()
            await queue.put(None)  # the server ends the GET's response
            assert await tunnel.read() == b""
            await tunnel.aclose()

            second = await open_link_tunnel(link, "/tunnel", timeout=5)
            reading = asyncio.create_task(second.read())
            await asyncio.sleep(0.05)
            await link.aclose()
            assert await asyncio.wait_for(reading, 3) == b""
            with pytest.raises(ConnectionResetError):
                await second.write(b"gone")
            with pytest.raises(LinkClosed):
                await open_link_tunnel(link, "/tunnel", timeout=5)

    run(main())


@pytest.mark.parametrize("path", ["/refuse", "/silent"])
def test_a_tunnel_refused_or_unanswered_fails_at_once_and_frees_its_stream(path: str) -> None:
    apps = Apps()

    async def main() -> None:
        async with served(apps) as (link, _server):
            if path == "/refuse":
                with pytest.raises(TunnelRefused) as refused:
                    await open_link_tunnel(link, path, timeout=5)
                assert refused.value.status == 404
            else:
                with pytest.raises(LinkTimeout):
                    await open_link_tunnel(link, path, timeout=0.3)
                await asyncio.wait_for(apps.ended[f"GET {path}?"].wait(), 3)  # its GET was reset
            assert not any(s["method"] == "POST" for s in apps.scopes)
            assert link._h2.open_outbound_streams == 0

    run(main())


def test_a_segment_without_a_link_is_refused_as_closed() -> None:
    async def main() -> None:
        with pytest.raises(LinkClosed, match="no uplink"):
            await open_tunnel(UplinkRegistry(), "nowhere", "/x", timeout=0.2)

    run(main())


def test_tunnels_opening_at_once_under_the_peers_stream_limit_never_deadlock() -> None:
    """Each tunnel needs two streams; with four allowed, six tunnels opening at once get through two by two
    (a GET waits until its POST's slot is free too), instead of four GETs holding every slot."""
    apps = Apps()

    async def one(link: Link, n: int) -> bytes:
        tunnel = await open_link_tunnel(link, f"/tunnel?{n}", timeout=10)
        try:
            await tunnel.write(f"hello {n}".encode())
            await asyncio.sleep(0.1)
            return await tunnel.read()
        finally:
            await tunnel.aclose()

    async def main() -> None:
        async with served(apps, limits=ServerLimits(max_streams=4)) as (link, _server):
            replies = await asyncio.gather(*(one(link, n) for n in range(6)))
            assert replies == [f"hello {n}".encode() for n in range(6)]
            held = [await open_link_tunnel(link, "/tunnel", timeout=5) for _ in range(2)]
            with pytest.raises(LinkTimeout):
                await open_link_tunnel(link, "/tunnel", timeout=0.3)
            waiting = asyncio.create_task(open_link_tunnel(link, "/tunnel", timeout=5))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await held[0].aclose()
            third = await asyncio.wait_for(waiting, 3)
            for tunnel in (held[1], third):
                await tunnel.aclose()

    run(main())


@pytest.mark.parametrize(("segment", "path", "timeout", "error", "status"), [
    ("leaf", "/refuse", 5.0, UnknownToken, 404),
    ("leaf", "/silent", 0.3, UpstreamTimeout, 504),
    ("gone", "/tunnel", 0.2, UpstreamFailed, 502),
])
def test_the_runtimes_tunnel_opener_turns_every_failure_into_the_relays_status(
        segment: str, path: str, timeout: float, error: type[RelayError], status: int) -> None:
    async def main() -> None:
        async with served(Apps()) as (link, _server):
            registry = UplinkRegistry()
            registry.attach("leaf", link)
            with pytest.raises(error) as raised:
                await uplink_tunnels(registry)(segment, f"https://leaf{path}", timeout)
            assert raised.value.rtsp_status == status and raised.value.segment == segment
            opened = await uplink_tunnels(registry)("leaf", "https://leaf/tunnel", 5)
            await opened.write(b"fine")
            assert await opened.read() == b"fine"
            await opened.aclose()

    run(main())


def test_data_and_a_goaway_in_one_read_end_either_side_cleanly() -> None:
    """A peer's last DATA and its GOAWAY arrive together: the window credit for that DATA must not be sent on
    the closed connection, which h2 refuses (an internal error instead of the peer's goodbye)."""
    async def server_side() -> None:
        a, b = socket.socketpair()
        server = H2Server(Apps(), AsyncioStream(*await asyncio.open_connection(sock=a)), extensions={})
        serving = asyncio.create_task(server.serve())
        peer = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        peer.initiate_connection()
        peer.send_headers(1, [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"leaf"),
                              (b":path", b"/sink"), (b"content-type", TUNNEL_TYPE), *HUGE])
        peer.send_data(1, b"last words")
        peer.close_connection()
        _reader, writer = await asyncio.open_connection(sock=b)
        writer.write(peer.data_to_send())
        await asyncio.wait_for(serving, 5)  # returns: the peer went away, nothing broke
        writer.close()

    async def link_side() -> None:
        a, b = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=b)
        link = Link(AsyncioStream(*await asyncio.open_connection(sock=a)), authority="leaf", limits=LIMITS)
        peer = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        peer.initiate_connection()
        writer.write(peer.data_to_send())
        starting = asyncio.create_task(link.start())
        while not starting.done():
            peer.receive_data(await reader.read(65536))
            writer.write(peer.data_to_send())
            await asyncio.sleep(0.01)
        channel = await link.open_channel("GET", "/endless", end_request=True)
        while 1 not in peer.streams:
            peer.receive_data(await reader.read(65536))
        peer.send_headers(1, [(b":status", b"200")])
        peer.send_data(1, b"last words")
        peer.close_connection()
        writer.write(peer.data_to_send())
        assert await channel.read() == b"last words"
        with pytest.raises(LinkClosed):
            await channel.read()
        await asyncio.wait_for(link.wait_closed(), 3)
        assert "GOAWAY" in (link.reason or "")
        writer.close()

    run(server_side())
    run(link_side())
