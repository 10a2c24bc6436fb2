"""The HTTP/2 client of an uplink against an in-process h2 server peer over a real socket pair."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import hpack
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import HeadersFrame, PushPromiseFrame

from gateway.uplink.listening.errors import LinkClosed, LinkTimeout, StreamError
from gateway.uplink.listening.link import Link, LinkLimits
from gateway.uplink.shared.stream import AsyncioStream
from tests.unit.uplink.listening.h2peer import H2Peer, Handler, echo

FAST = LinkLimits(ping_interval=0.1, dead_after=1.0, start_timeout=1.0, write_timeout=0.5, request_timeout=5.0)
REQUEST = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"https"), (b":authority", b"x")]


@asynccontextmanager
async def linked(handler: Handler = echo, *, limits: LinkLimits = FAST, start: bool = True,
                 **peer_options: int) -> AsyncIterator[tuple[Link, H2Peer]]:
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    peer = H2Peer(AsyncioStream(rb, wb), handler=handler, **peer_options)
    running = asyncio.create_task(peer.run())
    link = Link(AsyncioStream(ra, wa), authority="leaf", limits=limits)
    try:
        if start:
            await link.start()
        yield link, peer
    finally:
        await link.aclose()
        for task in (running, *peer.tasks):
            task.cancel()
        await asyncio.gather(running, *peer.tasks, return_exceptions=True)
        wb.close()


def run(coro) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(asyncio.wait_for(coro, 30))


def test_a_request_travels_with_authority_path_and_body() -> None:
    seen: list[tuple[str, str, bytes]] = []

    async def handler(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        seen.append((method, path, body))
        return 201, b"made"

    async def main() -> None:
        async with linked(handler) as (link, peer):
            status, headers, body = await link.request("POST", "/onvif/device_service",
                                                       [(b"Content-Type", b"application/soap+xml"),
                                                        (b"Host", b"ignored"), (b"Connection", b"keep-alive")],
                                                       b"<Envelope/>")
            assert (status, body) == (201, b"made") and (b"content-type", b"text/plain") in headers
            assert seen == [("POST", "/onvif/device_service", b"<Envelope/>")]
            fields = dict(peer.requests[1][0])
            assert fields[b":authority"] == b"leaf" and fields[b"content-type"] == b"application/soap+xml"
            assert b"host" not in fields and b"connection" not in fields
            assert link.alive

    run(main())


def test_headers_h2_refuses_end_the_link_rather_than_leave_it_inconsistent() -> None:
    async def main() -> None:
        async with linked() as (link, _peer):
            with pytest.raises(LinkClosed, match="headers"):
                await link.request("GET", "/", [(b"x-ok", b"1"), (b":path", b"/twice")])
            assert not link.alive

    run(main())


def test_150_concurrent_requests_respect_the_peers_limit_of_100_streams() -> None:
    async def slow(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(0.05)
        return 200, path.encode()

    async def main() -> None:
        async with linked(slow, max_streams=100) as (link, peer):
            replies = await asyncio.gather(*(link.request("GET", f"/r/{i}") for i in range(150)))
            assert [r.body for r in replies] == [f"/r/{i}".encode() for i in range(150)]
            assert peer.open_max == 100

    run(main())


def test_flow_control_carries_a_1_mb_request_and_a_1_mb_response() -> None:
    big = bytes(range(256)) * 4096

    async def main() -> None:
        async with linked() as (link, _peer):  # the peer's windows are the default 64 KiB
            reply = await link.request("POST", "/echo", body=big)
            assert reply.body == b"POST /echo " + big
            replies = await asyncio.gather(*(link.request("POST", f"/{i}", body=big) for i in range(4)))
            assert all(r.body.endswith(big) for r in replies)

    run(main())


def test_an_answer_before_the_body_is_sent_closes_the_stream_and_frees_its_slot() -> None:
    async def main() -> None:
        async with linked(early=True, max_streams=1) as (link, _peer):  # answers at the headers, reads no body
            assert (await link.request("POST", "/", body=b"x" * 1_000_000)).status == 200
            assert (await link.request("GET", "/next", timeout=2)).body == b"GET /next "

    run(main())


def test_pings_flow_both_ways_while_idle() -> None:
    async def main() -> None:
        async with linked() as (link, peer):
            peer.h2.ping(b"12345678")
            await peer.flush()
            await asyncio.sleep(0.6)  # idle: no request in flight, yet our reader answers
            assert peer.pings >= 3  # ours, every 0.1 s
            assert link.alive  # the peer's ACKs keep us alive past dead_after

    run(main())


def test_a_peer_that_stops_reading_times_the_request_out_and_the_link_dies() -> None:
    async def main() -> None:
        async with linked() as (link, peer):
            peer.reading = False  # stops after its next read; never answers or ACKs again
            with pytest.raises(LinkTimeout):
                await link.request("GET", "/", timeout=0.3)
            await asyncio.wait_for(link.wait_closed(), 3)
            assert not link.alive and "nothing received" in (link.reason or "")
            with pytest.raises(LinkClosed):
                await link.request("GET", "/")

    run(main())


def test_a_peer_that_stops_reading_a_large_body_is_cut_by_the_write_timeout() -> None:
    async def main() -> None:
        async with linked(window=2**31 - 1) as (link, peer):
            peer.reading = False
            with pytest.raises(LinkClosed):
                await link.request("POST", "/", body=b"x" * (64 * 1024 * 1024), timeout=5)
            assert "read nothing" in (link.reason or "") or "nothing received" in (link.reason or "")

    run(main())


def _headers_frame(sid: int) -> bytes:
    frame = HeadersFrame(sid)
    frame.data = hpack.Encoder().encode(REQUEST)
    frame.flags.add("END_HEADERS")
    return frame.serialize()


def _push_promise() -> bytes:
    frame = PushPromiseFrame(1)
    frame.promised_stream_id = 2
    frame.data = hpack.Encoder().encode(REQUEST)
    frame.flags.add("END_HEADERS")
    return frame.serialize()


@pytest.mark.parametrize("attack", ["push", "even stream", "odd stream", "10000 streams"])
def test_a_peer_opening_streams_towards_us_gets_goaway_and_nothing_else_breaks(attack: str) -> None:
    async def hang(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(30)
        return 200, b""

    async def main() -> None:
        async with linked(hang) as (link, peer), linked() as (other, _):
            pending = asyncio.create_task(link.request("GET", "/"))
            await asyncio.sleep(0.05)
            frames = {"push": _push_promise(), "even stream": _headers_frame(2), "odd stream": _headers_frame(3),
                      "10000 streams": b"".join(_headers_frame(2 * i + 3) for i in range(10_000))}[attack]
            await peer.send_raw(frames)
            with pytest.raises(LinkClosed, match="protocol error"):
                await pending
            await asyncio.wait_for(link.wait_closed(), 3)
            assert (await other.request("GET", "/fine")).status == 200

    run(main())


def test_garbage_instead_of_settings_fails_the_start() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        ra, wa = await asyncio.open_connection(sock=a)
        rb, wb = await asyncio.open_connection(sock=b)
        wb.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        link = Link(AsyncioStream(ra, wa), authority="leaf", limits=FAST)
        with pytest.raises(LinkClosed, match="protocol error"):
            await link.start()
        silent = Link(AsyncioStream(rb, wb), authority="leaf", limits=FAST)  # the other end never answers
        with pytest.raises(LinkClosed, match="SETTINGS"):
            await silent.start()

    run(main())


def test_an_oversized_response_fails_that_request_only() -> None:
    async def sized(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        return 200, b"x" * int(path[1:])

    async def main() -> None:
        limits = LinkLimits(ping_interval=0.1, dead_after=1.0, max_response=100_000)
        async with linked(sized, limits=limits) as (link, _peer):
            with pytest.raises(StreamError, match="larger than"):
                await link.request("GET", "/500000")
            assert len((await link.request("GET", "/90000")).body) == 90_000

    run(main())


def test_a_timed_out_request_resets_its_stream_and_the_link_goes_on() -> None:
    async def slow(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(1.0 if path == "/slow" else 0)
        return 200, b"ok"

    async def main() -> None:
        async with linked(slow, max_streams=1) as (link, _peer):
            with pytest.raises(LinkTimeout):
                await link.request("GET", "/slow", timeout=0.2)
            assert (await link.request("GET", "/fast")).body == b"ok"  # the only slot was given back
            assert link.alive

    run(main())


def test_goaway_from_the_peer_ends_the_link_and_fails_what_waits() -> None:
    async def slow(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(0.2)
        return 200, b"done"

    async def main() -> None:
        async with linked(slow) as (link, peer):
            pending = asyncio.create_task(link.request("GET", "/"))
            await asyncio.sleep(0.05)
            peer.h2.close_connection(last_stream_id=1)
            await peer.flush()
            with pytest.raises(LinkClosed, match="GOAWAY"):
                await pending
            await asyncio.wait_for(link.wait_closed(), 3)
            with pytest.raises(LinkClosed):
                await link.request("GET", "/again")

    run(main())


def test_closing_sends_goaway_and_fails_what_waits() -> None:
    async def hang(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(30)
        return 200, b""

    async def main() -> None:
        async with linked(hang) as (link, peer):
            pending = asyncio.create_task(link.request("GET", "/"))
            await asyncio.sleep(0.05)
            await link.aclose()
            with pytest.raises(LinkClosed):
                await pending
            await asyncio.sleep(0.05)
            assert peer.terminated is not None and peer.terminated.error_code == ErrorCodes.NO_ERROR

    run(main())


def test_the_peer_closing_the_connection_fails_what_waits() -> None:
    async def hang(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(30)
        return 200, b""

    async def main() -> None:
        async with linked(hang) as (link, peer):
            pending = asyncio.create_task(link.request("GET", "/"))
            await asyncio.sleep(0.05)
            await peer.stream.aclose()
            with pytest.raises(LinkClosed, match="closed the connection"):
                await pending

    run(main())
