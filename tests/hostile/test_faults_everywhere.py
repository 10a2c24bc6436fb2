"""A real gateway process answers every POST with a SOAP 1.2 fault or a valid response, whatever path or body.

Paths that are no endpoint, each endpoint's unknown and unimplemented operations, wrong media types, empty
and garbage bodies, a Host header it cannot use: checked for code, subcode, HTTP status and content type.
"""
from __future__ import annotations

import socket

import httpx
import pytest
from lxml import etree

from tests.hostile.test_gateway_hostile import envelope, post
from tests.interop.conftest import Gateway

pytestmark = pytest.mark.interop

SOAP = "http://www.w3.org/2003/05/soap-envelope"
TER = "http://www.onvif.org/ver10/error"
WSA = "http://www.w3.org/2005/08/addressing"
SOAP_CT = "application/soap+xml; charset=utf-8"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
NOT_AN_ENDPOINT = ("/onvif/Media", "/onvif/imaging_service", "/onvif/analytics_service", "/", "/onvif/device_service/x",
                   "/onvif/pullpoint/", "/onvif/Device_Service")


def qnames(resp: httpx.Response) -> tuple[list[str], str]:
    """The fault's code and subcodes as Clark QNames, resolved in the reply's own scope, and its reason."""
    doc = etree.fromstring(resp.content)
    names = []
    for value in doc.iter(f"{{{SOAP}}}Value"):
        prefix, local = (value.text or "").split(":")
        names.append(f"{{{value.nsmap[prefix]}}}{local}")
    return names, doc.findtext(f".//{{{SOAP}}}Reason/{{{SOAP}}}Text") or ""


def assert_fault(resp: httpx.Response, status: int, code: str, *subcodes: str) -> str:
    assert (resp.status_code, resp.headers["content-type"]) == (status, SOAP_CT), resp.text
    names, reason = qnames(resp)
    assert names == [f"{{{SOAP}}}{code}", *subcodes]
    return reason


@pytest.mark.parametrize("path", NOT_AN_ENDPOINT)
def test_a_post_to_a_path_that_is_no_endpoint_is_a_404_fault(gateway: Gateway, path: str) -> None:
    reason = assert_fault(post(gateway, envelope("<tds:GetCapabilities/>"), path), 404, "Sender",
                          f"{{{WSA}}}DestinationUnreachable")
    assert path in reason


@pytest.mark.parametrize(("body", "ctype"), [
    (b"\x00\xff garbage", "application/soap+xml"), (b"", "application/soap+xml"), (b"{}", "application/json"),
    (b"<a/>", None), (b"x" * 100_000, "text/plain"),
])
def test_whatever_the_body_or_media_type_a_non_endpoint_is_a_404_fault(gateway: Gateway, body: bytes,
                                                                        ctype: str | None) -> None:
    headers = {} if ctype is None else {"content-type": ctype}
    resp = httpx.post(gateway.base + "/onvif/Media", content=body, headers=headers, timeout=30)
    assert_fault(resp, 404, "Sender", f"{{{WSA}}}DestinationUnreachable")


def test_a_get_of_an_unknown_path_may_stay_plain(gateway: Gateway) -> None:
    assert httpx.get(gateway.base + "/onvif/Media", timeout=30).status_code == 404


def test_a_wrong_media_type_at_an_endpoint_is_a_415_fault(gateway: Gateway) -> None:
    resp = httpx.post(gateway.url, content=envelope("<tds:GetCapabilities/>"),
                      headers={"content-type": "application/json"}, timeout=30)
    assert_fault(resp, 415, "Sender", f"{{{TER}}}InvalidArgs")


def test_an_empty_body_at_an_endpoint_is_a_well_formedness_fault(gateway: Gateway) -> None:
    assert_fault(post(gateway, b"", "/onvif/device_service"), 400, "Sender", f"{{{TER}}}WellFormed")


def test_a_post_to_the_wsdl_tree_is_a_405_fault(gateway: Gateway) -> None:
    resp = post(gateway, envelope("<tds:GetCapabilities/>"), "/onvif/wsdl/ver10/device/wsdl/devicemgmt.wsdl")
    assert_fault(resp, 405, "Sender", f"{{{WSA}}}DestinationUnreachable")
    assert resp.headers["allow"] == "GET"


def test_an_unusable_host_header_is_a_400_fault(gateway: Gateway) -> None:
    body = envelope("<tds:GetCapabilities/>")
    host, port = gateway.base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /onvif/device_service HTTP/1.1\r\nHost: evil.example/<x>\r\n"
                     b"Content-Type: application/soap+xml\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"400"
    assert b"content-type: application/soap+xml; charset=utf-8" in head.lower()
    assert b"InvalidArgs" in payload and b"Envelope" in payload


#: (path, a body no WSDL of that endpoint defines, a WSDL operation it does not implement).
ENDPOINTS = [
    ("/onvif/device_service", "<tds:Frobnicate/>", "<tds:GetNTP/>", "GetNTP"),
    ("/onvif/device_service", "<tev:PullMessages/>", "<tds:GetZeroConfiguration/>", "GetZeroConfiguration"),
    ("/onvif/event_service", "<tev:GetNTP/>", "<tev:AddEventBroker/>", "AddEventBroker"),
    ("/onvif/event_service", "<tds:GetServices/>", "<wsnt:Subscribe/>", "Subscribe"),
    ("/onvif/pullpoint/no-such-id", "<tev:CreatePullPointSubscription/>", "<tev:Seek/>", "Seek"),
    ("/onvif/uplink_service", '<tup:GetUplinkStatistics xmlns:tup="http://www.onvif.org/ver10/uplink/wsdl"/>',
     '<tds:GetUplinks/>', ""),
    ("/onvif/media_service", f'<trt:Frobnicate xmlns:trt="{TRT}"/>', f'<trt:CreateProfile xmlns:trt="{TRT}"/>',
     "CreateProfile"),
    ("/onvif/media2_service", f'<tr2:GetProfile xmlns:tr2="{TR2}"/>', f'<tr2:DeleteProfile xmlns:tr2="{TR2}"/>',
     "DeleteProfile"),
    ("/onvif/ptz_service", "<tds:GetScopes/>", f'<tptz:CreatePresetTour xmlns:tptz="{TPTZ}"/>', "CreatePresetTour"),
]


@pytest.mark.parametrize(("path", "unknown", "optional", "name"), ENDPOINTS)
def test_each_endpoint_tells_unknown_from_unimplemented_operations(gateway: Gateway, path: str, unknown: str,
                                                                    optional: str, name: str) -> None:
    reason = assert_fault(post(gateway, envelope(unknown), path), 400, "Sender", f"{{{TER}}}UnknownAction")
    assert reason.startswith("Unknown Action")
    if name:
        reason = assert_fault(post(gateway, envelope(optional), path), 500, "Receiver",
                              f"{{{TER}}}ActionNotSupported")
        assert reason == f"Optional Action Not Implemented: {name}"
    else:  # a device operation's name in the uplink service is no uplink operation
        assert_fault(post(gateway, envelope(optional), path), 400, "Sender", f"{{{TER}}}UnknownAction")


def test_a_live_pull_point_answers_seek_as_not_implemented(gateway: Gateway) -> None:
    created = post(gateway, envelope("<tev:CreatePullPointSubscription/>"))
    assert created.status_code == 200, created.text
    address = etree.fromstring(created.content).findtext(f".//{{{WSA}}}Address")
    assert address is not None
    path = address.removeprefix(gateway.base)
    reason = assert_fault(post(gateway, envelope("<tev:Seek><tev:UtcTime>2026-01-01T00:00:00Z</tev:UtcTime></tev:Seek>"),
                               path), 500, "Receiver", f"{{{TER}}}ActionNotSupported")
    assert reason == "Optional Action Not Implemented: Seek"
    assert post(gateway, envelope("<wsnt:Unsubscribe/>"), path).status_code == 200


def test_an_unknown_pull_point_stays_resource_unknown(gateway: Gateway) -> None:
    resp = post(gateway, envelope("<wsnt:Unsubscribe/>"), "/onvif/pullpoint/no-such-id")
    assert_fault(resp, 400, "Sender", "{http://docs.oasis-open.org/wsrf/r-2}ResourceUnknownFault")
