"""Hostile input against the SOAP core served by a real hypercorn on loopback: each attack gets the right
fault and status, no secret leaks, and the server keeps answering good requests afterwards.

Requests are raw bytes over a real socket; the one operation echoes its whole body element back, so any
entity or include that got expanded would show up in the reply.
"""
from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from lxml import etree

from gateway.soap.asgi import SoapApp
from gateway.soap.dispatch import Operation, Request, Service
from gateway.soap.fault import FaultVocabulary, SoapFault
from gateway.soap.ns import SOAP_ENV, WSA, qn

TER = "http://www.onvif.org/ver10/error"
T = "urn:test:hostile"
VOCAB = FaultVocabulary(well_formed=(qn(TER, "WellFormed"),), namespace=(qn(TER, "Namespace"),),
                        too_large=(qn(TER, "InvalidArgs"),), no_endpoint=(qn(WSA, "DestinationUnreachable"),),
                        bad_request=(qn(TER, "InvalidArgs"),), not_authorized=(qn(TER, "NotAuthorized"),), internal=(qn(TER, "Action"),))
CAP = 256 * 1024  # the app's body cap in this suite
SOAP_CT = "application/soap+xml; charset=utf-8"
SENDER, VERSION_MISMATCH = qn(SOAP_ENV, "Sender"), qn(SOAP_ENV, "VersionMismatch")


async def _echo(req: Request) -> etree._Element:
    out = etree.Element(qn(T, "EchoResponse"))
    out.text = etree.tostring(req.body, encoding="unicode")
    return out


async def _nobody(name: str) -> None:
    return None


def _app(ready: threading.Event) -> SoapApp:
    async def started() -> None:
        ready.set()

    service = Service(operations={qn(T, "Echo"): Operation(handler=_echo, response_action="urn:echo", access="x")},
                      unknown=lambda qname: SoapFault("Sender", "unknown", subcodes=(qn(TER, "UnknownAction"),)))
    return SoapApp({"/onvif/event_service": service}, authorizer=lambda principal, access: None,
                   credentials=_nobody, vocab=VOCAB, nsmap={"t": T}, max_body_bytes=CAP,
                   on_startup=started)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    ready, stop, loop = threading.Event(), asyncio.Event(), asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(serve(_app(ready), config, shutdown_trigger=stop.wait),))
    thread.start()
    assert ready.wait(10), "hypercorn did not start"
    yield f"http://127.0.0.1:{port}/onvif/event_service"
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


def post(url: str, data: bytes | Iterator[bytes], ctype: str = SOAP_CT) -> httpx.Response:
    return httpx.post(url, content=data, headers={"content-type": ctype}, timeout=30)


def envelope(body: str, prolog: str = "") -> bytes:
    return f'{prolog}<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:t="{T}"><s:Body>{body}</s:Body></s:Envelope>'.encode()


def fault(response: httpx.Response) -> tuple[int, str, list[str]]:
    """(HTTP status, code, subcodes) with every QName resolved against the reply's own declarations."""
    root = etree.fromstring(response.content)
    names = []
    for value in root.iter(qn(SOAP_ENV, "Value")):
        prefix, local = value.text.split(":")
        names.append(qn(value.nsmap[prefix], local))
    return response.status_code, names[0], names[1:]


def still_serving(url: str) -> None:
    response = post(url, envelope("<t:Echo>still here</t:Echo>"))
    assert response.status_code == 200 and b"still here" in response.content


WELL_FORMED = (400, SENDER, [qn(TER, "WellFormed")])
NAMESPACE = (400, SENDER, [qn(TER, "Namespace")])
TOO_LARGE = (413, SENDER, [qn(TER, "InvalidArgs")])

LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
ATTACKS = {
    "malformed": (envelope("<t:Echo>unclosed"), WELL_FORMED),
    "doctype only": (envelope("<t:Echo/>", "<!DOCTYPE s:Envelope>"), WELL_FORMED),
    "internal entity": (envelope("<t:Echo>&e;</t:Echo>", '<!DOCTYPE s:Envelope [<!ENTITY e "expanded">]>'),
                        WELL_FORMED),
    "billion laughs": (envelope("<t:Echo>&l9;</t:Echo>", f'<!DOCTYPE s:Envelope [<!ENTITY l0 "lol">{LAUGHS}]>'),
                       WELL_FORMED),
    "quadratic blowup": (envelope("<t:Echo>" + "&big;" * 2000 + "</t:Echo>",
                                  f'<!DOCTYPE s:Envelope [<!ENTITY big "{"A" * 50_000}">]>'), WELL_FORMED),
    "deep nesting": (envelope("<t:Echo>" + "<a>" * 20_000 + "</a>" * 20_000 + "</t:Echo>"), WELL_FORMED),
    "garbage": (bytes(range(256)) * 4, WELL_FORMED),
    "empty request": (b"", WELL_FORMED),
    "not utf-8": (envelope("<t:Echo>") + b"\xff\xfe\xc3\x28" + b"</t:Echo></s:Body></s:Envelope>", WELL_FORMED),
    "wrong root namespace": (b'<s:Envelope xmlns:s="urn:not-soap"><s:Body><x/></s:Body></s:Envelope>', NAMESPACE),
    "not an envelope": (b"<html><body>hi</body></html>", NAMESPACE),
    "empty body": (envelope(""), NAMESPACE),
    "no body": (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Header/></s:Envelope>'.encode(), NAMESPACE),
    "oversized": (envelope("<t:Echo>" + "x" * (2 * CAP) + "</t:Echo>"), TOO_LARGE),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_gets_the_right_fault(url: str, name: str) -> None:
    data, expected = ATTACKS[name]
    response = post(url, data)
    assert fault(response) == expected
    assert response.headers["content-type"] == SOAP_CT
    assert b"expanded" not in response.content and b"lollol" not in response.content
    still_serving(url)


def test_streamed_oversized_body_without_length(url: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield envelope("<t:Echo>")[:-len("</s:Body></s:Envelope>")]
        for _ in range(64):
            yield b"y" * 16 * 1024  # 1 MiB in all, four times the cap

    assert fault(post(url, chunks())) == TOO_LARGE
    still_serving(url)


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file://{path}">]>',
    '<!DOCTYPE s:Envelope [<!ENTITY % p SYSTEM "file://{path}"> %p;]>',
    '<!DOCTYPE s:Envelope SYSTEM "file://{path}">',
])
def test_external_file_entity_never_leaks(url: str, tmp_path: Path, doctype: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-3c9e1f")
    data = envelope("<t:Echo>&x;</t:Echo>", doctype.format(path=secret))
    response = post(url, data)
    assert fault(response) == WELL_FORMED
    assert b"TOP-SECRET" not in response.content
    xinclude = envelope(f'<t:Echo><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}"'
                        ' parse="text"/></t:Echo>')
    echoed = post(url, xinclude)
    assert echoed.status_code == 200 and b"TOP-SECRET" not in echoed.content
    still_serving(url)


@pytest.mark.parametrize("ctype", ["text/xml; charset=utf-8", SOAP_CT])
def test_soap11_envelope_gets_version_mismatch(url: str, ctype: str) -> None:
    soap11 = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x/></e:Body></e:Envelope>'
    response = post(url, soap11, ctype)
    assert fault(response) == (500, VERSION_MISMATCH, [])
    assert etree.fromstring(response.content).find(f".//{{{SOAP_ENV}}}Upgrade") is not None
    still_serving(url)


def test_non_soap_http_is_refused_before_parsing(url: str) -> None:
    assert fault(post(url, b"{}", "application/json")) == (415, SENDER, [qn(TER, "InvalidArgs")])
    assert fault(post(url.replace("event_service", "Media"), b"{}", "application/json")) == \
        (404, SENDER, [qn(WSA, "DestinationUnreachable")])
    assert httpx.get(url.replace("event_service", "nowhere"), timeout=30).status_code == 404
    assert httpx.request("PATCH", url, timeout=30).status_code == 405
    still_serving(url)
