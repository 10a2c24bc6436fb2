"""The fake camera's PTZ head: moves take time and stop on their own, presets are kept, tokens are recorded."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.camera.client import CameraClient, subcodes
from tests.fakes.camera.fixture import Camera, start_camera
from tests.fakes.conftest import PASSWORD, USER

TT = "http://www.onvif.org/ver10/schema"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
FAULT = "{http://www.w3.org/2003/05/soap-envelope}Fault"


@pytest.fixture(scope="module")
def cam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    """PTZ on the first of two profiles only, as a camera whose sub stream has no PTZ configuration."""
    with start_camera(Path(tmp_path_factory.mktemp("ptz")), user=USER, password=PASSWORD, ptz=True,
                      ptz_profiles=1) as camera:
        yield camera


@pytest.fixture(scope="module")
def ptz(cam: Camera) -> CameraClient:
    return CameraClient(cam.base, USER, PASSWORD)


def move(client: CameraClient, pan: float, timeout: str | None = "PT1S", profile: str = "Profile_1") -> None:
    arguments = {"ProfileToken": profile, "Velocity": {"PanTilt": {"x": pan, "y": 0.0}}}
    if timeout is not None:
        arguments["Timeout"] = timeout
    body = client.answer("ptz", "ContinuousMove", **arguments)
    assert body.tag != FAULT, subcodes(body)


def test_a_continuous_move_lasts_its_timeout(cam: Camera, ptz: CameraClient) -> None:
    ptz.answer("ptz", "AbsoluteMove", ProfileToken="Profile_1", Position={"PanTilt": {"x": -0.5, "y": 0.0}})
    move(ptz, 0.5, "PT0.6S")
    status = ptz.answer("ptz", "GetStatus", ProfileToken="Profile_1")
    assert status.findtext(f"{{{TPTZ}}}PTZStatus/{{{TT}}}MoveStatus/{{{TT}}}PanTilt") == "MOVING"
    assert cam.ptz_state()["moving"] is True
    time.sleep(0.9)
    state = cam.ptz_state()
    assert state["moving"] is False and state["position"][0] == pytest.approx(-0.2, abs=0.02)
    call = cam.calls("ContinuousMove")[-1]
    assert call["params"]["Timeout"] == "PT0.6S" and call["tokens"] == {"ProfileToken": "Profile_1"}
    assert call["params"]["Velocity/PanTilt@x"] == "0.5"


def test_stop_and_zero_velocity_stop_the_head(cam: Camera, ptz: CameraClient) -> None:
    move(ptz, 0.2, "PT30S")
    ptz.answer("ptz", "Stop", ProfileToken="Profile_1")
    assert cam.ptz_state()["moving"] is False
    move(ptz, -0.2, "PT30S")
    move(ptz, 0.0, "PT30S")
    assert cam.ptz_state()["moving"] is False


def test_a_move_without_timeout_is_recorded_as_such(cam: Camera, ptz: CameraClient) -> None:
    """The camera's default timeout bounds it; a test can see the gateway sent none."""
    move(ptz, 0.1, None)
    assert "Timeout" not in cam.calls("ContinuousMove")[-1]["params"]
    assert cam.ptz_state()["moving"] is True
    ptz.answer("ptz", "Stop", ProfileToken="Profile_1")


def test_presets_are_kept(cam: Camera, ptz: CameraClient) -> None:
    ptz.answer("ptz", "AbsoluteMove", ProfileToken="Profile_1", Position={"PanTilt": {"x": 0.25, "y": -0.5},
                                                                          "Zoom": {"x": 0.75}})
    token = ptz.answer("ptz", "SetPreset", ProfileToken="Profile_1", PresetName="Gate").findtext(
        f"{{{TPTZ}}}PresetToken")
    assert token and token.startswith("Preset_")
    duplicate = ptz.answer("ptz", "SetPreset", ProfileToken="Profile_1", PresetName="Gate")
    assert subcodes(duplicate) == ["ter:InvalidArgVal", "ter:PresetExist"]
    ptz.answer("ptz", "GotoHomePosition", ProfileToken="Profile_1")
    assert cam.ptz_state()["position"] == [0.0, 0.0, 0.0]
    presets = ptz.answer("ptz", "GetPresets", ProfileToken="Profile_1")
    assert [(p.get("token"), p.findtext(f"{{{TT}}}Name")) for p in presets] == [(token, "Gate")]
    ptz.answer("ptz", "GotoPreset", ProfileToken="Profile_1", PresetToken=token)
    assert cam.ptz_state()["position"] == [0.25, -0.5, 0.75]
    assert cam.calls("GotoPreset")[-1]["tokens"] == {"ProfileToken": "Profile_1", "PresetToken": token}
    ptz.answer("ptz", "RemovePreset", ProfileToken="Profile_1", PresetToken=token)
    assert cam.ptz_state()["presets"] == {}


def test_home_position_can_be_set(cam: Camera, ptz: CameraClient) -> None:
    ptz.answer("ptz", "RelativeMove", ProfileToken="Profile_1", Translation={"PanTilt": {"x": 0.1, "y": 0.1}})
    ptz.answer("ptz", "SetHomePosition", ProfileToken="Profile_1")
    home = cam.ptz_state()["home"]
    ptz.answer("ptz", "AbsoluteMove", ProfileToken="Profile_1", Position={"PanTilt": {"x": -1.0, "y": 1.0}})
    ptz.answer("ptz", "GotoHomePosition", ProfileToken="Profile_1")
    assert cam.ptz_state()["position"] == home


@pytest.mark.parametrize("operation", ["ContinuousMove", "GetPresets", "GotoPreset", "Stop", "GetStatus"])
def test_a_profile_without_ptz_faults_no_ptz_profile(ptz: CameraClient, operation: str) -> None:
    arguments: dict[str, object] = {"ProfileToken": "Profile_2"}
    if operation == "ContinuousMove":
        arguments["Velocity"] = {"PanTilt": {"x": 0.1, "y": 0.0}}
    if operation == "GotoPreset":
        arguments["PresetToken"] = "Preset_1"
    assert subcodes(ptz.answer("ptz", operation, **arguments)) == ["ter:InvalidArgVal", "ter:NoPTZProfile"]


def test_a_remote_token_is_no_local_token(cam: Camera, ptz: CameraClient) -> None:
    """A gateway that forgot to strip its prefix gets the fault a real camera gives."""
    body = ptz.answer("ptz", "ContinuousMove", ProfileToken="32010001071321008015:Profile_1",
                      Velocity={"PanTilt": {"x": 0.1, "y": 0.0}})
    assert subcodes(body) == ["ter:InvalidArgVal", "ter:NoProfile"]
    assert cam.calls("ContinuousMove")[-1]["status"] == 400


def test_a_camera_without_ptz_has_no_ptz_service(tmp_path: Path) -> None:
    with start_camera(tmp_path, user=USER, password=PASSWORD) as plain:
        reply = httpx.post(plain.base + "/onvif/ptz_service", content=b"<x/>",
                           headers={"Content-Type": "application/soap+xml"}, timeout=10)
        assert reply.status_code == 404
        profiles = CameraClient(plain.base, USER, PASSWORD).answer("media2", "GetProfiles", Type=["All"])
        assert all(p.find(".//{http://www.onvif.org/ver20/media/wsdl}PTZ") is None for p in profiles)
