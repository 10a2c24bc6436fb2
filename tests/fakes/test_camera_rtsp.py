"""The fake camera's RTSP source, probed by ffprobe: frames, sizes, Digest, and its run-time failure modes."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest

from tests.fakes.camera import rtsp
from tests.fakes.camera.probe import ProbeFailed, count_frames
from tests.fakes.camera.rtsp import RtspSource, require_media_tools

USER, PASSWORD = "viewer", "p@ss:word/1"


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}").geturl()


@pytest.fixture(scope="module")
def open_source() -> Iterator[RtspSource]:
    require_media_tools()
    with RtspSource(profiles=2) as source:
        yield source


@pytest.fixture(scope="module")
def digest_source() -> Iterator[RtspSource]:
    require_media_tools()
    with RtspSource(profiles=1, user=USER, password=PASSWORD) as source:
        yield source


@pytest.mark.parametrize(("profile", "size"), [(1, (320, 240)), (2, (160, 120))])
def test_every_profile_streams_its_frames_over_tcp(open_source: RtspSource, profile: int, size: tuple[int, int]) -> None:
    probe = count_frames(open_source.mount(profile))
    assert (probe.codec, probe.width, probe.height) == ("h264", *size)
    assert probe.frames >= 0.9 * 25 * 4, probe


def test_http_tunnelling_streams_too(open_source: RtspSource) -> None:
    """ffmpeg tunnels RTSP over HTTP to the URL's own port; GStreamer's server answers that too."""
    assert count_frames(open_source.mount(1), transport="http").frames >= 90


def test_an_unknown_mount_is_refused(open_source: RtspSource) -> None:
    with pytest.raises(ProbeFailed, match="404"):
        count_frames(open_source.url + "/profile9")


def test_digest_is_required_when_asked(digest_source: RtspSource) -> None:
    with pytest.raises(ProbeFailed, match="401"):
        count_frames(digest_source.mount(1))
    with pytest.raises(ProbeFailed, match="401"):
        count_frames(with_credentials(digest_source.mount(1), USER, "wrong"))
    assert count_frames(with_credentials(digest_source.mount(1), USER, PASSWORD)).frames >= 90


def test_close_streams_ends_a_running_stream_early() -> None:
    require_media_tools()
    with RtspSource(profiles=1) as source:
        started = time.monotonic()
        threading.Timer(1.5, source.close_streams).start()
        probe = count_frames(source.mount(1), seconds=8)
        assert probe.frames < 100 and time.monotonic() - started < 6, probe
        assert source.running
        assert count_frames(source.mount(1), seconds=1).frames >= 20  # and it serves again


def test_stall_stops_frames_but_keeps_the_session() -> None:
    require_media_tools()
    with RtspSource(profiles=1) as source:
        threading.Timer(1.0, source.stall).start()
        threading.Timer(3.0, source.resume).start()
        started = time.monotonic()
        probe = count_frames(source.mount(1), seconds=4)
        # 4 s of timestamps, two of which carried nothing: fewer frames than seconds × fps, the same session
        assert probe.frames < 0.7 * 100 and time.monotonic() - started >= 4, probe


def test_the_source_ends_with_its_launcher() -> None:
    require_media_tools()
    source = RtspSource(profiles=1).start()
    proc = source.proc
    assert proc is not None
    source.stop()
    assert proc.poll() is not None


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_media_tools_fail_under_ci_and_skip_elsewhere(monkeypatch: pytest.MonkeyPatch, ci: str,
                                                              outcome: type[BaseException]) -> None:
    monkeypatch.setattr(rtsp, "missing_media_tools", lambda: "ffprobe is missing")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="ffprobe is missing"):
        rtsp.require_media_tools()
