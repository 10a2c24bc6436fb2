"""The tunnel's client-to-server half: base64 split anywhere, garbage closes, an end releases a waiting POST."""
from __future__ import annotations

import asyncio
import base64

from gateway.relay.tunnel import QUEUE, Tunnel, Tunnels


async def _nothing(data: bytes) -> None:
    pass


def test_base64_split_anywhere_and_across_posts_arrives_whole() -> None:
    async def scenario() -> bytes:
        tunnel = Tunnel(_nothing)
        text = base64.b64encode(b"DESCRIBE rtsp://gw/live/a RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        got = b""
        for piece in (text[:1], b" \r\n" + text[1:7], text[7:30] + b"\n", text[30:]):
            assert await tunnel.feed(piece)
            while not tunnel._incoming.empty():
                got += await tunnel.read()
        return got
    assert asyncio.run(scenario()) == b"DESCRIBE rtsp://gw/live/a RTSP/1.0\r\nCSeq: 1\r\n\r\n"


def test_garbage_closes_the_tunnel() -> None:
    async def scenario() -> None:
        tunnel = Tunnel(_nothing)
        assert not await tunnel.feed(b"!!!!")
        assert await tunnel.read() == b"" and await tunnel.read() == b""
    asyncio.run(scenario())


def test_closing_releases_a_post_that_waits_and_reads_end_for_good() -> None:
    async def scenario() -> None:
        tunnel = Tunnel(_nothing)
        for _ in range(QUEUE):
            assert await tunnel.feed(base64.b64encode(b"x"))
        waiting = asyncio.create_task(tunnel.feed(base64.b64encode(b"y")))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # backpressure: the session has not read
        await tunnel.aclose()
        await asyncio.wait_for(waiting, 1)
        assert await tunnel.read() == b"" and await tunnel.read() == b""
        assert not await tunnel.feed(base64.b64encode(b"z"))
    asyncio.run(scenario())


def test_cookies_are_bounded_and_unique() -> None:
    tunnels = Tunnels(limit=1)
    tunnel = Tunnel(_nothing)
    assert tunnels.refusal("c" * 129) is not None
    with tunnels.opened("a", tunnel):
        assert tunnels.get("a") is tunnel
        assert tunnels.refusal("a") == "this x-sessioncookie is in use"
        assert tunnels.refusal("b") == "too many tunnels"
    assert tunnels.get("a") is None and tunnels.refusal("b") is None
