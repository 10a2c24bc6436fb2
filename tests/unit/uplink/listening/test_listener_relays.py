"""The Uplink listener against relays as deployed, over real TLS sockets: raw bytes written the way they write them.

A widely copied relay writes its upgrade request line as ``GET /uplink
http/1.1``: it is accepted, its link serves requests, and the deviation is
logged once per segment however often it reconnects.  Garbage in the request
line is refused with a 400 that the peer reads, and costs no other uplink.
A relay that holds its link idle is kept as long as it answers PINGs, however
short the idle timeout; one that goes silent is cut at it.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from gateway.uplink.listening.link import LinkLimits
from gateway.uplink.shared.stream import AsyncioStream
from tests.unit.uplink.listening.h2peer import H2Peer
from tests.unit.uplink.listening.test_listener import (  # noqa: F401 - pki is a fixture
    Listening,
    Pki,
    client_context,
    listening,
    pki,
    request_through,
    run,
    serving,
    uplink,
)


def relay_head(line: bytes, token: str = "tok-3.x") -> bytes:
    return (line + b"\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: h2c-reverse\r\n"
            + f"Authorization: Bearer {token}\r\n\r\n".encode())


async def send_head(port: int, ctx: ssl.SSLContext, head: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter,
                                                                           bytes, bytes]:
    """Write ``head`` on a new TLS connection; the reader, writer, response head and bytes after it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    writer.write(head)
    await writer.drain()
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        received += chunk
    response, _, rest = received.partition(b"\r\n\r\n")
    return reader, writer, response, rest


@asynccontextmanager
async def raw_relay(on: Listening, ctx: ssl.SSLContext, line: bytes) -> AsyncIterator[H2Peer]:
    """A relay that upgrades with ``line`` and then serves HTTP/2 over the tunnel."""
    reader, writer, response, rest = await send_head(on.port, ctx, relay_head(line))
    assert response.startswith(b"HTTP/1.1 101 "), response
    async with serving(AsyncioStream(reader, writer, pending=rest)) as peer:
        yield peer


def test_a_relay_writing_a_lower_case_version_is_served_and_logged_once_for_its_segment(
        pki: Pki, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    async def main() -> None:
        async with listening(pki) as on:
            ctx = client_context(pki, None)
            for _ in range(3):  # it reconnects, from a new port each time
                async with raw_relay(on, ctx, b"GET /uplink http/1.1"):
                    assert await request_through(on, "leaf3") == b"GET /onvif/device_service "
                deadline = asyncio.get_running_loop().time() + 5
                while on.registry.get("leaf3") is not None:
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.05)
            async with uplink(on.port, client_context(pki, pki.leaf1)):  # a strict peer: nothing to log
                assert await request_through(on, "leaf1")

    with caplog.at_level(logging.INFO, logger="gateway.uplink"):
        run(main())
    logged = [r.getMessage() for r in caplog.records if "deviates from HTTP/1.1" in r.getMessage()]
    assert len(logged) == 1, logged
    assert "segment leaf3" in logged[0] and "'http/1.1'" in logged[0]
    assert sum("uplink of segment leaf3 connected" in r.getMessage() for r in caplog.records) == 3


@pytest.mark.parametrize(("line", "status"), [
    (b"GET /uplink http/1.0", b"400"), (b"GET /uplink Http/1.1", b"400"), (b"GET /uplink http/1.1 ", b"400"),
    (b"GET  /uplink http/1.1", b"400"), (b"GET /uplink HTTP/1.1 http/1.1", b"400"),
    (b"\x00\x01\x02 garbage \xff", b"400"), (b"GET /" + b"h" * 20_000 + b" http/1.1", b"431"),
    (b"get /uplink http/1.1", b"405"),  # the method stays case-sensitive
], ids=lambda v: v[:40].decode("latin-1") if isinstance(v, bytes) else str(v))
def test_a_relay_sending_garbage_in_the_request_line_reads_a_refusal_and_others_stay_served(
        pki: Pki, caplog: pytest.LogCaptureFixture, line: bytes, status: bytes) -> None:  # noqa: F811
    async def main() -> None:
        async with listening(pki) as on:
            ctx = client_context(pki, None)
            reader, writer, response, _ = await send_head(on.port, ctx, relay_head(line))
            assert response.startswith(b"HTTP/1.1 " + status + b" "), response
            assert b"Connection: close" in response
            await asyncio.wait_for(reader.read(), 5)  # the body, then the listener closes
            writer.close()
            assert len(on.registry) == 0
            async with raw_relay(on, ctx, b"GET /uplink http/1.1"):
                assert await request_through(on, "leaf3")

    with caplog.at_level(logging.WARNING, logger="gateway.uplink"):
        run(main())
    assert "refused: 4" in caplog.text


def test_the_idle_timeout_cuts_a_silent_link_and_never_one_that_answers_pings(pki: Pki) -> None:  # noqa: F811
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with listening(pki, limits=LinkLimits.idle_timeout(1.0)) as on, \
                raw_relay(on, client_context(pki, None), b"GET /uplink HTTP/1.1") as idle:
            kept = await on.registry.wait("leaf3", 5)
            started = loop.time()
            async with uplink(on.port, client_context(pki, pki.leaf1)) as silent:
                cut = await on.registry.wait("leaf1", 5)
                assert cut is not None
                silent.reading = False  # alive, its socket open, but it answers nothing from now on
                went_silent = loop.time()
                await asyncio.wait_for(cut.wait_closed(), 5)
                assert 0.9 < loop.time() - went_silent < 3, loop.time() - went_silent
                assert "nothing received for 1 s" in str(cut.reason)
            await asyncio.sleep(max(0.0, started + 2.5 - loop.time()))  # idle for 2.5 idle timeouts
            assert on.registry.get("leaf3") is kept and idle.pings >= 3
            assert await request_through(on, "leaf3") == b"GET /onvif/device_service "

    run(main())
