"""The fake camera authenticates as devices do: HTTP Digest and/or WS-UsernameToken, per its --auth."""
from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.fakes.camera.fixture import Camera, start_camera
from tests.fakes.conftest import PASSWORD, USER, VIEWER

ENV = "http://www.w3.org/2003/05/soap-envelope"
GET_PROFILES = '<GetProfiles xmlns="http://www.onvif.org/ver20/media/wsdl"/>'
GET_TIME = '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
MOVE = ('<ContinuousMove xmlns="http://www.onvif.org/ver20/ptz/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">'
        '<ProfileToken>Profile_1</ProfileToken><Velocity><tt:PanTilt x="0.5" y="0"/></Velocity>'
        '<Timeout>PT1S</Timeout></ContinuousMove>')
SOAP = {"Content-Type": "application/soap+xml; charset=utf-8"}


def token(user: str, password: str, *, created: str | None = None, nonce: bytes | None = None,
          digest: str | None = None) -> str:
    nonce = os.urandom(16) if nonce is None else nonce
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = digest or base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return ('<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
            'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
            f'<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>'
            '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">'
            f'{digest}</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>'
            f'<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>')


def envelope(body: str, header: str = "") -> bytes:
    return f'<s:Envelope xmlns:s="{ENV}"><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>'.encode()


def post(camera: Camera, service: str, body: bytes, auth: httpx.Auth | None = None) -> httpx.Response:
    return httpx.post(f"{camera.base}/onvif/{service}", content=body, headers=SOAP, auth=auth, timeout=10)


def subcodes(reply: httpx.Response) -> list[str]:
    fault = etree.fromstring(reply.content).find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
    assert fault is not None, reply.text
    return [(v.text or "") for v in fault.iter(f"{{{ENV}}}Value")]


@pytest.fixture(scope="module")
def ws_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    with start_camera(Path(tmp_path_factory.mktemp("ws")), user=USER, password=PASSWORD, auth="ws") as cam:
        yield cam


@pytest.fixture(scope="module")
def digest_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    with start_camera(Path(tmp_path_factory.mktemp("digest")), user=USER, password=PASSWORD, auth="digest") as cam:
        yield cam


def test_no_credentials_get_a_digest_challenge(camera: Camera) -> None:
    reply = post(camera, "media2_service", envelope(GET_PROFILES))
    assert reply.status_code == 401
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith("Digest ") and 'qop="auth"' in challenge and "nonce=" in challenge
    assert camera.calls("GetProfiles")[-1]["status"] == 401


def test_what_a_client_needs_first_needs_no_credentials(camera: Camera) -> None:
    assert post(camera, "device_service", envelope(GET_TIME)).status_code == 200
    services = '<GetServices xmlns="http://www.onvif.org/ver10/device/wsdl"><IncludeCapability>false</IncludeCapability></GetServices>'
    assert post(camera, "device_service", envelope(services)).status_code == 200
    info = '<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
    assert post(camera, "device_service", envelope(info)).status_code == 401


@pytest.mark.parametrize("fixture", ["camera", "ws_only"])
def test_username_token_digest(request: pytest.FixtureRequest, fixture: str) -> None:
    cam: Camera = request.getfixturevalue(fixture)
    assert post(cam, "media2_service", envelope(GET_PROFILES, token(USER, PASSWORD))).status_code == 200
    assert cam.calls("GetProfiles")[-1]["auth"] == "ws"
    wrong = post(cam, "media2_service", envelope(GET_PROFILES, token(USER, "wrong")))
    assert wrong.status_code == 400 and subcodes(wrong) == ["env:Sender", "ter:NotAuthorized"]


def test_a_ws_only_camera_answers_missing_credentials_with_a_fault(ws_only: Camera) -> None:
    reply = post(ws_only, "media2_service", envelope(GET_PROFILES), auth=httpx.DigestAuth(USER, PASSWORD))
    assert reply.status_code == 400 and subcodes(reply) == ["env:Sender", "ter:NotAuthorized"]
    assert "WWW-Authenticate" not in reply.headers


def test_a_digest_only_camera_ignores_username_tokens(digest_only: Camera) -> None:
    assert post(digest_only, "media2_service", envelope(GET_PROFILES, token(USER, PASSWORD))).status_code == 401
    reply = post(digest_only, "media2_service", envelope(GET_PROFILES), auth=httpx.DigestAuth(USER, PASSWORD))
    assert reply.status_code == 200
    assert digest_only.calls("GetProfiles")[-1]["auth"] == "digest"
    assert post(digest_only, "media2_service", envelope(GET_PROFILES),
                auth=httpx.DigestAuth(USER, "wrong")).status_code == 401


def test_a_replayed_username_token_is_refused(camera: Camera) -> None:
    header = token(USER, PASSWORD, nonce=b"0123456789abcdef")
    assert post(camera, "media2_service", envelope(GET_PROFILES, header)).status_code == 200
    assert post(camera, "media2_service", envelope(GET_PROFILES, header)).status_code == 400


@pytest.mark.parametrize("created", ["2001-01-01T00:00:00Z", "not a time", ""])
def test_a_token_must_be_fresh_and_complete(camera: Camera, created: str) -> None:
    header = token(USER, PASSWORD, created=created or None)
    if not created:
        header = header.replace("<wsu:Created>", "<!--").replace("</wsu:Created>", "-->")
    assert post(camera, "media2_service", envelope(GET_PROFILES, header)).status_code == 400


def test_the_token_follows_the_device_clock(tmp_path: Path) -> None:
    """A camera an hour ahead refuses tokens stamped with the true time, and takes those stamped with its own."""
    with start_camera(tmp_path, user=USER, password=PASSWORD, clock_offset=3600) as cam:
        assert post(cam, "media2_service", envelope(GET_PROFILES, token(USER, PASSWORD))).status_code == 400
        ahead = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert post(cam, "media2_service", envelope(GET_PROFILES, token(USER, PASSWORD, created=ahead))).status_code == 200
        year = etree.fromstring(post(cam, "device_service", envelope(GET_TIME)).content).findtext(
            ".//{http://www.onvif.org/ver10/schema}UTCDateTime/{http://www.onvif.org/ver10/schema}Date/"
            "{http://www.onvif.org/ver10/schema}Year")
        assert year == ahead[:4]


def test_a_digest_request_cannot_be_replayed(camera: Camera) -> None:
    with httpx.Client(auth=httpx.DigestAuth(USER, PASSWORD), timeout=10) as client:
        first = client.post(f"{camera.base}/onvif/media2_service", content=envelope(GET_PROFILES), headers=SOAP)
        assert first.status_code == 200
        authorization = first.request.headers["Authorization"]
    replay = httpx.post(f"{camera.base}/onvif/media2_service", content=envelope(GET_PROFILES),
                        headers={**SOAP, "Authorization": authorization}, timeout=10)
    assert replay.status_code == 401


def test_a_user_level_account_may_watch_but_not_move(camera: Camera) -> None:
    viewer = httpx.DigestAuth(*VIEWER)
    assert post(camera, "media2_service", envelope(GET_PROFILES), auth=viewer).status_code == 200
    before = camera.ptz_state()
    refused = post(camera, "ptz_service", envelope(MOVE), auth=viewer)
    assert refused.status_code == 400 and subcodes(refused) == ["env:Sender", "ter:NotAuthorized"]
    assert camera.ptz_state() == before
    call = camera.calls("ContinuousMove")[-1]
    assert (call["user"], call["status"]) == (VIEWER[0], 400)


def test_an_open_camera_needs_no_credentials(tmp_path: Path) -> None:
    with start_camera(tmp_path, ptz=True) as cam:
        assert post(cam, "media2_service", envelope(GET_PROFILES)).status_code == 200
        assert post(cam, "ptz_service", envelope(MOVE)).status_code == 200
        assert cam.calls("ContinuousMove")[-1]["user"] is None


def test_credentials_on_both_layers_must_both_check_out(camera: Camera) -> None:
    url = f"{camera.base}/onvif/media2_service"
    with httpx.Client(auth=httpx.DigestAuth(USER, PASSWORD), headers=SOAP, timeout=10) as client:
        assert client.post(url, content=envelope(GET_PROFILES)).status_code == 200  # learns the challenge
        good = client.post(url, content=envelope(GET_PROFILES, token(USER, PASSWORD)))
        assert "Authorization" in good.request.headers
        assert good.status_code == 200 and camera.calls("GetProfiles")[-1]["auth"] == "digest"
        bad = client.post(url, content=envelope(GET_PROFILES, token(USER, "wrong")))
        assert "Authorization" in bad.request.headers
        assert bad.status_code == 400 and subcodes(bad) == ["env:Sender", "ter:NotAuthorized"]
