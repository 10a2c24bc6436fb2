"""What the device sync reads from a plain ONVIF device's replies, and the prefix it chooses (pure)."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.downstream.errors import SegmentMisbehaved
from gateway.federation import device_protocol as dp
from gateway.onvif.ns import TDS, TPTZ, TR2, TRT, TT
from gateway.vocabulary.resource import Operation

ANNEX = "34020000001320000001"


def xml(text: str) -> etree._Element:
    return etree.fromstring(f'<r xmlns:tds="{TDS}" xmlns:tt="{TT}" xmlns:tr2="{TR2}" xmlns:trt="{TRT}" '
                            f'xmlns:tptz="{TPTZ}">{text}</r>')[0]


def test_profiles_of_media2_and_media1() -> None:
    refused: list[str] = []
    body = xml('<tr2:GetProfilesResponse><tr2:Profiles token="P1" fixed="true"><tr2:Name>Main</tr2:Name>'
               '</tr2:Profiles><tr2:Profiles token="P2"/><tr2:Profiles token="P1"/><tr2:Profiles/>'
               '</tr2:GetProfilesResponse>')
    assert dp.profiles(body, TR2, refused) == [dp.Item(kind="MediaProfile", token="P1", name="Main"),
                                                dp.Item(kind="MediaProfile", token="P2", name=None)]
    assert refused == ["a MediaProfile without a token"]
    ver10 = xml('<trt:GetProfilesResponse><trt:Profiles token="a"><tt:Name>A</tt:Name></trt:Profiles>'
                '</trt:GetProfilesResponse>')
    assert dp.profiles(ver10, TRT, []) == [dp.Item(kind="MediaProfile", token="a", name="A")]
    with pytest.raises(SegmentMisbehaved, match="expected GetProfilesResponse"):
        dp.profiles(ver10, TR2, [])


def test_too_many_items_are_refused_beyond_the_cap() -> None:
    many = "".join(f'<tr2:Profiles token="p{i}"/>' for i in range(dp.MAX_ITEMS + 3))
    refused: list[str] = []
    assert len(dp.profiles(xml(f"<tr2:GetProfilesResponse>{many}</tr2:GetProfilesResponse>"), TR2, refused)) \
        == dp.MAX_ITEMS
    assert len(refused) == 3


def test_video_sources_and_nodes() -> None:
    sources = xml('<trt:GetVideoSourcesResponse><trt:VideoSources token="VS1"><tt:Framerate>25</tt:Framerate>'
                  '</trt:VideoSources></trt:GetVideoSourcesResponse>')
    assert dp.video_sources(sources, []) == [dp.Item(kind="VideoSource", token="VS1", name=None)]
    configs = xml('<tr2:GetVideoSourceConfigurationsResponse><tr2:Configurations token="c1"><tt:Name>x</tt:Name>'
                  '<tt:SourceToken>VS1</tt:SourceToken></tr2:Configurations><tr2:Configurations token="c2">'
                  '<tt:SourceToken>VS1</tt:SourceToken></tr2:Configurations><tr2:Configurations token="c3"/>'
                  '</tr2:GetVideoSourceConfigurationsResponse>')
    refused: list[str] = []
    assert dp.configured_sources(configs, refused) == [dp.Item(kind="VideoSource", token="VS1", name=None)]
    assert len(refused) == 1
    nodes = xml('<tptz:GetNodesResponse><tptz:PTZNode token="N1"><tt:Name>Head</tt:Name></tptz:PTZNode>'
                '</tptz:GetNodesResponse>')
    assert dp.nodes(nodes, []) == [dp.Item(kind="PTZNode", token="N1", name="Head")]


def test_identity_scopes_and_name() -> None:
    info = xml('<tds:GetDeviceInformationResponse><tds:Manufacturer>Acme</tds:Manufacturer><tds:Model>X1</tds:Model>'
               '<tds:FirmwareVersion>1</tds:FirmwareVersion><tds:SerialNumber>S-9</tds:SerialNumber>'
               '<tds:HardwareId>H</tds:HardwareId></tds:GetDeviceInformationResponse>')
    ident = dp.identity(info)
    assert (ident.manufacturer, ident.model, ident.serial, ident.hardware) == ("Acme", "X1", "S-9", "H")
    scopes = xml('<tds:GetScopesResponse>'
                 + "".join(f'<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>{s}</tt:ScopeItem></tds:Scopes>'
                           for s in ("onvif://www.onvif.org/name/Gate%208", "onvif://www.onvif.org/name/Gate%208",
                                     "bad scope", "onvif://www.onvif.org/location/city/x"))
                 + '</tds:GetScopesResponse>')
    got = dp.scopes(scopes)
    assert got == ("onvif://www.onvif.org/name/Gate%208", "onvif://www.onvif.org/location/city/x")
    assert dp.device_name(got, ident) == "Gate 8"
    assert dp.device_name((), ident) == "Acme X1" and dp.device_name((), dp.Identity()) is None


def test_geo_location_and_clock() -> None:
    geo = xml('<tds:GetGeoLocationResponse><tds:Location><tt:GeoLocation lon="x" lat="1"/></tds:Location>'
              '<tds:Location><tt:GeoLocation lon="118.79" lat="32.06" elevation="12.5"/></tds:Location>'
              '</tds:GetGeoLocationResponse>')
    assert dp.geo_location(geo) == (32.06, 118.79, 12.5)
    for bad in ('lon="200" lat="0"', 'lon="nan" lat="0"', 'lon="1"'):
        assert dp.geo_location(xml(f'<tds:GetGeoLocationResponse><tds:Location><tt:GeoLocation {bad}/>'
                                   '</tds:Location></tds:GetGeoLocationResponse>')) is None
    clock = xml('<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime><tt:Time><tt:Hour>1'
                '</tt:Hour><tt:Minute>2</tt:Minute><tt:Second>3</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year>'
                '<tt:Month>12</tt:Month><tt:Day>7</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>'
                '</tds:GetSystemDateAndTimeResponse>')
    when = dp.clock(clock)
    assert when is not None and when.isoformat() == "2026-12-07T01:02:03+00:00"
    broken = etree.tostring(clock).replace(b">12<", b">13<")
    assert dp.clock(etree.fromstring(broken)) is None


def test_the_prefix_prefers_the_annex_a_id_then_the_setting_then_the_identity() -> None:
    ident = dp.Identity(manufacturer="Acme", model="X1", serial="S-9")
    assert dp.device_prefix((f"onvif://www.onvif.org/deviceid/{ANNEX}",), ident, "mine", "cam") == ANNEX
    assert dp.device_prefix((), dp.Identity(serial=ANNEX), "mine", "cam") == ANNEX
    assert dp.device_prefix(("onvif://www.onvif.org/name/12345",), ident, "mine", "cam") == "mine"
    derived = dp.device_prefix((), ident, None, "cam")
    assert derived.startswith(dp.IDENTITY_MARK) and len(derived) == 22
    assert dp.device_prefix((), ident, None, "other") == derived  # the device's, not the segment's
    assert dp.device_prefix((), dp.Identity(serial="S-10"), None, "cam") != derived
    assert dp.device_prefix((), dp.Identity(manufacturer="Acme"), None, "cam 1!") == "cam1"


def test_updates_carry_the_prefix_location_and_scopes() -> None:
    inventory = dp.Inventory(identity=dp.Identity(), scopes=("s:1",), location=(1.0, 2.0, None),
                             items=(dp.Item(kind="MediaProfile", token="P1", name="Main"),
                                    dp.Item(kind="VideoSource", token="VS1", name=None)))
    (first, second), refused = dp.updates("gate8", inventory, "Gate 8")
    assert refused == []
    assert (first.operation, first.token, first.name, first.location, first.scopes, first.offline) == (
        Operation.INITIALIZED, "gate8:P1", "Main", (1.0, 2.0, None), ("s:1",), False)
    assert (second.kind, second.token, second.name) == ("VideoSource", "gate8:VS1", "Gate 8")
    (gone,) = dp.deleted({("MediaProfile", "gate8:P2")})
    assert (gone.operation, gone.token) == (Operation.DELETED, "gate8:P2")
