"""A camera's stream through two real gateways joined by an uplink, played by ffprobe at the upper one.

The fake camera (tests/fakes/camera) is a device segment of the leaf; the
leaf, which the city cannot reach, dials an mTLS uplink to the city (as in
tests/interop/test_uplink.py).  At the city, GetStreamUri with the remote
token gives a URI on the city's relay; ffprobe plays it over RTSP/TCP and
over HTTP tunnelling, and the city's relay reaches the leaf's relay only
through the link (docs/wire-format.md §13), with no login of the leaf's: tunnelled requests get the
uplink's level, streams as well as SOAP.  Every frame must arrive.  The
leaf's uplink capabilities say StreamingOverUplink, and a stream of a segment
whose uplink is gone fails at once with an RTSP status, never hangs.
"""
from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from bench.kit.process import vmsgw
from tests.fakes.camera.fixture import Camera, start_camera
from tests.fakes.camera.probe import ProbeFailed, count_frames
from tests.fakes.camera.rtsp import require_media_tools
from tests.interop.conftest import Gateway, new_db_url, run_cli
from tests.interop.media_kit import TR2, call
from tests.interop.test_uplink import _pki
from tests.interop.test_uplink_service import uplink_service

pytestmark = pytest.mark.interop

CAM_USER, CAM_PASSWORD = "admin", "camera secret"
OPERATOR, OPERATOR_PASSWORD = "olga", "operator-password"
EVERY_FRAME = 25 * 4 + 1  # ffprobe reads [0, 4 s] of a 25 fps source
# At least every frame: a few more can fall inside the 4 s when ffmpeg re-bases its clock on the first RTCP
# sender report (seen under load: 111), never fewer unless frames are lost.
DEADLINE = 90.0  # the connector's first backoff, the uplink, two syncs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Uplinked:
    camera: Camera
    leaf: Gateway
    city: Gateway
    rtsp_port: int  # the city's relay


def profiles(gw: Gateway) -> list[str]:
    done = vmsgw(["query", "--url", gw.url, "--user", OPERATOR, "--password-stdin", "--topic", "MediaProfile",
                  "--json"], stdin=OPERATOR_PASSWORD + "\n", check=False)
    if done.returncode != 0 or not done.stdout.strip().startswith("["):
        return []
    return sorted(r["token"] for r in json.loads(done.stdout) if not r.get("offline"))


@pytest.fixture(scope="module")
def uplinked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uplinked]:
    require_media_tools()
    tmp = tmp_path_factory.mktemp("uplink-stream")
    pem = _pki(tmp)
    camera = start_camera(tmp, user=CAM_USER, password=CAM_PASSWORD, rtsp="gst")
    started: list[Gateway] = []
    try:
        uplink_port, rtsp_port = free_port(), free_port()
        (tmp / "city").mkdir()
        city_db = new_db_url("sqlite", tmp / "city")
        run_cli("user", "add", OPERATOR, "--level", "operator", db=city_db, input=OPERATOR_PASSWORD + "\n")
        # The leaf is reached only through its uplink, and knows the city by its certificate alone: no login.
        run_cli("segment", "add", "leaf", "--uplink-identity", "leaf-cn", "--heartbeat", "2", db=city_db)
        city = Gateway(db=city_db, log=tmp / "city" / "server.log")
        started.append(city.start("--uplink-listen", f"127.0.0.1:{uplink_port}", "--uplink-cert", str(pem["server"]),
                                  "--uplink-key", str(pem["server"]), "--uplink-ca", str(pem["ca"]),
                                  "--rtsp-listen", f"127.0.0.1:{rtsp_port}"))

        (tmp / "leaf").mkdir()
        leaf_db = new_db_url("sqlite", tmp / "leaf")
        run_cli("user", "add", OPERATOR, "--level", "operator", db=leaf_db, input=OPERATOR_PASSWORD + "\n")
        run_cli("segment", "add", "cam", "--device", "--url", camera.url, "--user", CAM_USER, db=leaf_db,
                input=CAM_PASSWORD + "\n")
        run_cli("uplink", "key", "add", "city-ca", "--ca", str(pem["ca"]), db=leaf_db)
        run_cli("uplink", "key", "add", "leaf-cert", "--cert", str(pem["leaf-cert"]), "--key", str(pem["leaf-key"]),
                db=leaf_db)
        run_cli("uplink", "set", f"https://localhost:{uplink_port}/uplink", "--level", "operator", "--cert-id",
                "leaf-cert", "--ca-id", "city-ca", db=leaf_db)
        leaf = Gateway(db=leaf_db, log=tmp / "leaf" / "server.log")
        # Its RTSP listener is out of the city's reach: the city's relay takes the uplink's tunnel instead.
        started.append(leaf.start("--rtsp-listen", f"127.0.0.1:{free_port()}"))

        deadline = time.monotonic() + DEADLINE
        while len(profiles(city)) < 2:
            assert time.monotonic() < deadline, "the city never saw the camera's profiles through the uplink"
            time.sleep(0.5)
        yield Uplinked(camera, leaf, city, rtsp_port)
    finally:
        for gw in reversed(started):
            if gw.proc is not None and gw.proc.poll() is None:
                gw.proc.send_signal(signal.SIGCONT)
            gw.stop()
        camera.stop()


def stream_uri(u: Uplinked, protocol: str) -> str:
    token = next(t for t in profiles(u.city) if t.endswith(":Profile_1"))
    answer = call(u.city.base, f"<tr2:GetStreamUri><tr2:Protocol>{protocol}</tr2:Protocol><tr2:ProfileToken>"
                               f"{token}</tr2:ProfileToken></tr2:GetStreamUri>", user=OPERATOR,
                  password=OPERATOR_PASSWORD)
    assert (answer.status, answer.fault) == (200, False), (answer.subcodes, answer.reason)
    uri = answer.body.findtext(f"{{{TR2}}}Uri") or ""
    assert uri and "@" not in uri
    return "rtsp://" + f"{OPERATOR}:{OPERATOR_PASSWORD}@" + uri.split("://", 1)[1]


@pytest.mark.parametrize("transport", ["tcp", "http"])
def test_the_city_plays_every_frame_of_the_uplinked_camera(uplinked: Uplinked, transport: str) -> None:
    url = stream_uri(uplinked, "RtspUnicast" if transport == "tcp" else "RtspOverHttp")
    probe = count_frames(url, transport=transport)
    assert (probe.codec, probe.width, probe.height) == ("h264", 320, 240)
    assert probe.frames >= EVERY_FRAME, probe


def test_the_leaf_says_it_streams_over_its_uplink(uplinked: Uplinked) -> None:
    assert uplink_service(uplinked.leaf, user=None).GetServiceCapabilities().StreamingOverUplink is True


def test_a_stream_of_a_segment_whose_uplink_is_gone_fails_at_once(uplinked: Uplinked) -> None:
    url = stream_uri(uplinked, "RtspUnicast")
    assert uplinked.leaf.proc is not None
    uplinked.leaf.stop()
    try:
        started = time.monotonic()
        with pytest.raises(ProbeFailed):
            count_frames(url, timeout=30)
        assert time.monotonic() - started < 15
    finally:
        uplinked.leaf.start("--rtsp-listen", f"127.0.0.1:{free_port()}")
        deadline = time.monotonic() + DEADLINE
        while len(profiles(uplinked.city)) < 2:
            assert time.monotonic() < deadline, "the leaf never came back"
            time.sleep(0.5)


def test_six_viewers_at_once_share_the_link_and_each_gets_every_frame(uplinked: Uplinked) -> None:
    urls = [(stream_uri(uplinked, "RtspUnicast"), "tcp"), (stream_uri(uplinked, "RtspOverHttp"), "http")] * 3
    with ThreadPoolExecutor(len(urls)) as pool:
        probes = list(pool.map(lambda pair: count_frames(pair[0], transport=pair[1]), urls))
    assert [p.frames for p in probes] == [EVERY_FRAME] * len(urls), probes


def test_the_city_fetches_the_uplinked_cameras_snapshot(uplinked: Uplinked) -> None:
    """The uplink's transport hands over a body already read; the snapshot proxy must stream it all the same."""
    token = next(t for t in profiles(uplinked.city) if t.endswith(":Profile_1"))
    answer = call(uplinked.city.base, f"<tr2:GetSnapshotUri><tr2:ProfileToken>{token}</tr2:ProfileToken>"
                                      "</tr2:GetSnapshotUri>", user=OPERATOR, password=OPERATOR_PASSWORD)
    uri = answer.body.findtext(f"{{{TR2}}}Uri") or ""
    assert uri.startswith(uplinked.city.base + "/snapshot/"), answer
    reply = httpx.get(uri, auth=httpx.DigestAuth(OPERATOR, OPERATOR_PASSWORD), timeout=30)
    assert (reply.status_code, reply.headers["content-type"], reply.content[:3]) == (200, "image/jpeg",
                                                                                   b"\xff\xd8\xff")
