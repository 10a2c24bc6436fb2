"""Fixtures of the fake camera's self-tests: one camera per module where the tests only read it."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.camera.client import CameraClient
from tests.fakes.camera.fixture import Camera, start_camera

USER, PASSWORD = "admin", "Adm1n:pass word"
VIEWER = ("viewer", "look-only")


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    """A PTZ camera with two profiles, a location and a User-level account, no RTSP source."""
    with start_camera(Path(tmp_path_factory.mktemp("camera")), user=USER, password=PASSWORD, ptz=True,
                      location=(32.0603, 118.7969, 12.5), viewer=VIEWER, serial="32010001071321008015") as cam:
        yield cam


@pytest.fixture(scope="module")
def ws(camera: Camera) -> CameraClient:
    return CameraClient(camera.base, USER, PASSWORD, auth="ws")


@pytest.fixture(scope="module")
def digest(camera: Camera) -> CameraClient:
    return CameraClient(camera.base, USER, PASSWORD, auth="digest")
