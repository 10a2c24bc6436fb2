"""The benchmarks' SOAP client: hand-built SOAP 1.2 envelopes with a WS-UsernameToken PasswordDigest (a fresh nonce
per request), sent with httpx, replies read with lxml.

Independent of ``gateway/`` ON PURPOSE: the benchmarks measure the gateway from outside, as a client on the wire
sees it, so nothing here may call the gateway's own envelope, security or XML code (which would then be measured
on both sides, or its bugs hidden on both).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import uuid
from collections.abc import Sequence

import httpx
from lxml import etree

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
TT = "http://www.onvif.org/ver10/schema"
TNS1 = "http://www.onvif.org/ver10/topics"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
CONCRETE = "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
                   "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
BASE64_BINARY = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-soap-message-security-1.0#Base64Binary")
EVENT_ACTION = "http://www.onvif.org/ver10/events/wsdl/EventPortType/"
PULL_ACTION = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/"
UNSUBSCRIBE_ACTION = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"

PREFIXES = {"s": SOAP, "wsa": WSA, "tds": TDS, "tev": TEV, "wsnt": WSNT, "tt": TT, "tns1": TNS1, "tr2": TR2,
            "tptz": TPTZ}
#: The prefixes an events envelope declares (the Envelope's xmlns attributes, in this order).
EVENT_PREFIXES = ("s", "wsa", "tev", "wsnt", "tt", "tns1")

NOTIFICATION = f"{{{WSNT}}}NotificationMessage"
_TOKEN_ITEM = f"{{{TT}}}Source/{{{TT}}}SimpleItem"


def security(user: str, password: str) -> str:
    """A wsse:Security header: UsernameToken with PasswordDigest = base64(sha1(nonce + created + password))."""
    nonce = os.urandom(16)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{user}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>")


def envelope(to: str, action: str, body: str, credentials: tuple[str, str] | None,
             prefixes: Sequence[str] = EVENT_PREFIXES) -> bytes:
    """A request envelope: WS-Addressing Action, MessageID, To; a UsernameToken if ``credentials``."""
    declared = " ".join(f'xmlns:{p}="{PREFIXES[p]}"' for p in prefixes)
    header = security(*credentials) if credentials else ""
    return (f"<s:Envelope {declared}><s:Header>"
            f"<wsa:Action>{action}</wsa:Action><wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
            f"<wsa:To>{to}</wsa:To>{header}</s:Header>"
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()


def location_filter_body(kind: str, lat: float, lon: float, radius: float) -> str:
    """CreatePullPointSubscription for resources of ``kind`` within ``radius`` m of (lat, lon)."""
    return ("<tev:CreatePullPointSubscription><tev:Filter>"
            f'<wsnt:TopicExpression Dialect="{CONCRETE_SET}">tns1:Resource/{kind}</wsnt:TopicExpression>'
            f"<tt:LocationFilter><tt:lon>{lon!r}</tt:lon><tt:lat>{lat!r}</tt:lat>"
            f"<tt:radius>{radius!r}</tt:radius></tt:LocationFilter>"
            "</tev:Filter><tev:InitialTerminationTime>PT10M</tev:InitialTerminationTime>"
            "</tev:CreatePullPointSubscription>")


def topic_body(topic: str, termination: str) -> str:
    """CreatePullPointSubscription for a topic expression alone."""
    return ("<tev:CreatePullPointSubscription><tev:Filter>"
            f'<wsnt:TopicExpression Dialect="{CONCRETE_SET}">{topic}</wsnt:TopicExpression>'
            f"</tev:Filter><tev:InitialTerminationTime>{termination}</tev:InitialTerminationTime>"
            "</tev:CreatePullPointSubscription>")


def pull_body(timeout: str, limit: int) -> str:
    return (f"<tev:PullMessages><tev:Timeout>{timeout}</tev:Timeout>"
            f"<tev:MessageLimit>{limit}</tev:MessageLimit></tev:PullMessages>")


class Soap:
    """Requests of one user over one keep-alive HTTP/1.1 connection (httpx)."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.http = httpx.Client(timeout=httpx.Timeout(120.0), headers={"Content-Type": CONTENT_TYPE})

    def close(self) -> None:
        self.http.close()

    def envelope(self, to: str, action: str, body: str) -> bytes:
        return envelope(to, action, body, (self.user, self.password))

    def post(self, to: str, action: str, body: str) -> bytes:
        resp = self.http.post(to, content=self.envelope(to, action, body))
        if resp.status_code != 200:
            raise RuntimeError(f"{action.rsplit('/', 1)[-1]} -> HTTP {resp.status_code}: {resp.text[:2000]}")
        return resp.content

    def _subscribe(self, event_url: str, body: str) -> str:
        doc = etree.fromstring(self.post(event_url, EVENT_ACTION + "CreatePullPointSubscriptionRequest", body))
        address = doc.find(f".//{{{TEV}}}SubscriptionReference/{{{WSA}}}Address")
        if address is None or not address.text:
            raise RuntimeError("CreatePullPointSubscriptionResponse without a SubscriptionReference address")
        return address.text.strip()

    def create(self, event_url: str, kind: str, lat: float, lon: float, radius: float) -> str:
        """CreatePullPointSubscription for ``kind`` within ``radius``; the pull point's address."""
        return self._subscribe(event_url, location_filter_body(kind, lat, lon, radius))

    def subscribe(self, event_url: str, topic: str, termination: str = "PT1H") -> str:
        """CreatePullPointSubscription for a topic expression (e.g. every resource: ``tns1:Resource//.``)."""
        return self._subscribe(event_url, topic_body(topic, termination))

    def pull(self, address: str, limit: int, timeout: str = "PT0S") -> bytes:
        return self.post(address, PULL_ACTION + "PullMessagesRequest", pull_body(timeout, limit))

    def unsubscribe(self, address: str) -> None:
        self.post(address, UNSUBSCRIBE_ACTION, "<wsnt:Unsubscribe/>")


def message_tokens(document: bytes) -> list[str]:
    """The Token source item of every notification in a PullMessagesResponse."""
    root = etree.fromstring(document)
    return [item.get("Value", "") for note in root.iter(NOTIFICATION)
            for item in note.iterfind(f".//{_TOKEN_ITEM}") if item.get("Name") == "Token"]


def count_notes(document: bytes) -> int:
    return sum(1 for _ in etree.fromstring(document).iter(NOTIFICATION))
