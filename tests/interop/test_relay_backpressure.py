"""Backpressure with real sockets: an upstream that sends as fast as it can, a client that stops reading.

The relay runs in this process (its listener on a real port); the upstream is a small asyncio RTSP server that
answers DESCRIBE/SETUP/PLAY and then writes interleaved frames for as long as its socket takes them. A relay that
buffered would let the upstream write without bound; one that drains per message stops the upstream within the
sockets' buffers, and drops the client after its stall timeout.
"""
from __future__ import annotations

import asyncio
import base64
import socket
import time

from gateway.relay.listener import RtspListener
from gateway.relay.rtsp import NEED_DATA, Frame, Parser, Request, Response, frame, response
from gateway.relay.session import Relay, RelayLimits
from gateway.relay.upstream import Upstream
from gateway.soap.dispatch import Principal

USER, PASSWORD = "alice", "pw"
SDP = b"v=0\r\ns=flood\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\n"
PACKET = frame(0, b"\x80\x60" + bytes(1398))
#: More than the kernel's socket buffers on both hops can hold (a few MiB each on loopback), far less than a
#: user-space buffer would take in the stall time.
BOUND = 48 * 1024 * 1024


class Flood:
    """The upstream: per connection, the octets written and whether the connection has ended."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.ended: list[asyncio.Event] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.written)
        self.written.append(0)
        self.ended.append(asyncio.Event())
        parser = Parser()
        try:
            while True:
                parser.receive_data(await reader.read(65536))
                while (event := parser.next_event()) is not NEED_DATA:
                    if not isinstance(event, Request):
                        return
                    headers: list[tuple[str, str]] = []
                    body = b""
                    if event.method == "DESCRIBE":
                        headers, body = [("Content-Type", "application/sdp"),
                                         ("Content-Base", event.target + "/")], SDP
                    elif event.method == "SETUP":
                        headers = [("Transport", event.headers.get("Transport") or ""), ("Session", "f1")]
                    writer.write(response(200, event.cseq, *headers, body=body).encode())
                    await writer.drain()
                    if event.method == "PLAY":
                        chunk = PACKET.raw * 40
                        while True:
                            writer.write(chunk)
                            await writer.drain()
                            self.written[index] += len(chunk)
        except (ConnectionError, OSError):
            pass
        finally:
            self.ended[index].set()
            writer.close()


class Resolver:
    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(self, token: str, principal: Principal) -> Upstream:
        return Upstream(url=f"rtsp://127.0.0.1:{self.port}/flood", key="flood")


async def credentials(name: str) -> tuple[str, str] | None:
    return (PASSWORD, "User") if name == USER else None


async def play(port: int, *, rcvbuf: int | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Parser]:
    """DESCRIBE, SETUP, PLAY; the parser holds whatever arrived after the PLAY's answer."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    base = f"rtsp://127.0.0.1:{port}/live/a:b"
    parser = Parser()
    for cseq, (method, url, extra) in enumerate([("DESCRIBE", base, ""),
                                                 ("SETUP", base + "/stream=0", "Transport: RTP/AVP/TCP;interleaved=0-1\r\n"),
                                                 ("PLAY", base + "/", "Session: f1\r\n")], 1):
        writer.write(f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nAuthorization: {auth}\r\n{extra}\r\n".encode())
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                parser.receive_data(await reader.read(65536))
                continue
            assert isinstance(event, Response) and event.status == 200, event
            break
    return reader, writer, parser


def test_a_client_that_stops_reading_stops_its_upstream_and_is_dropped() -> None:
    async def scenario() -> None:
        flood = Flood()
        upstream = await asyncio.start_server(flood.serve, "127.0.0.1", 0)
        relay = Relay(Resolver(upstream.sockets[0].getsockname()[1]), credentials,
                      RelayLimits(stall_timeout=1.5))
        listener = RtspListener(relay)
        await listener.start("127.0.0.1", 0)
        stop = asyncio.Event()
        serving = asyncio.create_task(listener.serve(stop))
        try:
            _, stalled, _ = await play(listener.port, rcvbuf=4096)  # and never read again
            reader, reading, _ = await play(listener.port)
            started = time.monotonic()
            received = 0
            while not flood.ended[0].is_set():  # meanwhile the other client's stream flows
                received += len(await asyncio.wait_for(reader.read(1 << 20), 5))
                assert time.monotonic() - started < 20, "the stalled client was never dropped"
            assert flood.written[0] < BOUND, flood.written[0]
            assert received > flood.written[0], (received, flood.written)
            before = received
            async with asyncio.timeout(5):
                while received < before + 10 * 1024 * 1024:  # and still flows after the drop
                    received += len(await reader.read(1 << 20))
            assert relay.caps.count("flood") == 1
            stalled.close()
            reading.close()
        finally:
            stop.set()
            await serving
            upstream.close()
        assert flood.ended[1].is_set() or await asyncio.wait_for(flood.ended[1].wait(), 5)
        assert relay.caps.count("flood") == 0

    asyncio.run(scenario())


def test_frames_pass_unchanged_in_both_directions() -> None:
    """What the upstream sends arrives byte for byte; a client's RTCP reaches the upstream."""
    async def scenario() -> None:
        got_rtcp = asyncio.Event()
        rtcp = frame(1, b"\x81\xc9\x00\x07" + bytes(28))

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            parser = Parser()
            while data := await reader.read(65536):
                parser.receive_data(data)
                while (event := parser.next_event()) is not NEED_DATA:
                    if isinstance(event, Frame):
                        assert event == rtcp
                        got_rtcp.set()
                    elif isinstance(event, Request):
                        headers = [("Transport", event.headers.get("Transport") or "")]
                        writer.write(response(200, event.cseq, *headers).encode())
                        if event.method == "PLAY":
                            writer.write(b"".join(frame(0, bytes([n]) * n).raw for n in range(256)))
                        await writer.drain()
            writer.close()

        upstream = await asyncio.start_server(serve, "127.0.0.1", 0)
        relay = Relay(Resolver(upstream.sockets[0].getsockname()[1]), credentials)
        listener = RtspListener(relay)
        await listener.start("127.0.0.1", 0)
        stop = asyncio.Event()
        serving = asyncio.create_task(listener.serve(stop))
        try:
            reader, writer, parser = await play(listener.port)
            got: list[Frame] = []
            async with asyncio.timeout(5):
                while len(got) < 256:
                    event = parser.next_event()
                    if event is NEED_DATA:
                        parser.receive_data(await reader.read(65536))
                    else:
                        assert isinstance(event, Frame)
                        got.append(event)
            assert got == [frame(0, bytes([n]) * n) for n in range(256)]
            writer.write(rtcp.raw)
            await asyncio.wait_for(got_rtcp.wait(), 5)
            writer.close()
        finally:
            stop.set()
            await serving
            upstream.close()

    asyncio.run(scenario())
