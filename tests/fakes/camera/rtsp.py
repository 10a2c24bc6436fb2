"""Start and steer ``rtsp_source.py`` from any interpreter (tests, the fake camera, benchmarks).

The source runs under Debian's ``/usr/bin/python3``, whose GStreamer bindings a virtualenv lacks. What the Debian
packages provide is checked once (:func:`missing_media_tools`); :func:`require_media_tools` skips a test without them
on a developer's machine and fails it under ``CI=true``, since CI installs them (``.ci/run``).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.fakes.camera.model import SIZES

SOURCE = Path(__file__).with_name("rtsp_source.py")
DEBIAN_PYTHON = "/usr/bin/python3"
SERVING = "rtsp: serving on "
_PROBE = ("import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import Gst, GstRtspServer; "
          "Gst.init(None); import sys; sys.exit(0 if Gst.ElementFactory.find('x264enc') else 3)")


class SourceFailed(RuntimeError):
    """The RTSP source did not announce its address."""


@functools.cache
def missing_media_tools() -> str | None:
    """Why the media tests cannot run here (what is missing), or None when ffmpeg and GStreamer are usable."""
    for tool in ("ffprobe", "ffmpeg"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian package ffmpeg; .ci/run installs it)"
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        return f"{DEBIAN_PYTHON} is missing"
    done = subprocess.run([DEBIAN_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        return ("GStreamer's RTSP server or x264enc is missing (Debian packages python3-gi, gstreamer1.0-rtsp, "
                "gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-ugly; .ci/run installs them): "
                + done.stderr.strip()[-300:])
    return None


def require_media_tools() -> None:
    """Skip the calling test without ffmpeg and GStreamer; fail it under ``CI=true``, where they must be."""
    import pytest

    reason = missing_media_tools()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


class RtspSource:
    """A running ``rtsp_source.py``: :attr:`url` is ``rtsp://HOST:PORT``, :meth:`mount` the URL of one profile.

    ``user``/``password`` turn RTSP Digest on. :meth:`close_streams`, :meth:`stall` and :meth:`resume` steer the
    running source (see ``rtsp_source.py``); :meth:`stop` ends it. Its stderr goes to ``log_path``.
    """

    def __init__(self, *, profiles: int = 2, sizes: Sequence[tuple[int, int]] | None = None, fps: int = 25,
                 user: str | None = None, password: str | None = None, listen: str = "127.0.0.1:0",
                 log_path: Path | None = None, timeout: float = 30.0) -> None:
        self.sizes = list(sizes or [SIZES[i % len(SIZES)] for i in range(profiles)])
        self.fps, self.user, self.password = fps, user, password
        self.listen, self.log_path, self.timeout = listen, log_path, timeout
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._lock = threading.Lock()  # one command and its answer at a time

    def start(self) -> RtspSource:
        argv = [DEBIAN_PYTHON, str(SOURCE), "--listen", self.listen, "--fps", str(self.fps),
                "--sizes", ",".join(f"{w}x{h}" for w, h in self.sizes)]
        if self.user:
            argv += ["--user", self.user]
        with (self.log_path or Path(os.devnull)).open("a") as err:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        if self.user:
            self._send(self.password or "")
        stdout = self.proc.stdout
        assert stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout)
        text = "".join(line)
        if SERVING not in text:
            self.stop()
            raise SourceFailed(f"the RTSP source did not start: {text!r}")
        self.url = text.split(SERVING, 1)[1].strip()
        return self

    def mount(self, profile: int = 1) -> str:
        """``rtsp://HOST:PORT/profileN`` (N from 1)."""
        return f"{self.url}/profile{profile}"

    def _send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def _command(self, word: str) -> None:
        """Send a steering command and wait for the source to confirm it."""
        with self._lock:
            self._send(word)
            assert self.proc is not None and self.proc.stdout is not None
            answer = self.proc.stdout.readline()
        if answer.strip() != f"rtsp: ok {word}":
            raise SourceFailed(f"the RTSP source did not confirm {word!r}: {answer!r}")

    def close_streams(self) -> None:
        """Drop every client connection now, as a camera closing its streams mid-way."""
        self._command("close")

    def stall(self) -> None:
        """Stop sending frames, keeping the sessions open (a hung camera)."""
        self._command("stall")

    def resume(self) -> None:
        self._command("resume")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """End the source (closing its stdin ends it; SIGKILL if it lingers)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream:
                    stream.close()
            except BrokenPipeError:
                pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RtspSource:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
