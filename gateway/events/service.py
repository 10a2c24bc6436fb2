"""The event service endpoint: capabilities, event properties, pull point creation (docs/wire-format.md §6.1-6.2)."""
from __future__ import annotations

import datetime as dt
import functools
import secrets

from lxml import etree

from gateway.catalog.errors import PullPointLimitReached
from gateway.catalog.model import PullPointState
from gateway.events.context import EventContext
from gateway.onvif import faults
from gateway.onvif.access import PRE_AUTH, READ_MEDIA
from gateway.onvif.ns import DIALECT_CONCRETE, DIALECT_CONCRETE_SET, DIALECT_ITEM_FILTER, TEV, WSNT
from gateway.onvif.services import EVENTS, PULL_POINT_PREFIX
from gateway.onvif.time import TimeFormatError, format_utc, parse_absolute_or_relative
from gateway.onvif.topics import topic_set
from gateway.onvif.xml import child, element, only_children, sub, utcnow
from gateway.query.filters import parse_filter
from gateway.soap.dispatch import Request
from gateway.soap.ns import WSA
from gateway.vocabulary.resource import RESOURCE_KINDS

TOPIC_NAMESPACE_LOCATION = "http://www.onvif.org/onvif/ver10/topics/topicns.xml"
SCHEMA_LOCATION = "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"


def capabilities(req: Request) -> etree._Element:
    """``tev:Capabilities``, for GetServiceCapabilities and the device service's discovery answers."""
    return etree.Element(
        f"{{{TEV}}}Capabilities",
        WSSubscriptionPolicySupport="true",
        WSPausableSubscriptionManagerInterfaceSupport="false",
        MaxNotificationProducers="0",
        MaxPullPoints=str(req.state.events.limits.max_pull_points),
        PersistentNotificationStorage="false",
    )


async def get_service_capabilities(req: Request) -> etree._Element:
    resp = element(f"{{{TEV}}}GetServiceCapabilitiesResponse")
    resp.append(capabilities(req))
    return resp


async def get_event_properties(req: Request) -> etree._Element:
    resp = element(f"{{{TEV}}}GetEventPropertiesResponse")
    sub(resp, f"{{{TEV}}}TopicNamespaceLocation", TOPIC_NAMESPACE_LOCATION)
    # The set of resource kinds is fixed, but a federating gateway's topics are not (docs/wire-format.md §4.4 rec).
    sub(resp, f"{{{WSNT}}}FixedTopicSet", "false")
    resp.append(topic_set(RESOURCE_KINDS))
    sub(resp, f"{{{WSNT}}}TopicExpressionDialect", DIALECT_CONCRETE)
    sub(resp, f"{{{WSNT}}}TopicExpressionDialect", DIALECT_CONCRETE_SET)
    sub(resp, f"{{{TEV}}}MessageContentFilterDialect", DIALECT_ITEM_FILTER)
    sub(resp, f"{{{TEV}}}MessageContentSchemaLocation", SCHEMA_LOCATION)
    return resp


def termination_time(
    text: str | None, now: dt.datetime, *, default: float, maximum: float, initial: bool
) -> dt.datetime:
    """Validate a requested (initial) termination time; fault with the acceptable range if refused."""
    if text is None or not text.strip():
        return now + dt.timedelta(seconds=default)
    minimum, latest = now + dt.timedelta(seconds=1), now + dt.timedelta(seconds=maximum)
    refuse = faults.unacceptable_initial_termination_time if initial else faults.unacceptable_termination_time
    try:
        when = parse_absolute_or_relative(text.strip(), now)
    except TimeFormatError as exc:
        raise refuse(f"termination time {text.strip()!r} is not an xs:dateTime or xs:duration: {exc}", minimum,
                     latest) from None
    if when < minimum:
        raise refuse(f"termination time {format_utc(when)} is not in the future", minimum, latest)
    if when > latest:
        raise refuse(f"termination time {format_utc(when)} is beyond the maximum of {maximum:.0f} s", minimum, latest)
    return when


async def create_pull_point_subscription(req: Request) -> etree._Element:
    ctx: EventContext = req.state.events
    body = req.body
    only_children(body, ("Filter", "InitialTerminationTime", "SubscriptionPolicy"))
    filter_el, policy_el = child(body, "Filter"), child(body, "SubscriptionPolicy")
    query = parse_filter(filter_el, policy_el)
    now = utcnow()
    itt = child(body, "InitialTerminationTime")
    termination = termination_time(
        itt.text if itt is not None else None, now,
        default=ctx.limits.default_termination, maximum=ctx.limits.max_termination, initial=True,
    )
    head = await ctx.db(ctx.catalog.head_seq)
    state = PullPointState(
        id=secrets.token_urlsafe(24),  # the address is the capability: unguessable (docs/wire-format.md §6.3)
        principal=req.principal.name or "",
        query_json=query.to_json(),
        # ChangedOnly sends no Initialized, so there is no snapshot to page through.
        phase="tail" if query.changed_only else "snapshot",
        snap_after_id=0,
        snap_seq=head,
        tail_seq=head,
        termination=termination,
        created=now,
    )
    try:
        await ctx.db(functools.partial(ctx.catalog.create_pull_point, state, max_count=ctx.limits.max_pull_points))
    except PullPointLimitReached:
        raise faults.subscribe_creation_failed(
            f"the gateway holds its maximum of {ctx.limits.max_pull_points} pull points") from None
    resp = element(f"{{{TEV}}}CreatePullPointSubscriptionResponse")
    ref = sub(resp, f"{{{TEV}}}SubscriptionReference")
    sub(ref, f"{{{WSA}}}Address", req.base_url + PULL_POINT_PREFIX + state.id)
    sub(resp, f"{{{WSNT}}}CurrentTime", format_utc(now))
    sub(resp, f"{{{WSNT}}}TerminationTime", format_utc(termination))
    return resp


EVENT_SERVICE = EVENTS.service({
    "GetServiceCapabilities": (get_service_capabilities, PRE_AUTH),
    "GetEventProperties": (get_event_properties, READ_MEDIA),
    "CreatePullPointSubscription": (create_pull_point_subscription, READ_MEDIA),
})
