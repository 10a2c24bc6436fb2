"""The fake camera's answers, read by zeep from the official WSDLs and validated against the official schemas."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.fakes.camera.client import CameraClient, subcodes
from tests.fakes.camera.fixture import Camera, start_camera
from tests.fakes.conftest import USER

TT = "http://www.onvif.org/ver10/schema"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"
FAULT = "{http://www.w3.org/2003/05/soap-envelope}Fault"
STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}

#: (service, operation, arguments): every operation the camera implements, in a valid call.
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("device", "GetServices", {"IncludeCapability": True}),
    ("device", "GetServices", {"IncludeCapability": False}),
    ("device", "GetServiceCapabilities", {}),
    ("device", "GetCapabilities", {"Category": ["All"]}),
    ("device", "GetCapabilities", {"Category": ["Media", "PTZ"]}),
    ("device", "GetDeviceInformation", {}),
    ("device", "GetScopes", {}),
    ("device", "GetSystemDateAndTime", {}),
    ("device", "GetGeoLocation", {}),
    ("device", "GetHostname", {}),
    ("device", "GetNetworkInterfaces", {}),
    ("media2", "GetServiceCapabilities", {}),
    ("media2", "GetProfiles", {}),
    ("media2", "GetProfiles", {"Type": ["All"]}),
    ("media2", "GetProfiles", {"Token": "Profile_2", "Type": ["VideoEncoder", "PTZ"]}),
    ("media2", "GetStreamUri", {"Protocol": "RTSP", "ProfileToken": "Profile_1"}),
    ("media2", "GetStreamUri", {"Protocol": "RtspOverHttp", "ProfileToken": "Profile_2"}),
    ("media2", "GetSnapshotUri", {"ProfileToken": "Profile_1"}),
    ("media2", "GetVideoSourceConfigurations", {}),
    ("media2", "GetVideoEncoderConfigurations", {"ProfileToken": "Profile_2"}),
    ("media", "GetServiceCapabilities", {}),
    ("media", "GetProfiles", {}),
    ("media", "GetProfile", {"ProfileToken": "Profile_1"}),
    ("media", "GetStreamUri", {"StreamSetup": STREAM_SETUP, "ProfileToken": "Profile_1"}),
    ("media", "GetSnapshotUri", {"ProfileToken": "Profile_2"}),
    ("media", "GetVideoSources", {}),
    ("media", "GetVideoSourceConfigurations", {}),
    ("media", "GetVideoSourceConfiguration", {"ConfigurationToken": "VideoSourceConfig_1"}),
    ("media", "GetVideoEncoderConfigurations", {}),
    ("media", "GetVideoEncoderConfiguration", {"ConfigurationToken": "VideoEncoderConfig_2"}),
    ("media", "GetVideoEncoderConfigurationOptions", {"ConfigurationToken": "VideoEncoderConfig_1"}),
    ("media", "GetVideoEncoderConfigurationOptions", {"ProfileToken": "Profile_2"}),
    ("media", "GetVideoSourceConfigurationOptions", {}),
    ("media", "GetCompatibleVideoEncoderConfigurations", {"ProfileToken": "Profile_1"}),
    ("media", "GetCompatibleVideoSourceConfigurations", {"ProfileToken": "Profile_1"}),
    ("media", "GetGuaranteedNumberOfVideoEncoderInstances", {"ConfigurationToken": "VideoSourceConfig_1"}),
    ("media", "GetVideoSourceModes", {"VideoSourceToken": "VideoSource_1"}),
    ("media", "GetAudioSources", {}),
    ("media", "GetAudioSourceConfigurations", {}),
    ("media", "GetAudioEncoderConfigurations", {}),
    ("media", "GetMetadataConfigurations", {}),
    ("media2", "GetVideoEncoderConfigurationOptions", {"ProfileToken": "Profile_1"}),
    ("media2", "GetVideoSourceConfigurationOptions", {"ConfigurationToken": "VideoSourceConfig_1"}),
    ("media2", "GetVideoEncoderInstances", {"ConfigurationToken": "VideoSourceConfig_1"}),
    ("media2", "GetVideoSourceModes", {"VideoSourceToken": "VideoSource_1"}),
    ("media2", "GetAudioSourceConfigurations", {}),
    ("media2", "GetAudioEncoderConfigurations", {}),
    ("media2", "GetMetadataConfigurations", {}),
    ("media2", "GetOSDs", {}),
    ("ptz", "GetServiceCapabilities", {}),
    ("ptz", "GetNodes", {}),
    ("ptz", "GetNode", {"NodeToken": "PTZNode_1"}),
    ("ptz", "GetConfigurations", {}),
    ("ptz", "GetConfiguration", {"PTZConfigurationToken": "PTZConfig_1"}),
    ("ptz", "GetConfigurationOptions", {"ConfigurationToken": "PTZConfig_1"}),
    ("ptz", "GetStatus", {"ProfileToken": "Profile_1"}),
    ("ptz", "GetPresets", {"ProfileToken": "Profile_1"}),
    ("ptz", "Stop", {"ProfileToken": "Profile_1", "PanTilt": True, "Zoom": True}),
    ("ptz", "SendAuxiliaryCommand", {"ProfileToken": "Profile_1", "AuxiliaryData": "tt:Wiper|On"}),
    ("events", "GetServiceCapabilities", {}),
    ("events", "GetEventProperties", {}),
    ("events", "CreatePullPointSubscription", {"InitialTerminationTime": "PT60S"}),
]


@pytest.mark.parametrize(("service", "operation", "arguments"), CALLS,
                         ids=[f"{s}-{o}-{i}" for i, (s, o, _) in enumerate(CALLS)])
def test_every_answer_is_valid(ws: CameraClient, service: str, operation: str, arguments: dict[str, Any]) -> None:
    body = ws.answer(service, operation, **arguments)
    assert body.tag != FAULT, etree.tostring(body)
    assert etree.QName(body).localname == operation + "Response"


@pytest.mark.parametrize(("service", "operation", "arguments", "codes"), [
    ("media2", "GetProfiles", {"Token": "Profile_9"}, ["InvalidArgVal", "NoProfile"]),
    ("media2", "GetStreamUri", {"Protocol": "RTSP", "ProfileToken": "nope"}, ["InvalidArgVal", "NoProfile"]),
    ("media2", "GetStreamUri", {"Protocol": "RtspMulticast", "ProfileToken": "Profile_1"},
     ["InvalidArgVal", "InvalidStreamSetup"]),
    ("media2", "GetSnapshotUri", {"ProfileToken": "x:Profile_1"}, ["InvalidArgVal", "NoProfile"]),
    ("media2", "GetVideoEncoderConfigurations", {"ConfigurationToken": "VideoEncoderConfig_7"},
     ["InvalidArgVal", "NoConfig"]),
    ("media", "GetProfile", {"ProfileToken": "Profile_3"}, ["InvalidArgVal", "NoProfile"]),
    ("media", "GetStreamUri", {"StreamSetup": {"Stream": "RTP-Multicast", "Transport": {"Protocol": "UDP"}},
                               "ProfileToken": "Profile_1"}, ["InvalidArgVal", "InvalidStreamSetup"]),
    ("media", "GetVideoEncoderConfiguration", {"ConfigurationToken": "nope"}, ["InvalidArgVal", "NoConfig"]),
    ("media", "GetVideoEncoderConfigurationOptions", {"ConfigurationToken": "VideoSourceConfig_1"},
     ["InvalidArgVal", "NoConfig"]),
    ("media", "GetVideoSourceModes", {"VideoSourceToken": "Profile_1"}, ["InvalidArgVal", "NoVideoSource"]),
    ("media2", "GetVideoSourceConfigurationOptions", {"ProfileToken": "Profile_7"}, ["InvalidArgVal", "NoProfile"]),
    ("media2", "GetVideoEncoderInstances", {"ConfigurationToken": "VideoEncoderConfig_1"},
     ["InvalidArgVal", "NoConfig"]),
    ("ptz", "GetStatus", {"ProfileToken": "Profile_9"}, ["InvalidArgVal", "NoProfile"]),
    ("ptz", "GotoPreset", {"ProfileToken": "Profile_1", "PresetToken": "Preset_404"}, ["InvalidArgVal", "NoToken"]),
    ("ptz", "RemovePreset", {"ProfileToken": "Profile_1", "PresetToken": "Preset_404"}, ["InvalidArgVal", "NoToken"]),
    ("ptz", "GetNode", {"NodeToken": "PTZNode_2"}, ["InvalidArgVal", "NoEntity"]),
    ("ptz", "GetConfiguration", {"PTZConfigurationToken": "PTZConfig_2"}, ["InvalidArgVal", "NoConfig"]),
    ("ptz", "ContinuousMove", {"ProfileToken": "Profile_1", "Velocity": {"PanTilt": {"x": 2.0, "y": 0}}},
     ["InvalidArgVal", "InvalidVelocity"]),
    ("ptz", "AbsoluteMove", {"ProfileToken": "Profile_1", "Position": {"Zoom": {"x": -0.5}}},
     ["InvalidArgVal", "InvalidPosition"]),
    ("ptz", "AbsoluteMove", {"ProfileToken": "Profile_1",
                             "Position": {"PanTilt": {"x": 0, "y": 0, "space": "http://example.com/degrees"}}},
     ["InvalidArgVal", "SpaceNotSupported"]),
    ("ptz", "SendAuxiliaryCommand", {"ProfileToken": "Profile_1", "AuxiliaryData": "tt:SelfDestruct|On"},
     ["InvalidArgVal"]),
    ("device", "GetCapabilities", {"Category": ["Imaging"]}, ["ActionNotSupported", "NoSuchService"]),
])
def test_faults_are_those_of_real_devices(ws: CameraClient, service: str, operation: str,
                                          arguments: dict[str, Any], codes: list[str]) -> None:
    body = ws.answer(service, operation, **arguments)
    assert body.tag == FAULT, etree.tostring(body)
    assert subcodes(body) == [f"ter:{c}" for c in codes]


def test_get_services_lists_what_the_camera_has(ws: CameraClient, camera: Camera) -> None:
    body = ws.answer("device", "GetServices", IncludeCapability=True)
    xaddrs = {s.findtext(f"{{{TDS}}}Namespace"): s.findtext(f"{{{TDS}}}XAddr") for s in body}
    assert xaddrs == {TDS: camera.url, TRT: camera.base + "/onvif/media_service",
                      TR2: camera.base + "/onvif/media2_service", TPTZ: camera.base + "/onvif/ptz_service",
                      TEV: camera.base + "/onvif/event_service"}
    media2 = next(s for s in body if s.findtext(f"{{{TDS}}}Namespace") == TR2)
    assert media2.find(f"{{{TDS}}}Capabilities/{{{TR2}}}Capabilities").get("SnapshotUri") == "true"


def test_media2_profiles_carry_configurations_only_when_asked(ws: CameraClient) -> None:
    bare = ws.answer("media2", "GetProfiles")
    assert [(p.get("token"), p.findtext(f"{{{TR2}}}Name")) for p in bare] == [
        ("Profile_1", "mainStream"), ("Profile_2", "subStream")]
    assert all(p.find(f"{{{TR2}}}Configurations") is None for p in bare)
    full = ws.answer("media2", "GetProfiles", Type=["All"])
    sets = [p.find(f"{{{TR2}}}Configurations") for p in full]
    assert [s.find(f"{{{TR2}}}VideoSource").get("token") for s in sets] == ["VideoSourceConfig_1"] * 2
    assert [s.find(f"{{{TR2}}}VideoSource").findtext(f"{{{TT}}}SourceToken") for s in sets] == ["VideoSource_1"] * 2
    assert [s.find(f"{{{TR2}}}VideoEncoder").get("token") for s in sets] == ["VideoEncoderConfig_1",
                                                                            "VideoEncoderConfig_2"]
    assert [s.find(f"{{{TR2}}}PTZ").findtext(f"{{{TT}}}NodeToken") for s in sets] == ["PTZNode_1"] * 2
    sizes = [(s.findtext(f"{{{TR2}}}VideoEncoder/{{{TT}}}Resolution/{{{TT}}}Width"),
              s.findtext(f"{{{TR2}}}VideoEncoder/{{{TT}}}Resolution/{{{TT}}}Height")) for s in sets]
    assert sizes == [("320", "240"), ("160", "120")]


def test_stream_and_snapshot_uris_point_at_the_profiles(ws: CameraClient, camera: Camera) -> None:
    uri = ws.answer("media2", "GetStreamUri", Protocol="RtspUnicast", ProfileToken="Profile_2")
    assert uri.findtext(f"{{{TR2}}}Uri") == camera.stream_url(2)
    media1 = ws.answer("media", "GetStreamUri", StreamSetup=STREAM_SETUP, ProfileToken="Profile_1")
    assert media1.findtext(f"{{{TRT}}}MediaUri/{{{TT}}}Uri") == camera.stream_url(1)
    snap = ws.answer("media2", "GetSnapshotUri", ProfileToken="Profile_1")
    assert snap.findtext(f"{{{TR2}}}Uri") == camera.base + "/onvif/snapshot/profile1.jpg"


def test_identity_scopes_and_location(ws: CameraClient) -> None:
    info = ws.answer("device", "GetDeviceInformation")
    assert info.findtext(f"{{{TDS}}}SerialNumber") == "32010001071321008015"
    scopes = [s.findtext(f"{{{TT}}}ScopeItem") for s in ws.answer("device", "GetScopes")]
    assert "onvif://www.onvif.org/name/Fake%20camera" in scopes and "onvif://www.onvif.org/type/ptz" in scopes
    geo = ws.answer("device", "GetGeoLocation").find(f"{{{TDS}}}Location/{{{TT}}}GeoLocation")
    assert (float(geo.get("lat")), float(geo.get("lon")), float(geo.get("elevation"))) == (32.0603, 118.7969, 12.5)


def test_digest_clients_get_the_same_answers(digest: CameraClient, camera: Camera) -> None:
    body = digest.answer("media2", "GetProfiles", Token="Profile_1", Type=["All"])
    assert body[0].get("token") == "Profile_1"
    assert camera.calls("GetProfiles")[-1]["auth"] == "digest"
    assert camera.calls("GetProfiles")[-1]["user"] == USER


def test_a_camera_without_location_or_media2_or_ptz_says_so(tmp_path: Path) -> None:
    with start_camera(tmp_path, user=USER, password="pw", media2=False, profiles=1) as cam:
        client = CameraClient(cam.base, USER, "pw")
        namespaces = {s.findtext(f"{{{TDS}}}Namespace") for s in client.answer("device", "GetServices",
                                                                              IncludeCapability=False)}
        assert namespaces == {TDS, TRT, TEV}
        assert subcodes(client.answer("device", "GetGeoLocation")) == ["ter:ActionNotSupported"]
        assert [p.get("token") for p in client.answer("media", "GetProfiles")] == ["Profile_1"]
        assert subcodes(client.answer("device", "GetCapabilities", Category=["PTZ"])) == [
            "ter:ActionNotSupported", "ter:NoSuchService"]


def test_an_advertised_host_is_what_the_camera_tells(tmp_path: Path) -> None:
    """A camera behind NAT names an address its clients cannot reach; only the gateway's own URIs help them."""
    with start_camera(tmp_path, advertise="10.20.30.40") as cam:
        client = CameraClient(cam.base, None, None)
        for service in client.answer("device", "GetServices", IncludeCapability=False):
            assert service.findtext(f"{{{TDS}}}XAddr").startswith("http://10.20.30.40:")
        uri = client.answer("media2", "GetStreamUri", Protocol="RTSP", ProfileToken="Profile_1")
        assert uri.findtext(f"{{{TR2}}}Uri").startswith("rtsp://10.20.30.40:")
