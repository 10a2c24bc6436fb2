"""The fake camera's media: the stream URIs it answers play (ffprobe counts the frames), snapshots are JPEGs."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.fakes.camera.client import CameraClient
from tests.fakes.camera.fixture import Camera, start_camera
from tests.fakes.camera.probe import ProbeFailed, count_frames
from tests.fakes.camera.rtsp import require_media_tools
from tests.fakes.conftest import PASSWORD, USER

TR2 = "http://www.onvif.org/ver20/media/wsdl"


def with_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@{parts.netloc}").geturl()


@pytest.fixture(scope="module")
def streaming(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    require_media_tools()
    with start_camera(Path(tmp_path_factory.mktemp("media")), user=USER, password=PASSWORD, rtsp="gst") as cam:
        yield cam


def stream_uri(camera: Camera, profile: str) -> str:
    body = CameraClient(camera.base, USER, PASSWORD).answer("media2", "GetStreamUri", Protocol="RTSP",
                                                            ProfileToken=profile)
    return str(body.findtext(f"{{{TR2}}}Uri"))


@pytest.mark.parametrize(("profile", "size"), [("Profile_1", (320, 240)), ("Profile_2", (160, 120))])
def test_the_stream_uri_plays_with_the_cameras_credentials(streaming: Camera, profile: str,
                                                           size: tuple[int, int]) -> None:
    uri = stream_uri(streaming, profile)
    with pytest.raises(ProbeFailed, match="401"):
        count_frames(uri, seconds=1)
    probe = count_frames(with_credentials(uri))
    assert (probe.codec, probe.width, probe.height) == ("h264", *size)
    assert probe.frames >= 90, probe


def test_the_snapshot_is_a_jpeg_behind_digest(streaming: Camera) -> None:
    body = CameraClient(streaming.base, USER, PASSWORD).answer("media2", "GetSnapshotUri", ProfileToken="Profile_2")
    uri = str(body.findtext(f"{{{TR2}}}Uri"))
    assert httpx.get(uri, timeout=10).status_code == 401
    reply = httpx.get(uri, auth=httpx.DigestAuth(USER, PASSWORD), timeout=10)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "image/jpeg"
    assert reply.content[:2] == b"\xff\xd8" and reply.content[-2:] == b"\xff\xd9"
    assert streaming.calls()[-1]["operation"] == "GetSnapshotUri"  # a snapshot fetch is no SOAP call


def test_closing_the_streams_cuts_a_running_stream(streaming: Camera) -> None:
    timer = threading.Timer(1.5, streaming.close_streams)
    timer.start()
    probe = count_frames(with_credentials(streaming.stream_url(1)), seconds=8)
    timer.join()
    assert probe.frames < 100, probe
    assert count_frames(with_credentials(streaming.stream_url(1)), seconds=1).frames >= 20


def test_stalled_streams_keep_their_session_without_frames(streaming: Camera) -> None:
    threading.Timer(1.0, streaming.stall_streams).start()
    threading.Timer(3.0, streaming.resume_streams).start()
    probe = count_frames(with_credentials(streaming.stream_url(2)), seconds=4)
    assert probe.frames < 70, probe  # two of the four seconds carried nothing


def test_an_open_source_needs_no_credentials(tmp_path: Path) -> None:
    require_media_tools()
    with start_camera(tmp_path, user=USER, password=PASSWORD, rtsp="gst", rtsp_open=True, profiles=1) as cam:
        assert count_frames(stream_uri(cam, "Profile_1"), seconds=1).frames >= 20
