"""The downstream client against scripted devices (httpx.MockTransport): login negotiation, bounds, faults kept."""
from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable

import httpx
import pytest
from lxml import etree

from gateway.downstream.client import SegmentClient
from gateway.downstream.errors import SegmentFault, SegmentMisbehaved, SegmentRefused, SegmentUnavailable
from gateway.downstream.wire import MAX_REPLY_BYTES, Credentials, fault, get_services
from gateway.onvif.ns import NSMAP, TDS, TER
from gateway.soap.build import build_fault, build_response
from gateway.soap.fault import RECEIVER, SENDER, SoapFault

URL = "http://cam/onvif/device_service"
USER, PASSWORD, REALM, NONCE = "admin", "secret", "cam", "abc123"


def ok() -> bytes:
    return build_response(etree.Element(f"{{{TDS}}}GetServicesResponse", nsmap=NSMAP), action="a", relates_to=None,
                          nsmap=NSMAP)


def not_authorized() -> bytes:
    return build_fault(SoapFault(SENDER, "no token", subcodes=(f"{{{TER}}}NotAuthorized",)), relates_to=None,
                       nsmap=NSMAP)


def digest_valid(request: httpx.Request, password: str = PASSWORD) -> bool:
    """The server side of RFC 7616 Digest (MD5, qop=auth), as a camera checks it."""
    header = request.headers.get("authorization", "")
    if not header.startswith("Digest "):
        return False
    f = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
    ha1 = hashlib.md5(f"{USER}:{REALM}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"POST:{request.url.raw_path.decode()}".encode()).hexdigest()
    want = hashlib.md5(f"{ha1}:{NONCE}:{f.get('nc')}:{f.get('cnonce')}:auth:{ha2}".encode()).hexdigest()
    return f.get("username") == USER and f.get("response") == want


def challenge() -> httpx.Response:
    return httpx.Response(401, headers={"WWW-Authenticate": f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth"'},
                          content=b"login")


def device(wants: str, seen: list[httpx.Request], password: str = PASSWORD) -> httpx.AsyncClient:
    """A device that wants ``ws`` (UsernameToken), ``digest`` (HTTP Digest) or ``both``."""
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        token = b"PasswordDigest" in request.content
        if wants in ("digest", "both") and not digest_valid(request, password):
            return challenge()
        if wants in ("ws", "both") and not token:
            return httpx.Response(400, content=not_authorized())
        return httpx.Response(200, content=ok())
    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def client(http: httpx.AsyncClient, password: str = PASSWORD) -> SegmentClient:
    return SegmentClient("cam", Credentials(user=USER, password=password), http)


def calls(c: SegmentClient, n: int = 2) -> None:
    async def go() -> None:
        async with c.client:
            for _ in range(n):
                await c.call(URL, get_services(), 5)
    asyncio.run(go())


def test_a_device_taking_usernametokens_is_asked_once_per_call() -> None:
    seen: list[httpx.Request] = []
    c = client(device("ws", seen))
    calls(c)
    assert c.auth == "ws" and len(seen) == 2
    assert all(b"PasswordDigest" in r.content and "authorization" not in r.headers for r in seen)


def test_a_digest_challenge_switches_to_http_digest_and_it_is_remembered() -> None:
    seen: list[httpx.Request] = []
    c = client(device("digest", seen))
    calls(c, 3)
    assert c.auth == "digest"
    # ws refused, digest: challenge then answer; the next calls answer the remembered challenge at once
    assert len(seen) == 5
    assert all(b"PasswordDigest" not in r.content for r in seen[1:])


def test_a_device_wanting_both_gets_both() -> None:
    seen: list[httpx.Request] = []
    c = client(device("both", seen))
    calls(c, 2)
    assert c.auth == "both"
    last = seen[-1]
    assert b"PasswordDigest" in last.content and digest_valid(last)
    assert len(seen) <= 6


def test_a_wrong_password_under_digest_is_a_refused_login() -> None:
    seen: list[httpx.Request] = []
    c = client(device("digest", seen), password="wrong")
    with pytest.raises(SegmentRefused, match="refused our login"):
        calls(c, 1)
    assert c.auth == "ws"  # nothing learnt from a failure


def test_a_wrong_password_under_usernametoken_is_the_devices_fault() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=not_authorized())
    c = client(httpx.AsyncClient(transport=httpx.MockTransport(handle)))
    with pytest.raises(SegmentFault) as caught:
        calls(c, 1)
    assert caught.value.subcodes == ("NotAuthorized",) and caught.value.qnames == (f"{{{TER}}}NotAuthorized",)


def test_a_challenge_without_credentials_is_refused() -> None:
    seen: list[httpx.Request] = []
    c = SegmentClient("cam", None, device("digest", seen))
    with pytest.raises(SegmentUnavailable, match="no credentials"):
        calls(c, 1)
    assert b"Security" not in seen[0].content


def test_anonymous_calls_carry_no_login_and_headers_travel() -> None:
    seen: list[httpx.Request] = []
    c = client(device("ws", seen))

    async def go() -> None:
        async with c.client:
            with pytest.raises(SegmentFault):
                await c.call(URL, get_services(), 5, anonymous=True, headers={"X-Vmsgw-Budget": "2.5"})
    asyncio.run(go())
    assert b"Security" not in seen[0].content and seen[0].headers["x-vmsgw-budget"] == "2.5"
    assert seen[0].headers["content-type"].startswith("application/soap+xml")


def scripted(handler: Callable[[httpx.Request], httpx.Response]) -> SegmentClient:
    return client(httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def test_a_dripping_device_is_cut_at_the_total_timeout() -> None:
    class Drip(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for _ in range(100):
                await asyncio.sleep(0.1)  # each read well within a read timeout
                yield b" "

    c = scripted(lambda request: httpx.Response(200, stream=Drip()))
    started = time.monotonic()

    async def go() -> None:
        async with c.client:
            await c.call(URL, get_services(), 0.5)
    with pytest.raises(SegmentUnavailable, match="no answer"):
        asyncio.run(go())
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("reply", "error"), [
    (httpx.Response(200, content=b"<" * (MAX_REPLY_BYTES + 1)), SegmentMisbehaved),
    (httpx.Response(200, content=b"\x00garbage"), SegmentMisbehaved),
    (httpx.Response(503, content=b"busy"), SegmentUnavailable),
    (httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'}), SegmentRefused),
])
def test_every_bad_reply_is_a_segment_error(reply: httpx.Response, error: type[Exception]) -> None:
    c = scripted(lambda request: reply)
    with pytest.raises(error):
        calls(c, 1)


def test_a_refused_connection_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)
    with pytest.raises(SegmentUnavailable, match="ConnectError"):
        calls(scripted(refuse), 1)


def test_a_fault_is_kept_whole_and_can_be_answered_again() -> None:
    data = build_fault(SoapFault(SENDER, "no such profile", subcodes=(f"{{{TER}}}InvalidArgVal",
                                                                      f"{{{TER}}}NoProfile")),
                       relates_to=None, nsmap=NSMAP)
    body = etree.fromstring(data).find(".//{http://www.w3.org/2003/05/soap-envelope}Fault")
    assert body is not None
    got = fault(body)
    assert (got.code, got.subcodes, got.reason) == ("Sender", ("InvalidArgVal", "NoProfile"), "no such profile")
    again = got.soap_fault("leaf")
    assert again.code == SENDER and again.subcodes == (f"{{{TER}}}InvalidArgVal", f"{{{TER}}}NoProfile")
    assert again.reason == "segment leaf: no such profile" and again.http_status == 400


def test_a_fault_with_an_unknown_code_or_undeclared_prefix_stays_safe() -> None:
    xml = (b'<e:Fault xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Code><e:Value>e:Bogus</e:Value>'
           b'<e:Subcode><e:Value>nope:Thing</e:Value></e:Subcode></e:Code>'
           b'<e:Reason><e:Text>' + b"r" * 5000 + b'</e:Text></e:Reason></e:Fault>')
    got = fault(etree.fromstring(xml))
    assert got.subcodes == ("Thing",) and got.qnames == () and len(got.reason) == 500
    assert got.soap_fault("x").code == RECEIVER
