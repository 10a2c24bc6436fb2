"""What a service handler sees of the camera: its state, its addresses, the event hub, the caller."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from tests.fakes.camera.events import Hub
from tests.fakes.camera.model import Device, Options
from tests.fakes.camera.security import Account

PATHS = {"device": "/onvif/device_service", "media": "/onvif/media_service", "media2": "/onvif/media2_service",
         "ptz": "/onvif/ptz_service", "events": "/onvif/event_service"}
SNAPSHOT_PATH = "/onvif/snapshot"


@dataclass
class Context:
    device: Device
    base: str  # http://HOST:PORT as the camera advertises itself
    rtsp_base: str  # rtsp://HOST:PORT of its streams
    events: Hub
    path: str = ""  # the request's path (a pull point's address names its subscription)
    account: Account | None = None

    @property
    def options(self) -> Options:
        return self.device.options

    def xaddr(self, service: str) -> str:
        return self.base + PATHS[service]

    def stream_uri(self, index: int) -> str:
        return f"{self.rtsp_base}/profile{index}"

    def snapshot_uri(self, index: int) -> str:
        return f"{self.base}{SNAPSHOT_PATH}/profile{index}.jpg"


Handler = Callable[[Context, etree._Element], etree._Element]
