"""Every Media, Media2 and PTZ answer of a real gateway validates against the official schemas.

One gateway over one fake camera (a device segment): each operation the gateway forwards is called with the
gateway's tokens, and its answer — the camera's, adapted — and the faults it gives are validated by
tests/interop/media_kit.py before they are looked at.  Answers through several levels are validated the same
way in tests/interop/test_live_media.py.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.fakes.camera.fixture import start_camera
from tests.interop.media_kit import (
    OPERATOR,
    OPERATOR_PASSWORD,
    TPTZ,
    TR2,
    TRT,
    Level,
    call,
    profiles_found,
    start_level,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def leaf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Level, str]]:
    tmp = tmp_path_factory.mktemp("media")
    camera = start_camera(tmp, user="admin", password="pw", ptz=True)
    level = None
    try:
        level = start_level("leaf", tmp, ["cam", "--device", "--url", camera.url, "--user", "admin"], "pw")
        deadline = time.monotonic() + 60
        while not (found := profiles_found(level)):
            assert time.monotonic() < deadline, "the camera's profiles never arrived"
            time.sleep(0.5)
        yield level, found[0]
    finally:
        if level is not None:
            level.gateway.stop()
        camera.stop()


CALLS = {
    "tr2:GetProfiles": "<tr2:GetProfiles><tr2:Token>{p}</tr2:Token><tr2:Type>All</tr2:Type></tr2:GetProfiles>",
    "tr2:GetProfiles-all": "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>",
    "tr2:GetStreamUri": "<tr2:GetStreamUri><tr2:Protocol>RtspOverHttp</tr2:Protocol><tr2:ProfileToken>{p}"
                        "</tr2:ProfileToken></tr2:GetStreamUri>",
    "tr2:GetSnapshotUri": "<tr2:GetSnapshotUri><tr2:ProfileToken>{p}</tr2:ProfileToken></tr2:GetSnapshotUri>",
    "tr2:GetVideoSourceConfigurations": "<tr2:GetVideoSourceConfigurations><tr2:ProfileToken>{p}</tr2:ProfileToken>"
                                        "</tr2:GetVideoSourceConfigurations>",
    "tr2:GetVideoEncoderConfigurations": "<tr2:GetVideoEncoderConfigurations/>",
    "trt:GetProfiles": "<trt:GetProfiles/>",
    "trt:GetProfile": "<trt:GetProfile><trt:ProfileToken>{p}</trt:ProfileToken></trt:GetProfile>",
    "trt:GetStreamUri": "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>"
                        "<tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>{p}"
                        "</trt:ProfileToken></trt:GetStreamUri>",
    "trt:GetSnapshotUri": "<trt:GetSnapshotUri><trt:ProfileToken>{p}</trt:ProfileToken></trt:GetSnapshotUri>",
    "trt:GetVideoSources": "<trt:GetVideoSources/>",
    "trt:GetVideoSourceConfigurations": "<trt:GetVideoSourceConfigurations/>",
    "trt:GetVideoEncoderConfigurations": "<trt:GetVideoEncoderConfigurations/>",
    "tptz:GetNodes": "<tptz:GetNodes/>",
    "tptz:GetConfigurations": "<tptz:GetConfigurations/>",
    "tptz:GetStatus": "<tptz:GetStatus><tptz:ProfileToken>{p}</tptz:ProfileToken></tptz:GetStatus>",
    "tptz:GetPresets": "<tptz:GetPresets><tptz:ProfileToken>{p}</tptz:ProfileToken></tptz:GetPresets>",
    "tptz:AbsoluteMove": '<tptz:AbsoluteMove><tptz:ProfileToken>{p}</tptz:ProfileToken><tptz:Position>'
                         '<tt:PanTilt x="0.2" y="0.1"/></tptz:Position></tptz:AbsoluteMove>',
    "tptz:RelativeMove": '<tptz:RelativeMove><tptz:ProfileToken>{p}</tptz:ProfileToken><tptz:Translation>'
                         '<tt:PanTilt x="0.1" y="0"/></tptz:Translation></tptz:RelativeMove>',
    "tptz:ContinuousMove": '<tptz:ContinuousMove><tptz:ProfileToken>{p}</tptz:ProfileToken><tptz:Velocity>'
                           '<tt:PanTilt x="0.1" y="0"/></tptz:Velocity></tptz:ContinuousMove>',
    "tptz:Stop": "<tptz:Stop><tptz:ProfileToken>{p}</tptz:ProfileToken></tptz:Stop>",
    "tptz:GotoHomePosition": "<tptz:GotoHomePosition><tptz:ProfileToken>{p}</tptz:ProfileToken>"
                             "</tptz:GotoHomePosition>",
    "tptz:SetHomePosition": "<tptz:SetHomePosition><tptz:ProfileToken>{p}</tptz:ProfileToken>"
                            "</tptz:SetHomePosition>",
    "tptz:SendAuxiliaryCommand": "<tptz:SendAuxiliaryCommand><tptz:ProfileToken>{p}</tptz:ProfileToken>"
                                 "<tptz:AuxiliaryData>tt:Wiper|On</tptz:AuxiliaryData></tptz:SendAuxiliaryCommand>",
}
NAMESPACES = {"tr2": TR2, "trt": TRT, "tptz": TPTZ}


@pytest.mark.parametrize("name", CALLS)
def test_answer_is_schema_valid_and_the_operations_response(leaf: tuple[Level, str], name: str) -> None:
    level, token = leaf
    answer = call(level.base, CALLS[name].format(p=token), user=OPERATOR, password=OPERATOR_PASSWORD)
    prefix, operation = name.split("-")[0].split(":")
    assert not answer.fault, answer
    assert answer.body.tag == f"{{{NAMESPACES[prefix]}}}{operation}Response"


@pytest.mark.parametrize("body", [
    "<tptz:GetNode><tptz:NodeToken>{p}</tptz:NodeToken></tptz:GetNode>",  # a profile token is no node here
    "<tptz:GotoPreset><tptz:ProfileToken>{p}</tptz:ProfileToken><tptz:PresetToken>none</tptz:PresetToken>"
    "</tptz:GotoPreset>",
    "<tr2:GetProfiles><tr2:Token>{p}9</tr2:Token></tr2:GetProfiles>",
])
def test_the_cameras_faults_are_schema_valid_faults(leaf: tuple[Level, str], body: str) -> None:
    level, token = leaf
    answer = call(level.base, body.format(p=token), user=OPERATOR, password=OPERATOR_PASSWORD)
    assert answer.fault and answer.status in (400, 500), answer
    assert "segment cam" in answer.reason
