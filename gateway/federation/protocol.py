"""Resource Query as the gateway speaks it to a segment, without I/O (docs/wire-format.md §3-5, §6.2-6.7).

Requests and replies travel as gateway.downstream.wire shapes them (every
reply is a body element or a :mod:`~gateway.downstream.errors` exception,
whatever the segment sends); this module adds the Resource Query calls and
checks every resource event before it may reach the catalog: a segment's bad
items are counted and reported, never stored.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.downstream.errors import SegmentMisbehaved
from gateway.downstream.wire import Reply, http_url, reply_body, service_addresses
from gateway.onvif.ns import DIALECT_CONCRETE_SET, TEV, WSNT
from gateway.onvif.resource_event.read import NOTIFICATION, read_event
from gateway.onvif.services import EVENTS, PULL_POINT
from gateway.onvif.time import format_duration
from gateway.query.filters import ALL_RESOURCES
from gateway.soap.ns import WSA
from gateway.vocabulary.resource import SegmentUpdate


@dataclass(frozen=True, kw_only=True)
class PullBatch:
    events: list[SegmentUpdate]
    rejected: list[str]  # why each refused item was refused


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


def read_pull(reply: Reply) -> PullBatch:
    """The resource events of a PullMessages reply as received: :func:`reply_body`, then :func:`parse_pull`."""
    return parse_pull(reply_body(reply))


def event_service_address(body: etree._Element) -> str:
    address = service_addresses(body).get(TEV)
    if address is None:
        raise SegmentMisbehaved("GetServices lists no event service")
    return address


def subscription_address(body: etree._Element) -> str:
    text = body.findtext(f"{{{TEV}}}SubscriptionReference/{{{WSA}}}Address")
    return http_url(text, "SubscriptionReference address")


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

