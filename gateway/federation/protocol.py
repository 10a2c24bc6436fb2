"""Resource Query as the gateway speaks it to a segment, without I/O (docs/wire-format.md §3-5, §6.2-6.7).

Requests go out as bytes; replies come back as bytes and leave as typed
results or a :mod:`~gateway.federation.errors` exception — never anything
else, whatever the segment sends.  Replies are parsed by the SOAP core's
hardened parser (no DTDs or entities, a size cap), and every resource event
is checked before it may reach the catalog: a segment's bad items are
counted and reported, never stored.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass

from lxml import etree

from gateway.federation.errors import SegmentFault, SegmentMisbehaved, SegmentUnavailable
from gateway.onvif.ns import DIALECT_CONCRETE_SET, NSMAP, TDS, TEV, WSNT
from gateway.onvif.resource_event.read import NOTIFICATION, read_event
from gateway.onvif.services import DEVICE, EVENTS, PULL_POINT
from gateway.onvif.time import format_duration
from gateway.query.filters import ALL_RESOURCES
from gateway.soap.build import build_request
from gateway.soap.envelope import parse_envelope
from gateway.soap.fault import FaultVocabulary, SoapFault
from gateway.soap.ns import SOAP_ENV, WSA
from gateway.soap.security import username_token
from gateway.vocabulary.resource import SegmentUpdate

#: Largest reply accepted from a segment: a full 1000-message pull is about 0.5 MB.
MAX_REPLY_BYTES = 8 * 1024 * 1024

_NO_SUBCODES = FaultVocabulary()


@dataclass(frozen=True, kw_only=True)
class Credentials:
    user: str
    password: str


@dataclass(frozen=True, kw_only=True)
class PullBatch:
    events: list[SegmentUpdate]
    rejected: list[str]  # why each refused item was refused


def request(body: etree._Element, *, action: str, to: str, credentials: Credentials | None,
            now: dt.datetime | None = None) -> bytes:
    security = None
    if credentials is not None:
        security = username_token(credentials.user, credentials.password, nonce=os.urandom(16),
                                  created=now or dt.datetime.now(dt.UTC))
    return build_request(body, action=action, to=to, message_id=f"urn:uuid:{uuid.uuid4()}", security=security,
                         nsmap=NSMAP)


def get_services() -> tuple[etree._Element, str]:
    body = etree.Element(f"{{{TDS}}}GetServices")
    etree.SubElement(body, f"{{{TDS}}}IncludeCapability").text = "false"
    return body, DEVICE.request_action("GetServices")


def create_pull_point(termination_s: float) -> tuple[etree._Element, str]:
    body = etree.Element(f"{{{TEV}}}CreatePullPointSubscription")
    topic = etree.SubElement(etree.SubElement(body, f"{{{TEV}}}Filter"), f"{{{WSNT}}}TopicExpression",
                             Dialect=DIALECT_CONCRETE_SET)
    topic.text = ALL_RESOURCES
    etree.SubElement(body, f"{{{TEV}}}InitialTerminationTime").text = format_duration(termination_s)
    return body, EVENTS.request_action("CreatePullPointSubscription")


def pull_messages(timeout_s: float, limit: int) -> tuple[etree._Element, str]:
    body = etree.Element(f"{{{TEV}}}PullMessages")
    etree.SubElement(body, f"{{{TEV}}}Timeout").text = format_duration(timeout_s)
    etree.SubElement(body, f"{{{TEV}}}MessageLimit").text = str(limit)
    return body, PULL_POINT.request_action("PullMessages")


def unsubscribe() -> tuple[etree._Element, str]:
    return etree.Element(PULL_POINT.body("Unsubscribe")), PULL_POINT.request_action("Unsubscribe")


@dataclass(frozen=True, kw_only=True)
class Reply:
    """An HTTP reply of a segment as received, before any parsing."""

    url: str
    status: int
    data: bytes


def reply_body(reply: Reply) -> etree._Element:
    """The body element of a segment's reply; a SOAP fault raises :class:`SegmentFault`.

    A reply that is not SOAP is the segment misbehaving, unless its HTTP
    status says the service is down, refuses us or is gone: then it is unavailable.
    """
    try:
        body = parse_envelope(reply.data, max_bytes=MAX_REPLY_BYTES, vocab=_NO_SUBCODES).body
    except SoapFault as exc:
        if reply.status >= 500 or reply.status in (401, 403, 404):
            raise SegmentUnavailable(f"HTTP {reply.status} from {reply.url}") from None
        raise SegmentMisbehaved(f"reply is not a SOAP 1.2 envelope: {exc.reason}") from None
    if body.tag == f"{{{SOAP_ENV}}}Fault":
        raise _fault(body)
    return body


def read_pull(reply: Reply) -> PullBatch:
    """The resource events of a PullMessages reply as received: :func:`reply_body`, then :func:`parse_pull`."""
    return parse_pull(reply_body(reply))


def _fault(fault: etree._Element) -> SegmentFault:
    local = [(v.text or "").strip().rsplit(":", 1)[-1] for v in fault.iter(f"{{{SOAP_ENV}}}Value")]
    reason = fault.findtext(f"{{{SOAP_ENV}}}Reason/{{{SOAP_ENV}}}Text") or ""
    detail = fault.find(f"{{{SOAP_ENV}}}Detail")
    detail_name = etree.QName(detail[0]).localname if detail is not None and len(detail) else None
    return SegmentFault(local[0] if local else "", tuple(local[1:]), detail_name, reason.strip()[:500])


def event_service_address(body: etree._Element) -> str:
    for service in body.iter(f"{{{TDS}}}Service"):
        if (service.findtext(f"{{{TDS}}}Namespace") or "").strip() == TEV:
            return _http_url(service.findtext(f"{{{TDS}}}XAddr"), "event service XAddr")
    raise SegmentMisbehaved("GetServices lists no event service")


def subscription_address(body: etree._Element) -> str:
    text = body.findtext(f"{{{TEV}}}SubscriptionReference/{{{WSA}}}Address")
    return _http_url(text, "SubscriptionReference address")


def _http_url(text: str | None, what: str) -> str:
    url = (text or "").strip()
    if not url.startswith(("http://", "https://")) or len(url) > 2048 or any(c.isspace() for c in url):
        raise SegmentMisbehaved(f"{what} is not an http(s) URL: {url[:100]!r}")
    return url


def parse_pull(body: etree._Element) -> PullBatch:
    """The resource events of a PullMessagesResponse; other topics are ignored."""
    if body.tag != f"{{{TEV}}}PullMessagesResponse":
        raise SegmentMisbehaved(f"expected PullMessagesResponse, got {etree.QName(body).localname}")
    events: list[SegmentUpdate] = []
    rejected: list[str] = []
    for note in body.iterchildren(NOTIFICATION):
        try:
            event = read_event(note)
        except ValueError as exc:
            rejected.append(str(exc))
            continue
        if event is not None:
            events.append(event)
    return PullBatch(events=events, rejected=rejected)

