"""bench/live.py's parts: the fake camera and the gateway levels above it (leaf, district, city), built with the CLI.

The camera is ``tests/fakes/camera`` as a process, without an RTSP source (GetStreamUri only names a stream; none is
played here, so no encoder competes for the cores). The leaf has it as a device segment (``segment add --device``),
the district the leaf, the city the district, each a real ``python -m gateway serve`` with an RTSP listener (a
Media2 ``RtspUnicast`` URI needs one). Heartbeats are long, so the segments' live checks stay out of the timings.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.kit.process import GatewayProcess, cpu_seconds, log, vmsgw
from bench.kit.soap import Soap, message_tokens
from tests.fakes.camera.fixture import Camera, start_camera

CAM_USER = "admin"
#: The bench's account at every level: PTZ moves need the operator level.
LEVEL = "operator"
HEARTBEAT = 300.0
SERVER_START_TIMEOUT = 120.0
SYNC_TIMEOUT = 120.0
NAMES = ("leaf", "district", "city")


@dataclass
class Level:
    """One gateway above the camera: ``depth`` 1 is the leaf, 3 the city."""

    name: str
    depth: int
    db_path: Path
    user: str
    password: str
    server: GatewayProcess | None = None

    @property
    def db(self) -> str:
        return f"sqlite:///{self.db_path}"

    @property
    def base(self) -> str:
        assert self.server is not None
        return self.server.base

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.pid

    def stderr_tail(self) -> str:
        return self.server.stderr_tail() if self.server is not None else ""


@dataclass
class Setup:
    camera: Camera
    levels: list[Level] = field(default_factory=list)

    def stop(self) -> None:
        for level in reversed(self.levels):
            if level.server is not None:
                level.server.stop()
                level.server = None
        self.camera.stop()

    def pids(self) -> dict[str, int]:
        """The processes whose CPU each measurement reads: the camera and every level."""
        assert self.camera.proc is not None
        return {"camera": self.camera.proc.pid, **{level.name: level.pid for level in self.levels}}


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def _level(name: str, depth: int, work: Path, segment: list[str], password: str) -> Level:
    level = Level(name, depth, work / f"{name}.db", f"bench-{name}", uuid.uuid4().hex)
    vmsgw(["db", "upgrade", "--db", level.db])
    vmsgw(["user", "add", level.user, "--level", LEVEL, "--db", level.db], stdin=level.password + "\n")
    vmsgw(["segment", "add", *segment, "--heartbeat", f"{HEARTBEAT:g}", "--db", level.db], stdin=password + "\n")
    level.server = GatewayProcess(["--listen", "127.0.0.1:0", "--rtsp-listen", "127.0.0.1:0", "--db", level.db],
                                  log_path=work / f"{name}.log", timeout=SERVER_START_TIMEOUT).start()
    log(f"{name} gateway serving on {level.server.url}")
    return level


def build(work: Path) -> Setup:
    """Camera, then leaf, district and city, each the segment of the next; returns once the city lists the
    camera's profiles."""
    camera = start_camera(work, user=CAM_USER, password=uuid.uuid4().hex, ptz=True, ptz_profiles=1, profiles=2,
                          rtsp="none")
    log(f"fake camera serving on {camera.url}")
    setup = Setup(camera)
    try:
        segment, password = ["cam", "--device", "--url", camera.url, "--user", CAM_USER], camera.password
        for depth, name in enumerate(NAMES, start=1):
            level = _level(name, depth, work, segment, password)
            setup.levels.append(level)
            assert level.server is not None
            segment, password = [name, "--url", level.server.url, "--user", level.user], level.password
        for level in setup.levels:
            profile_token(level)
    except BaseException:
        setup.stop()
        raise
    return setup


def profile_token(level: Level, local: str = "Profile_1") -> str:
    """The remote token of the camera's ``local`` profile at ``level``, found by a Resource Query (waits for the
    sync)."""
    assert level.server is not None
    deadline = time.monotonic() + SYNC_TIMEOUT
    client = Soap(level.user, level.password)
    try:
        while True:
            address = client.subscribe(level.server.event_url, "tns1:Resource/MediaProfile", "PT1M")
            found = [t for t in message_tokens(client.pull(address, 100)) if t.endswith(":" + local)]
            client.unsubscribe(address)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {level.name} never listed the camera's {local}:\n{level.stderr_tail()}")
            time.sleep(0.5)
    finally:
        client.close()
