"""The control channel: one command per stdin line, one answer line on stdout (``camera: ok ...`` or
``camera: error ...``), so a test steers the running camera and knows when a change took effect.

Commands: ``mode NAME [SECONDS] [Op1,Op2]`` (see modes.py), ``calls`` (the record as JSON), ``clear``,
``ptz`` (the head's state as JSON), ``profiles N`` (reconfigure; publishes tns1:Media/ProfileChanged),
``close-streams``, ``stall-streams``, ``resume-streams`` (the camera's own RTSP source), ``ping``.
"""
from __future__ import annotations

import json
import time
from typing import Any

from tests.fakes.camera import modes
from tests.fakes.camera.events import notification
from tests.fakes.camera.rtsp import RtspSource
from tests.fakes.camera.server import CameraServer

PREFIX = "camera: "


def _ptz_state(server: CameraServer) -> dict[str, Any]:
    state, now = server.device.ptz, time.monotonic()
    with server.device.lock:
        where = state.now_position(now)
        return {"position": [where.pan, where.tilt, where.zoom], "moving": state.moving(now),
                "home": [state.home.pan, state.home.tilt, state.home.zoom],
                "presets": {t: {"name": p.name, "position": [p.position.pan, p.position.tilt, p.position.zoom]}
                            for t, p in state.presets.items()}}


def _profiles(server: CameraServer, count: int) -> None:
    if not 1 <= count <= 16:
        raise ValueError("profiles N must be within 1..16")
    before = {p.token for p in server.device.profiles}
    server.device.set_profiles(count)
    after = {p.token for p in server.device.profiles}
    for token in sorted(before ^ after):
        server.hub.publish(notification("Media/ProfileChanged", {"Token": token}, server.device.utc_now()))


def command(server: CameraServer, source: RtspSource | None, line: str) -> str:
    """Carry out one command line; the answer line (without newline)."""
    words = line.split()
    if not words:
        return PREFIX + "error empty command"
    verb, args = words[0], words[1:]
    try:
        if verb == "mode":
            server.switch.set(modes.parse(args))
        elif verb == "calls":
            return PREFIX + "ok " + json.dumps(server.record.snapshot())
        elif verb == "clear":
            server.record.clear()
        elif verb == "ptz":
            return PREFIX + "ok " + json.dumps(_ptz_state(server))
        elif verb == "profiles" and len(args) == 1:
            _profiles(server, int(args[0]))
        elif verb in ("close-streams", "stall-streams", "resume-streams"):
            if source is None:
                raise ValueError("this camera runs no RTSP source of its own (--rtsp gst)")
            {"close-streams": source.close_streams, "stall-streams": source.stall,
             "resume-streams": source.resume}[verb]()
        elif verb != "ping":
            raise ValueError(f"unknown command {verb!r}")
    except ValueError as exc:
        return PREFIX + f"error {exc}"
    return PREFIX + "ok"
