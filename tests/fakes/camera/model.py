"""What the fake camera is: its options, its media profiles and configurations, its PTZ node and presets.

Tokens are shaped as real cameras shape them (``Profile_1``, ``VideoSourceConfig_1``, ``PTZNode_1``): short, no
colon, so a gateway can prefix them. The state is kept in memory behind one lock; the HTTP server is threaded.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

#: Stream names of profile 1, 2, ... as cameras name them.
STREAM_NAMES = ("mainStream", "subStream", "thirdStream", "fourthStream")
#: Frame sizes of profile 1, 2, ...: the RTSP source's mounts use the same (tests/fakes/camera/rtsp.py).
SIZES = ((320, 240), (160, 120), (176, 144), (128, 96))
VIDEO_SOURCE = "VideoSource_1"
VIDEO_SOURCE_CONFIG = "VideoSourceConfig_1"
PTZ_NODE = "PTZNode_1"
PTZ_CONFIG = "PTZConfig_1"
MAX_PRESETS = 32
AUXILIARY_COMMANDS = ("tt:Wiper|On", "tt:Wiper|Off", "tt:IRLamp|Auto")


@dataclass
class Options:
    """Everything the command line sets (``python -m tests.fakes.camera --help``)."""

    host: str = "127.0.0.1"
    port: int = 0
    advertise: str | None = None  # the host written into XAddrs and URIs; default: the listen host
    user: str | None = None
    password: str = ""
    viewer: tuple[str, str] | None = None  # a second account at User level: may watch, may not move PTZ
    auth: str = "both"  # ws | digest | both
    profiles: int = 2
    media1: bool = True
    media2: bool = True
    ptz: bool = False
    ptz_profiles: int | None = None  # how many profiles (from the first) carry the PTZ configuration
    events: bool = True
    manufacturer: str = "FakeCam"
    model: str = "FC-PTZ-2"
    firmware: str = "1.4.2"
    serial: str = "FC00012345"
    hardware: str = "FC-HW-7"
    name: str = "Fake camera"
    scopes: tuple[str, ...] = ()
    location: tuple[float, float, float | None] | None = None  # lat, lon, elevation
    clock_offset: float = 0.0  # seconds the device's clock runs ahead of true UTC
    fps: int = 25
    rtsp: str = "none"  # none | gst | rtsp://HOST:PORT of a source already running
    rtsp_auth: bool = True  # when the camera starts its own source: RTSP Digest with the camera's account

    @property
    def public_host(self) -> str:
        return self.advertise or self.host


@dataclass
class Profile:
    token: str
    name: str
    index: int  # 1-based: the RTSP mount /profile<index>
    width: int
    height: int
    ptz: bool

    @property
    def encoder_token(self) -> str:
        return f"VideoEncoderConfig_{self.index}"


@dataclass
class Vector:
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0

    def clamped(self) -> Vector:
        return Vector(max(-1.0, min(1.0, self.pan)), max(-1.0, min(1.0, self.tilt)), max(0.0, min(1.0, self.zoom)))


@dataclass
class Preset:
    token: str
    name: str
    position: Vector


@dataclass
class Motion:
    """A continuous move: ``velocity`` from ``since`` until ``until`` (monotonic seconds)."""

    velocity: Vector
    since: float
    until: float


@dataclass
class PtzState:
    position: Vector = field(default_factory=Vector)
    home: Vector = field(default_factory=Vector)
    motion: Motion | None = None
    presets: dict[str, Preset] = field(default_factory=dict)
    next_preset: int = 1

    def now_position(self, now: float) -> Vector:
        """Where the head is at ``now``, integrating a running continuous move."""
        if self.motion is None:
            return self.position
        m = self.motion
        seconds = max(0.0, min(now, m.until) - m.since)
        return Vector(self.position.pan + m.velocity.pan * seconds, self.position.tilt + m.velocity.tilt * seconds,
                      self.position.zoom + m.velocity.zoom * seconds).clamped()

    def moving(self, now: float) -> bool:
        return self.motion is not None and now < self.motion.until

    def settle(self, now: float) -> None:
        """Stop any continuous move where the head is now."""
        self.position = self.now_position(now)
        self.motion = None


class Device:
    """The camera's state: profiles from the options, the PTZ head, and a change counter for events."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.lock = threading.RLock()
        self.ptz = PtzState()
        self.profiles: list[Profile] = []
        self.set_profiles(options.profiles)

    def set_profiles(self, count: int) -> None:
        """(Re)build ``count`` profiles, as a reconfigured camera would."""
        limit = self.options.ptz_profiles if self.options.ptz_profiles is not None else count
        with self.lock:
            self.profiles = [
                Profile(f"Profile_{i}", STREAM_NAMES[(i - 1) % len(STREAM_NAMES)], i, *SIZES[(i - 1) % len(SIZES)],
                        ptz=self.options.ptz and i <= limit)
                for i in range(1, count + 1)]

    def profile(self, token: str | None) -> Profile | None:
        with self.lock:
            return next((p for p in self.profiles if p.token == token), None)

    def utc_now(self) -> float:
        """The device clock (seconds since the epoch), ``clock_offset`` ahead of the true time."""
        return time.time() + self.options.clock_offset

    @property
    def ptz_profiles(self) -> list[Profile]:
        return [p for p in self.profiles if p.ptz]
