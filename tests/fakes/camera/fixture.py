"""Start the fake camera as a process from a test and steer it: ``start_camera(tmp_path, ptz=True, ...)``.

The camera runs as ``python -m tests.fakes.camera --control ...`` from the repository root, its stderr in
``tmp_path``; the returned :class:`Camera` knows its URLs and credentials, reads what it was asked
(:meth:`Camera.calls`), switches its failure modes (:meth:`Camera.mode` and the shorthands), and stops it.
"""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SERVING = "camera: serving on "
RTSP = "camera: rtsp on "
_numbers = itertools.count(1)


class CameraFailed(RuntimeError):
    """The camera did not start, died, or refused a control command."""


def _flags(options: dict[str, Any]) -> list[str]:
    """Keyword options as command-line flags: ``ptz=True`` → ``--ptz``, ``media2=False`` → ``--no-media2``,
    ``scopes=[...]`` → repeated ``--scope``, ``location=(lat, lon)`` → ``--location lat,lon``, others
    ``--name value``."""
    argv: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if key in ("media1", "media2", "events"):
            if not value:
                argv.append(f"--no-{key}")
        elif value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif key == "scopes":
            for scope in value:
                argv += ["--scope", scope]
        elif key == "location":
            argv += ["--location", ",".join(str(v) for v in value)]
        elif key == "viewer":
            argv += ["--viewer", f"{value[0]}:{value[1]}"]
        else:
            argv += [flag, str(value)]
    return argv


class Camera:
    """A running fake camera: ``url`` (its device service), ``base``, ``rtsp`` (its RTSP base), ``user`` and
    ``password``, and the control methods. ``stop()`` ends it; ``start()`` again serves on the same port."""

    def __init__(self, workdir: Path, options: dict[str, Any], timeout: float = 60.0) -> None:
        self.workdir, self.options, self.timeout = workdir, dict(options), timeout
        self.user: str | None = options.get("user")
        self.password: str = options.get("password", "")
        self.log_path = workdir / f"camera-{next(_numbers)}.log"
        self.proc: subprocess.Popen[str] | None = None
        self.url = self.base = self.rtsp = ""
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Camera:
        options = dict(self.options)
        if self.url:  # a restart keeps the address
            options.pop("port", None)
            options["listen"] = self.base.removeprefix("http://")
        argv = [sys.executable, "-m", "tests.fakes.camera", "--control", *_flags(options)]
        with self.log_path.open("a") as err:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, text=True)
        lines: list[str] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            while line := self.proc.stdout.readline():
                lines.append(line)
                if line.startswith(SERVING):
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.timeout)
        text = "".join(lines)
        if SERVING not in text:
            self.stop()
            raise CameraFailed(f"the camera did not start: {text!r}\n{self.log_tail()}")
        for line in lines:
            if line.startswith(RTSP):
                self.rtsp = line[len(RTSP):].strip()
            elif line.startswith(SERVING):
                self.url = line[len(SERVING):].strip()
        self.base = self.url.rsplit("/onvif/", 1)[0]
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """End the camera (end of its stdin; SIGKILL if it lingers) and its RTSP source."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ control channel

    def command(self, line: str) -> str:
        """Send one control command; its answer after ``ok`` (CameraFailed on ``error`` or a dead camera)."""
        with self._lock:
            if self.proc is None or self.proc.stdin is None or self.proc.stdout is None:
                raise CameraFailed("the camera is not running")
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                raise CameraFailed(f"the camera died:\n{self.log_tail()}") from None
            answer = self.proc.stdout.readline()
        if not answer.startswith("camera: ok"):
            raise CameraFailed(f"{line!r}: {answer.strip() or 'no answer'}\n{self.log_tail()}")
        return answer[len("camera: ok"):].strip()

    def calls(self, operation: str | None = None, service: str | None = None) -> list[dict[str, Any]]:
        """The SOAP calls received so far (oldest first), optionally of one operation and/or service. Each is a
        dict: ``operation``, ``service``, ``params`` (``Velocity/PanTilt@x`` → text), ``tokens`` (the params
        whose name ends in Token), ``user``, ``auth`` ("digest" | "ws" | None), ``status`` (HTTP status, or the
        mode's name when it misbehaved), ``fault`` (the subcodes, when it faulted), ``seq``, ``time``, ``path``."""
        found: list[dict[str, Any]] = json.loads(self.command("calls"))
        return [c for c in found if (operation is None or c["operation"] == operation)
                and (service is None or c["service"] == service)]

    def clear_calls(self) -> None:
        self.command("clear")

    def ptz_state(self) -> dict[str, Any]:
        """``position`` [pan, tilt, zoom], ``moving``, ``home``, ``presets`` {token: {name, position}}."""
        state: dict[str, Any] = json.loads(self.command("ptz"))
        return state

    def set_profiles(self, count: int) -> None:
        """Reconfigure to ``count`` profiles; added or removed ones are announced as tns1:Media/ProfileChanged."""
        self.command(f"profiles {count}")

    def mode(self, name: str, seconds: float | None = None, operations: Sequence[str] = ()) -> None:
        """Switch the failure mode (tests/fakes/camera/modes.py) for every operation or only ``operations``."""
        words = [name] + ([repr(float(seconds))] if seconds is not None else []) + [",".join(operations)]
        self.command("mode " + " ".join(w for w in words if w))

    def normal(self) -> None:
        self.mode("normal")

    def hang(self, *operations: str) -> None:
        self.mode("hang", operations=operations)

    def slow(self, seconds: float, *operations: str) -> None:
        self.mode("slow", seconds, operations)

    def garbage(self, *operations: str) -> None:
        self.mode("garbage", operations=operations)

    def fault(self, *operations: str) -> None:
        self.mode("fault", operations=operations)

    @contextmanager
    def misbehaving(self, name: str, seconds: float | None = None, *operations: str) -> Iterator[Camera]:
        """``with camera.misbehaving("hang"):`` ... back to normal afterwards."""
        self.mode(name, seconds, operations)
        try:
            yield self
        finally:
            if self.running:
                self.normal()

    def close_streams(self) -> None:
        """Drop every RTSP session of the camera's own source (``rtsp="gst"``) mid-stream."""
        self.command("close-streams")

    def stall_streams(self) -> None:
        self.command("stall-streams")

    def resume_streams(self) -> None:
        self.command("resume-streams")

    def stream_url(self, profile: int = 1) -> str:
        """The RTSP URL of profile N at the camera itself (what its GetStreamUri answers)."""
        return f"{self.rtsp}/profile{profile}"


def start_camera(tmp_path: Path, **options: Any) -> Camera:
    """Start a fake camera; ``options`` are the command-line flags as keywords (``python -m tests.fakes.camera
    --help``): ``user``, ``password``, ``auth`` ("ws" | "digest" | "both"), ``profiles``, ``ptz``,
    ``ptz_profiles``, ``media1``/``media2``/``events`` (False drops the service), ``rtsp`` ("gst" | "none" |
    an rtsp:// base), ``rtsp_open``, ``serial``, ``name``, ``scopes``, ``location`` ((lat, lon[, elev])),
    ``clock_offset``, ``viewer`` ((name, password)), ``listen`` (HOST:PORT) or ``port``, ``advertise``,
    ``manufacturer``, ``model``.
    ``stop()`` it (or use it as a context manager)."""
    return Camera(tmp_path, options).start()
