"""Hostile input against a real gateway process: every attack gets the right fault, nothing else changes.

Requests are raw bytes over HTTP, so nothing on the client side can tidy them up.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import uuid

import httpx
import pytest
from lxml import etree

from tests.interop.conftest import PASSWORD, USER, Gateway, run_cli

pytestmark = pytest.mark.interop

SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
      'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema" '
      'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"')
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"


def security(user: str = USER, password: str = PASSWORD, nonce: bytes | None = None, created: str | None = None) -> str:
    nonce = nonce if nonce is not None else os.urandom(16)
    created = created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{user}</wsse:Username>"
            f'<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">{digest}</wsse:Password>'
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}</wsu:Created>"
            "</wsse:UsernameToken></wsse:Security>")


def envelope(body: str, header: str | None = None) -> bytes:
    header = security() if header is None else header
    return f'<s:Envelope {NS}><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>'.encode()


def post(gw: Gateway, data: bytes, path: str = "/onvif/event_service") -> httpx.Response:
    return httpx.post(gw.base + path, content=data, headers={"Content-Type": "application/soap+xml; charset=utf-8"},
                      timeout=30)


def fault(resp: httpx.Response) -> tuple[str, list[str], str]:
    """(code, subcodes, detail root tag) of a SOAP fault reply."""
    doc = etree.fromstring(resp.content)
    values = [v.text for v in doc.iter(f"{{{SOAP}}}Value")]
    detail = doc.find(f".//{{{SOAP}}}Detail")
    return values[0], values[1:], (detail[0].tag if detail is not None and len(detail) else "")


def create(filters: str) -> bytes:
    return envelope(f"<tev:CreatePullPointSubscription><tev:Filter>{filters}</tev:Filter>"
                    "</tev:CreatePullPointSubscription>")


TOPIC = ('<wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" '
         'xmlns:tns1="http://www.onvif.org/ver10/topics">tns1:Resource//.</wsnt:TopicExpression>')


def location(lat: str, lon: str = "118.8", radius: str = "100") -> str:
    return f"<tt:LocationFilter><tt:lon>{lon}</tt:lon><tt:lat>{lat}</tt:lat><tt:radius>{radius}</tt:radius></tt:LocationFilter>"


XML_ATTACKS = {
    "malformed": b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body><unclosed></s:Body>",
    "garbage": os.urandom(512),
    "dtd": b'<?xml version="1.0"?><!DOCTYPE x [<!ELEMENT x ANY>]>' + envelope("<tds:GetSystemDateAndTime/>", ""),
    "external-entity": (b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                        + envelope("<tds:GetDeviceInformation>&xxe;</tds:GetDeviceInformation>", "")),
    "billion-laughs": (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                       b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
                       + envelope("<tds:GetDeviceInformation>&d;&d;&d;&d;&d;&d;</tds:GetDeviceInformation>", "")),
    "soap11": (b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
               b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></e:Body></e:Envelope>'),
    "wrong-namespace": b'<s:Envelope xmlns:s="urn:not-soap"><s:Body><x/></s:Body></s:Envelope>',
    "empty-body": envelope("", ""),
}


@pytest.fixture(scope="module", autouse=True)
def stats_before(gateway: Gateway) -> str:
    return run_cli("catalog", "stats", "--json", db=gateway.db).stdout


@pytest.mark.parametrize("name", sorted(XML_ATTACKS))
def test_malformed_envelopes_are_sender_faults(gateway: Gateway, name: str) -> None:
    resp = post(gateway, XML_ATTACKS[name], "/onvif/device_service")
    code, _, _ = fault(resp)
    if name == "soap11":
        assert code.endswith("VersionMismatch") and resp.status_code == 500
    else:
        assert resp.status_code == 400 and code.endswith("Sender"), resp.text
    assert b"root:" not in resp.content and b"Traceback" not in resp.content


def test_oversized_body_is_refused(gateway: Gateway) -> None:
    resp = post(gateway, envelope("<tds:GetDeviceInformation>" + "x" * 4_000_000 + "</tds:GetDeviceInformation>"),
                "/onvif/device_service")
    assert resp.status_code in (400, 413)


@pytest.mark.parametrize(
    ("filters", "detail"),
    [
        (TOPIC + "<tt:PolygonFilter/>", "InvalidFilterFault"),
        (TOPIC + location("91"), "InvalidFilterFault"),
        (TOPIC + location("32", radius="-5"), "InvalidFilterFault"),
        (TOPIC + location("32", lon="NaN"), "InvalidFilterFault"),
        (TOPIC + "<tt:PrefixFilter><tt:Prefix>" + "p" * 65 + "</tt:Prefix></tt:PrefixFilter>", "InvalidFilterFault"),
        (TOPIC + '<tt:ScopeFilter><tt:Scope Match="urn:no-such-rule">onvif://x</tt:Scope></tt:ScopeFilter>',
         "InvalidFilterFault"),
        (TOPIC + "<tt:SelectFilter><tt:Path>/Nonsense</tt:Path></tt:SelectFilter>", "InvalidFilterFault"),
        ('<wsnt:TopicExpression Dialect="urn:bogus">x</wsnt:TopicExpression>', "TopicExpressionDialectUnknownFault"),
        ('<wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" '
         'xmlns:tns1="http://www.onvif.org/ver10/topics">tns1:Resource/||</wsnt:TopicExpression>',
         "InvalidTopicExpressionFault"),
        ('<wsnt:MessageContent Dialect="http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter">'
         "boolean(//tt:SimpleItem[@Name=</wsnt:MessageContent>", "InvalidMessageContentExpressionFault"),
    ],
)
def test_bad_filters_get_ws_notification_faults(gateway: Gateway, filters: str, detail: str) -> None:
    resp = post(gateway, create(filters))
    code, _, detail_tag = fault(resp)
    assert resp.status_code == 400 and code.endswith("Sender"), resp.text
    assert detail_tag.endswith(detail), detail_tag


def test_unknown_pull_point(gateway: Gateway) -> None:
    body = "<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>"
    resp = post(gateway, envelope(body), "/onvif/pullpoint/" + uuid.uuid4().hex)
    assert fault(resp)[2].endswith("ResourceUnknownFault")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda: "", id="no-credentials"),
        pytest.param(lambda: security(password="wrong"), id="bad-digest"),
        pytest.param(lambda: security(user="nobody"), id="unknown-user"),
        pytest.param(lambda: security(created="2001-01-01T00:00:00Z"), id="stale-created"),
    ],
)
def test_authentication_failures_are_not_authorized(gateway: Gateway, header) -> None:  # type: ignore[no-untyped-def]
    resp = post(gateway, envelope("<tev:CreatePullPointSubscription/>", header()))
    code, subcodes, _ = fault(resp)
    assert resp.status_code == 400 and code.endswith("Sender")
    assert subcodes[-1].endswith("NotAuthorized")


def test_replayed_nonce_is_refused(gateway: Gateway) -> None:
    header = security(nonce=os.urandom(16))
    first = post(gateway, envelope("<tev:GetEventProperties/>", header))
    assert first.status_code == 200
    replay = post(gateway, envelope("<tev:GetEventProperties/>", header))
    assert replay.status_code == 400 and fault(replay)[1][-1].endswith("NotAuthorized")


def test_the_server_still_serves_and_the_catalog_is_unchanged(gateway: Gateway, stats_before: str) -> None:
    # Runs last in this module (pytest keeps file order): every attack above has been made.
    resp = post(gateway, envelope("<tev:GetEventProperties/>"))
    assert resp.status_code == 200 and b"GetEventPropertiesResponse" in resp.content
    assert run_cli("catalog", "stats", "--json", db=gateway.db).stdout == stats_before
