"""A minimal event service (``tev``): pull points that carry the camera's configuration-change events.

``tns1:Media/ProfileChanged`` and ``tns1:Media/ConfigurationChanged`` are what Media2 devices send when profiles or
configurations change; the camera publishes them when a test reconfigures it (``profiles N``, ``rename NAME``).
Filters are accepted and not applied, as many cameras do. A pull waits up to its Timeout (capped) for a message.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from lxml import etree

from tests.fakes.camera.faults import Fault
from tests.fakes.camera.ns import TEV, TNS1, WSA, WSNT, WSTOP, el, tt, value
from tests.fakes.camera.values import iso_time, parse_duration

if TYPE_CHECKING:
    from tests.fakes.camera.context import Context, Handler

PULL_POINT_PATH = "/onvif/event_service/pullpoint/"
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
CONCRETE = "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"
ITEM_FILTER = "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
MAX_WAIT = 10.0
MAX_QUEUE = 1000
DEFAULT_LIFETIME = 60.0
#: topic (below tns1:) -> names of its Source items
TOPICS = {"Media/ProfileChanged": ("Token",), "Media/ConfigurationChanged": ("Token", "Type")}


@dataclass
class Subscription:
    ident: int
    expires: float  # device clock, epoch seconds
    queue: list[etree._Element] = field(default_factory=list)


class Hub:
    """The live subscriptions and the messages waiting in each."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._subscriptions: dict[int, Subscription] = {}
        self._ids = itertools.count(1)

    def subscribe(self, expires: float) -> Subscription:
        with self._changed:
            sub = Subscription(next(self._ids), expires)
            self._subscriptions[sub.ident] = sub
            return sub

    def get(self, ident: int, now: float) -> Subscription:
        with self._changed:
            sub = self._subscriptions.get(ident)
            if sub is None or sub.expires < now:
                self._subscriptions.pop(ident, None)
                raise Fault("Sender", ("InvalidArgVal",), "no such subscription")
            return sub

    def drop(self, ident: int) -> None:
        with self._changed:
            self._subscriptions.pop(ident, None)

    def publish(self, message: etree._Element) -> None:
        with self._changed:
            for sub in self._subscriptions.values():
                sub.queue.append(message)
                del sub.queue[:-MAX_QUEUE]
            self._changed.notify_all()

    def take(self, sub: Subscription, limit: int, wait: float) -> list[etree._Element]:
        deadline = time.monotonic() + wait
        with self._changed:
            while not sub.queue and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            taken, sub.queue[:limit] = sub.queue[:limit], []
            return taken


def notification(topic: str, source: dict[str, str], utc: float) -> etree._Element:
    """A wsnt:NotificationMessage of ``tns1:<topic>`` with Source items."""
    message = tt("Message", tt("Source", *(tt("SimpleItem", Name=k, Value=v) for k, v in source.items())),
                 UtcTime=iso_time(utc))
    return el(WSNT, "NotificationMessage", el(WSNT, "Topic", f"tns1:{topic}", Dialect=CONCRETE_SET),
              el(WSNT, "Message", message))


def service_capabilities(_ctx: Context) -> etree._Element:
    return el(TEV, "Capabilities", WSSubscriptionPolicySupport=False,
              WSPausableSubscriptionManagerInterfaceSupport=False,
              MaxNotificationProducers=0, MaxPullPoints=16, PersistentNotificationStorage=False)


def get_service_capabilities(ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TEV, "GetServiceCapabilitiesResponse", service_capabilities(ctx))


def _topic_set() -> etree._Element:
    media = el(TNS1, "Media")
    for name, items in TOPICS.items():
        description = tt("MessageDescription", tt("Source", *(
            tt("SimpleItemDescription", Name=item, Type="tt:ReferenceToken" if item == "Token" else "xs:string")
            for item in items)), IsProperty=False)
        topic = el(TNS1, name.split("/", 1)[1], description)
        topic.set(f"{{{WSTOP}}}topic", "true")
        media.append(topic)
    return el(WSTOP, "TopicSet", media)


def get_event_properties(_ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TEV, "GetEventPropertiesResponse",
              value(TEV, "TopicNamespaceLocation", "http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
              value(WSNT, "FixedTopicSet", True), _topic_set(),
              value(WSNT, "TopicExpressionDialect", CONCRETE), value(WSNT, "TopicExpressionDialect", CONCRETE_SET),
              value(TEV, "MessageContentFilterDialect", ITEM_FILTER),
              value(TEV, "MessageContentSchemaLocation", "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"))


def _termination(text: str | None, now: float) -> float:
    """An absolute xs:dateTime or a relative xs:duration from ``now`` (device clock)."""
    if text is None or not text.strip():
        return now + DEFAULT_LIFETIME
    text = text.strip()
    if text.startswith(("P", "-P")):
        return now + parse_duration(text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise Fault("Sender", ("InvalidArgVal",), "not a termination time") from None


def create_pull_point_subscription(ctx: Context, op: etree._Element) -> etree._Element:
    now = ctx.device.utc_now()
    sub = ctx.events.subscribe(_termination(op.findtext(f"{{{TEV}}}InitialTerminationTime"), now))
    return el(TEV, "CreatePullPointSubscriptionResponse",
              el(TEV, "SubscriptionReference", value(WSA, "Address", f"{ctx.base}{PULL_POINT_PATH}{sub.ident}")),
              value(WSNT, "CurrentTime", iso_time(now)), value(WSNT, "TerminationTime", iso_time(sub.expires)))


def _subscription(ctx: Context) -> Subscription:
    tail = ctx.path[len(PULL_POINT_PATH):] if ctx.path.startswith(PULL_POINT_PATH) else ""
    if not tail.isdigit():
        raise Fault("Sender", ("InvalidArgVal",), "this address is no subscription")
    return ctx.events.get(int(tail), ctx.device.utc_now())


def pull_messages(ctx: Context, op: etree._Element) -> etree._Element:
    sub = _subscription(ctx)
    wait = min(max(parse_duration(op.findtext(f"{{{TEV}}}Timeout") or "PT0S"), 0.0), MAX_WAIT)
    try:
        limit = max(1, int((op.findtext(f"{{{TEV}}}MessageLimit") or "1").strip()))
    except ValueError:
        raise Fault("Sender", ("InvalidArgVal",), "MessageLimit is not an integer") from None
    messages = ctx.events.take(sub, limit, wait)
    return el(TEV, "PullMessagesResponse", value(TEV, "CurrentTime", iso_time(ctx.device.utc_now())),
              value(TEV, "TerminationTime", iso_time(sub.expires)), *messages)


def renew(ctx: Context, op: etree._Element) -> etree._Element:
    sub = _subscription(ctx)
    now = ctx.device.utc_now()
    sub.expires = _termination(op.findtext(f"{{{WSNT}}}TerminationTime"), now)
    return el(WSNT, "RenewResponse", value(WSNT, "TerminationTime", iso_time(sub.expires)),
              value(WSNT, "CurrentTime", iso_time(now)))


def unsubscribe(ctx: Context, _op: etree._Element) -> etree._Element:
    ctx.events.drop(_subscription(ctx).ident)
    return el(WSNT, "UnsubscribeResponse")


def set_synchronization_point(ctx: Context, _op: etree._Element) -> etree._Element:
    _subscription(ctx)
    return el(TEV, "SetSynchronizationPointResponse")


HANDLERS: dict[str, Handler] = {
    "GetServiceCapabilities": get_service_capabilities, "GetEventProperties": get_event_properties,
    "CreatePullPointSubscription": create_pull_point_subscription, "PullMessages": pull_messages,
    "Renew": renew, "Unsubscribe": unsubscribe, "SetSynchronizationPoint": set_synchronization_point,
}
PRE_AUTH = {"GetServiceCapabilities"}
