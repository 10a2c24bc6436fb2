"""The host rule for addresses a device reports (docs/wire-format.md §12.3), including hostile URLs."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.catalog.model import Segment
from gateway.downstream import wire
from gateway.downstream.errors import SegmentMisbehaved
from gateway.downstream.reach import direct_device, reachable
from gateway.onvif.ns import TDS, TR2

CONFIGURED = "http://cam.example.net:8081/onvif/device_service"


@pytest.mark.parametrize(("reported", "expected"), [
    # another host: the configured scheme, host and port, the device's path and query
    ("http://192.168.1.10/onvif/media2_service", "http://cam.example.net:8081/onvif/media2_service"),
    ("http://192.168.1.10:80/onvif/ptz?x=1", "http://cam.example.net:8081/onvif/ptz?x=1"),
    ("https://10.0.0.7:443/snap.jpg", "http://cam.example.net:8081/snap.jpg"),
    ("http://[fd00::7]:8080/onvif/media", "http://cam.example.net:8081/onvif/media"),
    # RTSP keeps its scheme, port, path, query and login: only the host is the configured one
    ("rtsp://192.168.1.10:554/Streaming/101?transportmode=unicast",
     "rtsp://cam.example.net:554/Streaming/101?transportmode=unicast"),
    ("rtsp://admin:pw@192.168.1.10/live", "rtsp://admin:pw@cam.example.net/live"),
    # the configured host (any case): kept as it is, another port being a real second server
    ("http://CAM.example.net:8000/onvif/media", "http://CAM.example.net:8000/onvif/media"),
    ("rtsp://cam.example.net:10554/live", "rtsp://cam.example.net:10554/live"),
    # unparsable: returned unchanged, for the caller to refuse
    ("http://[not-an-address/x", "http://[not-an-address/x"),
    ("http://192.168.1.10:99999/x", "http://192.168.1.10:99999/x"),
    ("no url at all", "no url at all"),
])
def test_reported_addresses_on_another_host_go_where_the_segment_was_added(reported: str, expected: str) -> None:
    assert reachable(CONFIGURED, reported) == expected


def test_an_ipv6_configured_host_keeps_its_brackets_and_a_login_in_it_is_not_copied() -> None:
    assert reachable("http://u:p@[2001:db8::1]:8080/onvif/device_service", "rtsp://10.1.1.1:554/a") == \
        "rtsp://[2001:db8::1]:554/a"
    assert reachable("http://u:p@[2001:db8::1]:8080/onvif/device_service", "http://10.1.1.1/b") == \
        "http://[2001:db8::1]:8080/b"


def test_only_directly_dialled_devices_are_re_addressed() -> None:
    device = Segment(name="cam", url=CONFIGURED, user="u", password="p", kind="device")
    assert direct_device(device) == CONFIGURED
    assert direct_device(Segment(name="leaf", url=CONFIGURED, user="u", password="p")) is None  # a gateway answers the address it was asked
    assert direct_device(Segment(name="cam", url=CONFIGURED, user="", password="", kind="device",
                                 uplink_identity="cam-1")) is None


def test_get_services_xaddrs_are_re_addressed_and_a_bad_one_is_still_refused() -> None:
    body = etree.Element(f"{{{TDS}}}GetServicesResponse")
    service = etree.SubElement(body, f"{{{TDS}}}Service")
    etree.SubElement(service, f"{{{TDS}}}Namespace").text = TR2
    etree.SubElement(service, f"{{{TDS}}}XAddr").text = " http://192.168.1.10/onvif/media2_service "
    assert wire.service_addresses(body, CONFIGURED) == {TR2: "http://cam.example.net:8081/onvif/media2_service"}
    assert wire.service_addresses(body) == {TR2: "http://192.168.1.10/onvif/media2_service"}
    service.find(f"{{{TDS}}}XAddr").text = "rtsp://192.168.1.10/onvif"  # type: ignore[union-attr]
    with pytest.raises(SegmentMisbehaved):
        wire.service_addresses(body, CONFIGURED)
