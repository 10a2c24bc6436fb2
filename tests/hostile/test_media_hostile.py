"""Media, Media2 and PTZ at a gateway without segments: every token it cannot forward gets the device's fault.

The catalog holds only imported resources (no segment behind them), so every one of their tokens is local, and
every other token is foreign; neither may reach a device, and neither may crash or hang a call.
"""
from __future__ import annotations

import pytest

from tests.interop.conftest import Gateway, run_cli
from tests.interop.media_kit import TR2, TRT, call

pytestmark = pytest.mark.interop

LOCAL = "32010001071321008015:Profile_1"  # imported by CSV (tests/interop/conftest.py)
OPERATOR, OPERATOR_PASSWORD = "olga", "operator password"


@pytest.fixture(scope="module")
def operator(gateway: Gateway) -> str:
    run_cli("user", "add", OPERATOR, "--level", "operator", db=gateway.db, input=OPERATOR_PASSWORD + "\n")
    return OPERATOR


@pytest.mark.parametrize("body", [
    f"<tr2:GetProfiles><tr2:Token>{LOCAL}</tr2:Token></tr2:GetProfiles>",
    f"<tr2:GetStreamUri><tr2:Protocol>RtspOverHttp</tr2:Protocol><tr2:ProfileToken>{LOCAL}</tr2:ProfileToken>"
    "</tr2:GetStreamUri>",
    f"<tr2:GetSnapshotUri><tr2:ProfileToken>{LOCAL}</tr2:ProfileToken></tr2:GetSnapshotUri>",
    f"<trt:GetProfile><trt:ProfileToken>{LOCAL}</trt:ProfileToken></trt:GetProfile>",
    f"<trt:GetSnapshotUri><trt:ProfileToken>{LOCAL}</trt:ProfileToken></trt:GetSnapshotUri>",
])
def test_a_token_of_an_imported_resource_is_no_profile_saying_why(gateway: Gateway, body: str) -> None:
    answer = call(gateway.base, body)
    assert (answer.status, answer.subcodes) == (400, ["Sender", "InvalidArgVal", "NoProfile"]), answer
    assert "own catalog" in answer.reason


@pytest.mark.parametrize(("body", "subcode"), [
    ("<tr2:GetProfiles><tr2:Token>elsewhere:Profile_1</tr2:Token></tr2:GetProfiles>", "NoProfile"),
    ("<tr2:GetProfiles><tr2:Token>no-colon</tr2:Token></tr2:GetProfiles>", "NoProfile"),
    ("<tr2:GetVideoSourceConfigurations><tr2:ConfigurationToken>elsewhere:VSC</tr2:ConfigurationToken>"
     "</tr2:GetVideoSourceConfigurations>", "NoConfig"),
    ("<trt:GetVideoEncoderConfiguration><trt:ConfigurationToken>x:y</trt:ConfigurationToken>"
     "</trt:GetVideoEncoderConfiguration>", "NoConfig"),
    ("<tptz:GetNode><tptz:NodeToken>elsewhere:Node</tptz:NodeToken></tptz:GetNode>", "NoEntity"),
    ("<tptz:GetStatus><tptz:ProfileToken>elsewhere:P</tptz:ProfileToken></tptz:GetStatus>", "NoProfile"),
])
def test_a_token_this_gateway_never_handed_out_is_the_devices_fault(gateway: Gateway, body: str,
                                                                    subcode: str) -> None:
    answer = call(gateway.base, body)
    assert (answer.status, answer.subcodes) == (400, ["Sender", "InvalidArgVal", subcode]), answer
    assert "not handed out by this gateway" in answer.reason


def test_moves_need_actuate_which_a_user_lacks(gateway: Gateway, operator: str) -> None:
    move = (f"<tptz:ContinuousMove><tptz:ProfileToken>{LOCAL}</tptz:ProfileToken><tptz:Velocity>"
            '<tt:PanTilt x="0.5" y="0"/></tptz:Velocity></tptz:ContinuousMove>')
    assert call(gateway.base, move).subcodes == ["Sender", "NotAuthorized"]
    as_operator = call(gateway.base, move, user=operator, password=OPERATOR_PASSWORD)
    assert as_operator.subcodes == ["Sender", "InvalidArgVal", "NoProfile"], as_operator
    assert call(gateway.base, "<tr2:GetProfiles/>", user=None).subcodes == ["Sender", "NotAuthorized"]


@pytest.mark.parametrize(("body", "subcodes"), [
    (f"<tr2:GetStreamUri><tr2:Protocol>RtspMulticast</tr2:Protocol><tr2:ProfileToken>{LOCAL}</tr2:ProfileToken>"
     "</tr2:GetStreamUri>", ["Sender", "InvalidArgVal", "InvalidStreamSetup"]),
    (f"<tr2:GetStreamUri><tr2:ProfileToken>{LOCAL}</tr2:ProfileToken></tr2:GetStreamUri>",
     ["Sender", "InvalidArgVal", "InvalidStreamSetup"]),
    ("<tr2:GetStreamUri><tr2:Protocol>RtspOverHttp</tr2:Protocol></tr2:GetStreamUri>", ["Sender", "InvalidArgs"]),
    (f"<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Multicast</tt:Stream><tt:Transport><tt:Protocol>UDP"
     f"</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>{LOCAL}</trt:ProfileToken></trt:GetStreamUri>",
     ["Sender", "InvalidArgVal", "InvalidStreamSetup"]),
    ("<tr2:GetVideoSourceModes/>", ["Sender", "InvalidArgs"]),
    ("<trt:GetProfile/>", ["Sender", "InvalidArgs"]),
    (f"<tr2:GetStreamUri><tr2:Protocol>RtspUnicast</tr2:Protocol><tr2:ProfileToken>{LOCAL}</tr2:ProfileToken>"
     "</tr2:GetStreamUri>", ["Sender", "InvalidArgVal", "InvalidStreamSetup"]),  # no --rtsp-listen here
])
def test_malformed_requests_are_the_clients_mistake(gateway: Gateway, body: str, subcodes: list[str]) -> None:
    answer = call(gateway.base, body)
    assert (answer.status, answer.subcodes) == (400, subcodes), answer


@pytest.mark.parametrize("body", ["<tr2:GetProfiles/>", "<trt:GetProfiles/>", "<trt:GetVideoSources/>",
                                  "<tptz:GetNodes/>", "<tr2:GetVideoEncoderConfigurations/>"])
def test_a_listing_without_segments_is_empty_not_a_fault(gateway: Gateway, body: str) -> None:
    answer = call(gateway.base, body)
    assert (answer.status, answer.fault, len(answer.body)) == (200, False, 0), answer


@pytest.mark.parametrize("body", ["<tr2:GetServiceCapabilities/>", "<trt:GetServiceCapabilities/>",
                                  "<tptz:GetServiceCapabilities/>"])
def test_service_capabilities_are_pre_auth_and_valid(gateway: Gateway, body: str) -> None:
    answer = call(gateway.base, body, user=None)
    assert (answer.status, answer.fault) == (200, False), answer
    assert answer.body[0].get("SnapshotUri", "true") == "true"
    assert answer.body.tag.split("}")[0][1:] in (TR2, TRT, "http://www.onvif.org/ver20/ptz/wsdl")
