"""Hostile and malformed requests get the HTTP errors and SOAP faults a device gives, and the camera lives on."""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import etree

from tests.fakes.camera.fixture import Camera
from tests.fakes.conftest import PASSWORD, USER

ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP = {"Content-Type": "application/soap+xml; charset=utf-8"}
AUTH = httpx.DigestAuth(USER, PASSWORD)


def envelope(body: str, ns: str = ENV) -> bytes:
    return f'<s:Envelope xmlns:s="{ns}"><s:Body>{body}</s:Body></s:Envelope>'.encode()


def codes(reply: httpx.Response) -> list[str]:
    fault = etree.fromstring(reply.content).find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
    assert fault is not None, reply.text
    return [v.text or "" for v in fault.iter(f"{{{ENV}}}Value")]


def post(camera: Camera, body: bytes, service: str = "device_service", headers: dict[str, str] | None = None,
         auth: httpx.Auth | None = AUTH) -> httpx.Response:
    return httpx.post(f"{camera.base}/onvif/{service}", content=body, headers=headers or SOAP, auth=auth, timeout=10)


@pytest.mark.parametrize(("body", "status", "expected"), [
    (b"<s:Envelope", 400, ["env:Sender", "ter:WellFormed"]),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
     b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&b;</x></s:Body></s:Envelope>',
     400, ["env:Sender", "ter:WellFormed"]),
    (envelope("<GetScopes xmlns='http://www.onvif.org/ver10/device/wsdl'/>",
              "http://schemas.xmlsoap.org/soap/envelope/"), 500, ["env:VersionMismatch"]),
    (envelope("<Reboot xmlns='http://www.onvif.org/ver10/device/wsdl'/>"), 500,
     ["env:Receiver", "ter:ActionNotSupported"]),
    (envelope("<GetProfiles xmlns='http://www.onvif.org/ver20/media/wsdl'/>"), 500,
     ["env:Receiver", "ter:ActionNotSupported"]),
    (envelope("<a xmlns='urn:x'/><b xmlns='urn:x'/>"), 400, ["env:Sender", "ter:InvalidArgs"]),
    (envelope(""), 400, ["env:Sender", "ter:InvalidArgs"]),
], ids=["truncated", "entities", "soap11", "unknown-op", "other-service", "two-ops", "empty-body"])
def test_malformed_envelopes_get_generic_faults(camera: Camera, body: bytes, status: int,
                                                expected: list[str]) -> None:
    reply = post(camera, body)
    assert reply.status_code == status and codes(reply) == expected
    assert b"aaaaaaaaaa" not in reply.content


def test_http_level_errors(camera: Camera) -> None:
    assert post(camera, b"x" * ((1 << 20) + 1)).status_code == 413
    assert post(camera, envelope(""), headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.get(camera.url, timeout=10).status_code == 405
    assert post(camera, envelope(""), service="nowhere").status_code == 404
    assert httpx.get(camera.base + "/onvif/snapshot/profile9.jpg", auth=AUTH, timeout=10).status_code == 404


def test_a_body_without_length_is_refused(camera: Camera) -> None:
    parts = urlsplit(camera.base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"POST /onvif/device_service HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/soap+xml\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 411")


@pytest.mark.parametrize("token", ["x" * 5000, "Profile_1\u202e", "", " Profile_1 :", "<&>", "Profile_1' or '1'='1"])
def test_strange_tokens_are_unknown_profiles(camera: Camera, token: str) -> None:
    element = etree.Element("{http://www.onvif.org/ver20/media/wsdl}GetStreamUri")
    etree.SubElement(element, "{http://www.onvif.org/ver20/media/wsdl}Protocol").text = "RTSP"
    etree.SubElement(element, "{http://www.onvif.org/ver20/media/wsdl}ProfileToken").text = token
    reply = post(camera, envelope(etree.tostring(element, encoding="unicode")), "media2_service")
    assert reply.status_code == 400 and codes(reply) == ["env:Sender", "ter:InvalidArgVal", "ter:NoProfile"]
    assert len(reply.content) < 3000  # the reason quotes a bounded part of the token


@pytest.mark.parametrize(("body", "expected"), [
    ("<ContinuousMove xmlns='http://www.onvif.org/ver20/ptz/wsdl' xmlns:tt='http://www.onvif.org/ver10/schema'>"
     "<ProfileToken>Profile_1</ProfileToken><Velocity><tt:PanTilt x='NaN' y='0'/></Velocity></ContinuousMove>",
     ["env:Sender", "ter:InvalidArgVal"]),
    ("<ContinuousMove xmlns='http://www.onvif.org/ver20/ptz/wsdl' xmlns:tt='http://www.onvif.org/ver10/schema'>"
     "<ProfileToken>Profile_1</ProfileToken><Velocity><tt:Zoom x='0.1'/></Velocity><Timeout>forever</Timeout>"
     "</ContinuousMove>", ["env:Sender", "ter:InvalidArgVal"]),
    ("<ContinuousMove xmlns='http://www.onvif.org/ver20/ptz/wsdl'><ProfileToken>Profile_1</ProfileToken>"
     "</ContinuousMove>", ["env:Sender", "ter:InvalidArgs"]),
    ("<ContinuousMove xmlns='http://www.onvif.org/ver20/ptz/wsdl' xmlns:tt='http://www.onvif.org/ver10/schema'>"
     "<ProfileToken>Profile_1</ProfileToken><Velocity><tt:Zoom x='0.1'/></Velocity><Timeout>-PT5S</Timeout>"
     "</ContinuousMove>", ["env:Sender", "ter:InvalidArgVal"]),
], ids=["nan", "bad-timeout", "no-velocity", "negative-timeout"])
def test_bad_ptz_arguments(camera: Camera, body: str, expected: list[str]) -> None:
    reply = post(camera, envelope(body), "ptz_service")
    assert codes(reply) == expected
    assert camera.ptz_state()["moving"] is False


def test_the_camera_survives_all_of_it(camera: Camera) -> None:
    reply = post(camera, envelope("<GetDeviceInformation xmlns='http://www.onvif.org/ver10/device/wsdl'/>"))
    assert reply.status_code == 200 and camera.running
