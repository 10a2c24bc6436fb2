"""SoapApp in process (httpx ASGITransport, or hand-made ASGI messages where httpx would tidy the request)."""
from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
import pytest
from lxml import etree
from soapkit import (
    CONTENT_TYPE,
    HANG_LOG,
    SECRET_TEXT,
    UNKNOWN_ACTION,
    VOCAB,
    T,
    call,
    envelope,
    fault_of,
    make_app,
    raw_call,
    request,
    ter,
)
from zeep.wsse.username import UsernameToken

from gateway.soap.ns import SOAP_ENV, WSA, WSSE, qn

NS = {"s": SOAP_ENV, "wsa": WSA, "t": T}
SENDER = qn(SOAP_ENV, "Sender")
RECEIVER = qn(SOAP_ENV, "Receiver")
EVENTS = "/onvif/event_service"


@pytest.fixture(scope="module")
def app():
    return make_app()


def body_text(response: httpx.Response, name: str) -> str | None:
    return etree.fromstring(response.content).findtext(f"s:Body/t:EchoResponse/t:{name}", namespaces=NS)


def test_echo_round_trip_with_relates_to_and_context(app) -> None:
    response = call(app, "POST", EVENTS, content=request(message_id="urn:uuid:abc"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/soap+xml; charset=utf-8"
    root = etree.fromstring(response.content)
    assert root.findtext("s:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:abc"
    assert root.findtext("s:Header/wsa:Action", namespaces=NS) == "urn:test:Response"
    assert [body_text(response, n) for n in ("Text", "User", "Params", "BaseUrl", "State")] == [
        "hi", "anonymous", "kind=test", "http://gw.test", "the-state"]


def test_templated_route_passes_path_params_and_exact_host(app) -> None:
    response = call(app, "POST", "/onvif/pullpoint/p-17", content=request(message_id=None),
                    base="https://gw.example.net:8443")
    assert etree.fromstring(response.content).find("s:Header/wsa:RelatesTo", namespaces=NS) is None
    assert body_text(response, "Params") == "id=p-17,kind=test"
    assert body_text(response, "BaseUrl") == "https://gw.example.net:8443"


def http_fault(response: httpx.Response) -> tuple[int, str, str, list[str]]:
    """(HTTP status, content type, code, subcodes) of a fault answer."""
    code, subcodes, _ = fault_of(response.content)
    return response.status_code, response.headers["content-type"], code, subcodes


@pytest.mark.parametrize("path", ["/onvif/Media", "/onvif/nothing", "/onvif/pullpoint/a/b", "/", "/onvif/event_service/"])
def test_a_post_where_no_endpoint_is_gets_a_soap_404(app, path: str) -> None:
    response = call(app, "POST", path, content=request())
    assert http_fault(response) == (404, CONTENT_TYPE, SENDER, list(VOCAB.no_endpoint))
    assert path in fault_of(response.content)[2]


@pytest.mark.parametrize("body", [b"", b"garbage", b"{}", request()])
@pytest.mark.parametrize("ctype", ["application/soap+xml", "application/json", None])
def test_whatever_is_posted_to_a_non_endpoint_is_a_404_fault(app, body: bytes, ctype: str | None) -> None:
    headers = {} if ctype is None else {"content-type": ctype}
    response = call(app, "POST", "/onvif/Media", content=body, headers=headers)
    assert http_fault(response) == (404, CONTENT_TYPE, SENDER, list(VOCAB.no_endpoint))


def test_get_of_an_unknown_path_stays_plain_404(app) -> None:
    for path in ("/onvif/nothing", "/onvif/pullpoint/a/b", "/"):
        response = call(app, "GET", path)
        assert (response.status_code, response.headers["content-type"]) == (404, "text/plain; charset=utf-8")


def test_a_post_to_the_wsdl_mount_is_a_405_fault_allowing_get(app) -> None:
    response = call(app, "POST", "/onvif/wsdl/ver10/events/wsdl/event.wsdl", content=request())
    assert http_fault(response) == (405, CONTENT_TYPE, SENDER, list(VOCAB.no_endpoint))
    assert response.headers["allow"] == "GET"


def test_a_post_with_an_unusable_host_is_a_400_fault(app) -> None:
    scope = {"path": "/onvif/event_service",
             "headers": [(b"host", b"evil.example/<x>"), (b"content-type", b"application/soap+xml")]}
    response = raw_call(app, scope, [request()])
    assert response.status == 400 and response.headers[b"content-type"] == CONTENT_TYPE.encode()
    assert fault_of(response.body)[:2] == (SENDER, list(VOCAB.bad_request))


def test_other_methods_are_405_with_allow(app) -> None:
    response = call(app, "PUT", EVENTS, content=request())
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")
    response = call(app, "DELETE", "/onvif/wsdl/ver10/events/wsdl/event.wsdl")
    assert (response.status_code, response.headers["allow"]) == (405, "GET")


@pytest.mark.parametrize("ctype", [None, "application/json", "text/plain; charset=utf-8"])
def test_wrong_media_type_is_a_415_fault(app, ctype: str | None) -> None:
    headers = {} if ctype is None else {"content-type": ctype}
    response = call(app, "POST", EVENTS, content=request(), headers=headers)
    assert http_fault(response) == (415, CONTENT_TYPE, SENDER, list(VOCAB.bad_request))


def test_text_xml_soap11_gets_version_mismatch(app) -> None:
    soap11 = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x/></e:Body></e:Envelope>'
    response = call(app, "POST", EVENTS, content=soap11, headers={"content-type": "text/xml; charset=utf-8"})
    assert response.status_code == 500  # SOAP 1.2 HTTP binding: not a Sender fault
    assert fault_of(response.content)[0] == qn(SOAP_ENV, "VersionMismatch")


def test_oversized_content_length_is_413_without_reading_the_body(app) -> None:
    scope = {"path": EVENTS, "headers": [(b"host", b"gw.test"), (b"content-type", CONTENT_TYPE.encode()),
                                         (b"content-length", str(app.max_body_bytes + 1).encode())]}
    result = raw_call(app, scope, [b"x" * 10])
    assert (result.status, result.receives) == (413, 0)
    assert fault_of(result.body)[:2] == (SENDER, list(VOCAB.too_large))


def test_oversized_streamed_body_is_413_and_reading_stops_at_the_cap(app) -> None:
    chunk = b"x" * 16 * 1024
    result = raw_call(app, {"path": EVENTS}, [chunk] * 10)  # 160 KiB against a 64 KiB cap, no Content-Length
    assert result.status == 413
    assert result.receives == 5  # four chunks fill the 64 KiB cap, the fifth crosses it, five are never read
    assert fault_of(result.body)[:2] == (SENDER, list(VOCAB.too_large))


def test_body_exactly_at_the_cap_is_parsed(app) -> None:
    data = request()
    padded = data.replace(b"<s:Body>", b"<s:Body>" + b" " * (app.max_body_bytes - len(data)))
    assert len(padded) == app.max_body_bytes
    assert call(app, "POST", EVENTS, content=padded).status_code == 200


def test_client_disconnect_before_body_sends_nothing(app) -> None:
    async def receive():
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "scheme": "http", "path": EVENTS, "query_string": b"",
             "headers": [(b"host", b"gw"), (b"content-type", CONTENT_TYPE.encode())], "server": None}
    asyncio.run(app(scope, receive, send))
    assert sent == []


def test_a_handler_is_cancelled_when_the_client_leaves(app) -> None:
    HANG_LOG.clear()
    result = raw_call(app, {"path": EVENTS}, [request("Hang")], disconnect_after=0.05)
    assert (result.status, HANG_LOG) == (0, ["started", "cancelled"])  # nothing sent to the departed client


def test_unknown_operation_uses_the_service_fault(app) -> None:
    response = call(app, "POST", EVENTS, content=request("Nope"))
    assert response.status_code == 400
    assert fault_of(response.content) == (SENDER, [UNKNOWN_ACTION], f"unknown operation {{{T}}}Nope")


def test_handler_fault_keeps_its_subcodes_and_status(app) -> None:
    response = call(app, "POST", EVENTS, content=request("Fail", message_id="urn:uuid:f"))
    assert response.status_code == 400
    assert fault_of(response.content) == (SENDER, [ter("InvalidArgVal"), ter("NoProfile")], "bad argument")
    assert etree.fromstring(response.content).findtext("s:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:f"
    assert call(app, "POST", EVENTS, content=request("Conflict")).status_code == 409


def test_handler_crash_is_logged_once_and_answered_without_details(app, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway.soap"):
        response = call(app, "POST", EVENTS, content=request("Crash"))
    assert response.status_code == 500
    assert fault_of(response.content) == (RECEIVER, list(VOCAB.internal), "internal error")
    assert SECRET_TEXT.encode() not in response.content and b"Traceback" not in response.content
    assert len(caplog.records) == 1 and caplog.records[0].exc_info[1].args == (SECRET_TEXT,)


def test_must_understand_fault_over_http(app) -> None:
    data = request(extra='<h:Private xmlns:h="urn:h" s:mustUnderstand="1"/>')
    response = call(app, "POST", EVENTS, content=data)
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    assert root.find("s:Header/s:NotUnderstood", namespaces=NS).get("qname").endswith(":Private")
    assert fault_of(response.content)[0] == qn(SOAP_ENV, "MustUnderstand")


def test_authorizer_sees_anonymous_and_authenticated_principals(app) -> None:
    response = call(app, "POST", EVENTS, content=request("Admin"))
    assert (response.status_code, fault_of(response.content)[1]) == (400, list(VOCAB.not_authorized))
    root = etree.fromstring(request("Admin"))
    UsernameToken("alice", "wonderland", use_digest=True, created=datetime.now(UTC)).apply(root, {})
    signed = etree.tostring(root)
    response = call(app, "POST", EVENTS, content=signed)
    assert (response.status_code, body_text(response, "User")) == (200, "alice")
    replay = call(app, "POST", EVENTS, content=signed)
    assert (replay.status_code, fault_of(replay.content)[1]) == (400, list(VOCAB.not_authorized))


def test_bad_credentials_are_400_not_authorized(app) -> None:
    root = etree.fromstring(request())
    UsernameToken("alice", "nope", use_digest=True).apply(root, {})
    assert root.find(f".//{{{WSSE}}}Security") is not None
    response = call(app, "POST", EVENTS, content=etree.tostring(root))
    assert (response.status_code, fault_of(response.content)[1]) == (400, list(VOCAB.not_authorized))
    assert b"nope" not in response.content


def test_bad_host_header_is_400(app) -> None:
    scope = {"path": EVENTS, "headers": [(b"host", b'gw"><x'), (b"content-type", CONTENT_TYPE.encode())]}
    assert raw_call(app, scope, [request()]).status == 400


def test_server_address_is_the_fallback_base_url(app) -> None:
    for headers in ([], [(b"host", b"")]):
        scope = {"path": EVENTS, "headers": [(b"content-type", CONTENT_TYPE.encode()), *headers],
                 "server": ("::1", 8080)}
        result = raw_call(app, scope, [request()])
        assert etree.fromstring(result.body).findtext("s:Body/t:EchoResponse/t:BaseUrl", namespaces=NS) \
            == "http://[::1]:8080"
    scope = {"path": EVENTS, "headers": [(b"content-type", CONTENT_TYPE.encode())], "server": None}
    assert raw_call(app, scope, [request()]).status == 400


def test_lifespan_runs_callbacks_and_reports_failure() -> None:
    calls = []

    async def up():
        calls.append("up")

    async def down():
        raise RuntimeError("disk gone")

    app = make_app(on_startup=up, on_shutdown=down)
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return inbox.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert calls == ["up"]
    assert sent == [{"type": "lifespan.startup.complete"},
                    {"type": "lifespan.shutdown.failed", "message": "disk gone"}]


def test_other_scope_types_are_refused(app) -> None:
    with pytest.raises(ValueError):
        asyncio.run(app({"type": "websocket"}, None, None))


def test_app_serves_many_requests_concurrently(app) -> None:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            replies = await asyncio.gather(*(
                client.post(EVENTS, content=request(text=str(i)), headers={"content-type": CONTENT_TYPE})
                for i in range(20)))
        return [body_text(r, "Text") for r in replies]

    assert asyncio.run(go()) == [str(i) for i in range(20)]


def test_envelope_helper_is_a_valid_request(app) -> None:
    assert call(app, "POST", EVENTS, content=envelope("<t:Echo>x</t:Echo>")).status_code == 200
