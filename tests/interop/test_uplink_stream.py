"""A camera's stream through an uplink's tunnel, counted by ffprobe (docs/wire-format.md §13).

The chain, all real parts on real sockets: the fake camera's RTSP source
(GStreamer) → the lower relay's RTSP-over-HTTP tunnel app, served by the
connecting side's HTTP/2 server on a TCP connection → the listening side's
link → the upper relay, whose upstream is an RTSP tunnel opened over that link
→ ffprobe, over RTSP/TCP and over HTTP tunnelling (its own HTTP/1.1 tunnel,
which ends at the upper relay).  Every frame must arrive.  Then the hostile
ends: the camera closing mid-stream and the link dying mid-stream end the
client's session at once, and the link keeps serving while one viewer stalls.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from gateway.relay.asgi import RelayApp
from gateway.relay.listener import RtspListener
from gateway.relay.paths import stream_path
from gateway.relay.session import Relay
from gateway.relay.upstream import Snapshot, UnknownToken, Upstream, UpstreamFailed
from gateway.runtime import tunnelled
from gateway.soap.dispatch import Principal
from gateway.uplink.connecting.h2server import H2Server
from gateway.uplink.listening.errors import LinkError
from gateway.uplink.listening.link import Link
from gateway.uplink.listening.tunnel import open_link_tunnel
from gateway.uplink.shared.stream import AsyncioStream, ByteStream
from tests.fakes.camera.probe import ProbeFailed, count_frames
from tests.fakes.camera.rtsp import RtspSource, require_media_tools

pytestmark = pytest.mark.interop

USER, PASSWORD = "viewer", "viewer-pass"
FPS, SECONDS = 25, 4
EVERY_FRAME = FPS * SECONDS + 1  # ffprobe reads the frames of [0, 4 s], both ends included
# At least every frame: a few more can fall inside the 4 s when ffmpeg re-bases its clock on the first RTCP
# sender report (seen under load: 111), never fewer unless frames are lost.


async def credentials(name: str) -> tuple[str, str] | None:
    return (PASSWORD, "User") if name == USER else None


async def no_snapshot(token: str, principal: Principal) -> Snapshot:
    raise UnknownToken("no snapshots here")


class LowerResolver:
    """The segment behind the firewall: token ``cam`` is the camera's first profile."""

    def __init__(self, camera: str) -> None:
        self.camera = camera

    async def resolve(self, token: str, principal: Principal) -> Upstream:
        if token != "cam":
            raise UnknownToken(f"no stream {token!r}")
        return Upstream(url=self.camera, key="camera")


class UpperResolver:
    """The gateway the segment uplinked to: every token travels through the link, as the media resolver wires it."""

    def __init__(self, login: bool) -> None:
        self.link: Link | None = None
        self.login = login  # whether the segment's login is known here, or only its uplink

    async def resolve(self, token: str, principal: Principal) -> Upstream:
        if self.link is None:
            raise UnknownToken(f"no stream {token!r}")
        return Upstream(url=f"rtsp://leaf{stream_path(token)}", key="leaf", user=USER if self.login else None,
                        password=PASSWORD if self.login else None,
                        open=functools.partial(self._open, self.link, f"http://leaf{stream_path(token)}"))

    @staticmethod
    async def _open(link: Link, url: str) -> ByteStream:
        try:
            return await open_link_tunnel(link, url, timeout=5)
        except LinkError as exc:
            raise UpstreamFailed(str(exc), segment="leaf") from None


@dataclass
class Chain:
    rtsp: str  # the upper relay's RTSP URL of the camera, credentials included
    http: str  # the same on the upper relay's HTTP port, for tunnelling
    link: Link
    lower: H2Server


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspSource]:
    require_media_tools()
    with RtspSource(profiles=1, fps=FPS, log_path=tmp_path_factory.mktemp("camera") / "rtsp.log") as source:
        yield source


@contextlib.asynccontextmanager
async def chain(camera: RtspSource, *, login: bool = True, uplink_level: bool = False) -> AsyncIterator[Chain]:
    """The chain; ``login``: the upper relay logs in at the lower one; ``uplink_level``: the lower one grants
    tunnelled requests the uplink's level, as the runtime does."""
    lower_relay = Relay(LowerResolver(camera.mount(1)), credentials)
    lower_app = RelayApp(lower_relay.resolver, credentials, no_snapshot, relay=lower_relay,
                         pre_authenticated=tunnelled if uplink_level else None)
    servers: list[H2Server] = []
    serving: list[asyncio.Task[None]] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = H2Server(lower_app, AsyncioStream(reader, writer),
                          extensions={"vmsgw.uplink": {"level": "User", "remote": "https://upper/uplink"}})
        servers.append(server)
        serving.append(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            await server.serve()

    uplink = await asyncio.start_server(accept, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", uplink.sockets[0].getsockname()[1])
    link = Link(AsyncioStream(reader, writer), authority="leaf")
    await link.start()

    upper = UpperResolver(login)
    upper.link = link
    upper_relay = Relay(upper, credentials)
    listener = RtspListener(upper_relay)
    await listener.start("127.0.0.1", 0)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    hyper = Config()
    hyper.bind = [f"fd://{sock.fileno()}"]
    hyper.accesslog = None
    stop = asyncio.Event()
    tasks = [asyncio.create_task(listener.serve(stop)),
             asyncio.create_task(hypercorn_serve(RelayApp(upper, credentials, no_snapshot, relay=upper_relay),
                                                 hyper, shutdown_trigger=stop.wait))]  # type: ignore[arg-type]
    path = stream_path("cam")
    try:
        yield Chain(rtsp=f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{listener.port}{path}",
                    http=f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{sock.getsockname()[1]}{path}",
                    link=link, lower=servers[0])
    finally:
        stop.set()
        await link.aclose()
        await asyncio.gather(*tasks, return_exceptions=True)
        uplink.close()
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)  # hypercorn closed the listening socket


def run(coro: object) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro, 120)  # type: ignore[arg-type]
    asyncio.run(bounded())


@pytest.mark.parametrize("transport", ["tcp", "http"])
def test_every_frame_arrives_through_the_uplink(camera: RtspSource, transport: str) -> None:
    async def main() -> None:
        async with chain(camera) as c:
            url = c.rtsp if transport == "tcp" else c.http
            probes = await asyncio.gather(*(asyncio.to_thread(count_frames, url, transport=transport)
                                            for _ in range(3)))  # three sessions, three tunnels on one link
            for probe in probes:
                assert (probe.codec, probe.width, probe.height) == ("h264", 320, 240)
                assert probe.frames >= EVERY_FRAME, probes
            assert c.link.alive and c.lower.active_high_water >= 6  # a GET and a POST per session

    run(main())


def test_a_stalled_viewer_stalls_only_itself(camera: RtspSource) -> None:
    async def main() -> None:
        async with chain(camera) as c:
            stalled = await asyncio.create_subprocess_exec(
                "ffmpeg", "-v", "quiet", "-rtsp_transport", "tcp", "-i", c.rtsp, "-f", "null", "-",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                await asyncio.sleep(2)  # playing
                stalled.send_signal(signal.SIGSTOP)  # alive, its socket open, and it reads nothing any more
                await asyncio.sleep(3)  # its tunnel fills its windows, then holds
                probe = await asyncio.to_thread(count_frames, c.rtsp)
                assert probe.frames >= EVERY_FRAME
                assert c.link.alive
            finally:
                stalled.kill()
                await stalled.wait()

    run(main())


def test_the_camera_or_the_link_ending_mid_stream_ends_the_session_at_once(camera: RtspSource) -> None:
    async def main() -> None:
        async with chain(camera) as c:
            started = time.monotonic()
            probing = asyncio.create_task(asyncio.to_thread(count_frames, c.rtsp, seconds=20, timeout=40))
            await asyncio.sleep(3)
            await c.link.aclose()  # the uplink dies under a running stream
            with contextlib.suppress(ProbeFailed):
                probe = await probing
                assert probe.frames < FPS * 10
            assert time.monotonic() - started < 15  # ended by the link's end, not by a timeout of 20 s
        async with chain(camera) as c:
            probing = asyncio.create_task(asyncio.to_thread(count_frames, c.rtsp, seconds=20, timeout=40))
            await asyncio.sleep(3)
            started = time.monotonic()
            await asyncio.to_thread(camera.close_streams)
            with contextlib.suppress(ProbeFailed):
                await probing
            assert time.monotonic() - started < 10
            assert c.link.alive
            assert (await asyncio.to_thread(count_frames, c.rtsp, seconds=1)).frames >= FPS  # and it serves again

    run(main())


def test_an_unknown_stream_is_refused_through_the_tunnel(camera: RtspSource) -> None:
    async def main() -> None:
        async with chain(camera) as c:
            with pytest.raises(ProbeFailed):
                await asyncio.to_thread(count_frames, c.rtsp.replace(stream_path("cam"), stream_path("other")))
            assert c.link.alive

    run(main())


def test_without_the_segments_login_the_uplinks_level_admits_the_stream(camera: RtspSource) -> None:
    async def main() -> None:
        async with chain(camera, login=False) as c:  # the lower relay asks for a login the upper one lacks
            with pytest.raises(ProbeFailed, match="502"):
                await asyncio.to_thread(count_frames, c.rtsp, timeout=15)
        async with chain(camera, login=False, uplink_level=True) as c:
            assert (await asyncio.to_thread(count_frames, c.rtsp)).frames >= EVERY_FRAME

    run(main())
