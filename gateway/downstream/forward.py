"""Forwarding one Media, Media2 or PTZ request to the segment its tokens lead to (docs/wire-format.md §10).

Theory of operation.  The request body is copied and every token in it
(gateway.onvif.token_fields) is resolved by the catalog's token adaption:
they must all lead to one segment.  The copy, with the segment's own tokens,
is POSTed to the segment's service of the same namespace; every token of the
answer is adapted back in place, so the answer keeps the segment's element
order and content.

Rules.  (1) Every call has a budget, the time within which this gateway must
answer (docs/wire-format.md §10.3): the level above may state it in the
:data:`BUDGET_HEADER`, else :data:`DEFAULT_BUDGET`; the segment gets
:func:`below` of it, both as the HTTP timeout and in the same header, so each
lower level answers before the level above gives up.  (2) A segment's fault
comes back as that fault, its reason naming the segment; a segment that is
down, hangs past its share or answers garbage is an ``env:Receiver`` fault
naming it — never an empty or invented success; a service its GetServices
does not list is ``ter:ActionNotSupported``, as a device answers it.  (3) Nothing is retried: a
move sent twice moves twice.  (4) A listing without tokens asks every
segment that is not down (at most :data:`MAX_SEGMENTS`), concurrently, and
merges their items up to a bound; segments that fail are left out and
logged, and only when every one fails is that a fault.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from gateway.addressing.tokens import SEPARATOR
from gateway.catalog.adaption import BadSegmentToken, ForeignToken, LocalToken
from gateway.catalog.model import DEVICE, Segment
from gateway.catalog.segments import DOWN
from gateway.catalog.store import Catalog
from gateway.downstream.errors import SegmentError, SegmentFault, SegmentMisbehaved
from gateway.downstream.pool import Downstream, Services
from gateway.downstream.tokens import ForeignToken as NotDeviceToken
from gateway.downstream.tokens import device_token, segment_token
from gateway.onvif import faults, token_fields
from gateway.onvif.ns import TPTZ, TR2, TRT
from gateway.onvif.services import ServiceContract
from gateway.soap.dispatch import Handler, Request
from gateway.soap.fault import SoapFault

log = logging.getLogger("gateway.downstream")

#: The HTTP request header in which a vmsgw level tells the one below how long it may take (seconds).
BUDGET_HEADER = "x-vmsgw-budget"
#: Seconds a forwarded call may take in all when the client states no budget: below the 10 to 30 s
#: that ONVIF client libraries wait.
DEFAULT_BUDGET = 8.0
#: The smallest budget worth forwarding; a call arriving with less answers at once.
MIN_BUDGET = 0.2
#: Segments asked at most by one listing without tokens.
MAX_SEGMENTS = 32
#: Items a listing without a token answers at most: a city holds millions of profiles; a client finds
#: the ones it wants with a Resource Query and asks for them by token (docs/wire-format.md §10.2).
LIST_LIMIT = 100
#: Changes the segment's copy of a request before it is sent (e.g. a bounded Timeout).
Prepare = Callable[[etree._Element], None]
#: The forwarded services by the names a client knows them by.
SERVICE_NAMES = {TR2: "Media2", TRT: "Media ver10", TPTZ: "PTZ"}


def not_offered(segment: Segment, namespace: str, services: Services) -> SoapFault:
    """The device's own answer for a service it lacks, saying what it does offer, so a client can switch
    between Media2 and Media ver10 instead of reading a segment failure."""
    wanted = SERVICE_NAMES.get(namespace, namespace)
    offered = [name for ns, name in SERVICE_NAMES.items() if ns in services.xaddrs and ns != namespace]
    media = [name for name in offered if name != "PTZ"]
    has = f"; it offers {' and '.join(media)}" if media else "; it offers no media service"
    return faults.action_not_supported(f"segment {segment.name} offers no {wanted} service{has}")


def below(budget: float) -> float:
    """The share of ``budget`` the segment gets: strictly less, keeping time to build the answer."""
    return max(budget * 0.9 - 0.1, 0.0)


def budget_of(headers: Mapping[str, str]) -> float:
    """This call's budget: the level above's, when it stated a usable one, never more than our own default."""
    text = headers.get(BUDGET_HEADER, "").strip()
    try:
        stated = float(text)
    except ValueError:
        return DEFAULT_BUDGET
    return min(stated, DEFAULT_BUDGET) if math.isfinite(stated) and stated > 0 else DEFAULT_BUDGET


@dataclass(frozen=True)
class Routed:
    """A request body rewritten for one segment; ``prefix``: a device segment's device prefix, else None."""

    segment: Segment
    body: etree._Element
    prefix: str | None = None


class Forwarder:
    """Token-adapted calls to segments for the media and PTZ services."""

    def __init__(self, catalog: Catalog, downstream: Downstream) -> None:
        self.catalog, self.downstream = catalog, downstream

    async def route(self, body: etree._Element) -> Routed | None:
        """The copy of ``body`` with the segment's tokens, and its segment; None when it carries no token.

        A token this gateway never handed out, or one of its own catalog,
        is the fault a device gives for an unknown token.
        """
        found = list(token_fields.sites(body))
        if not found:
            return None
        try:
            targets = await asyncio.to_thread(self.catalog.resolve_tokens, [s.value for s in found])
        except (ForeignToken, LocalToken) as err:
            site = next(s for s in found if s.value == err.token)
            raise token_fields.unknown_token(site.name, str(err)) from None
        names = {t.segment for t in targets.values()}
        if len(names) > 1:
            raise faults.invalid_arg_val(None, f"the tokens of one request lead to different segments "
                                               f"({', '.join(sorted(names))}); a request addresses one device")
        (name,) = names
        segment = await asyncio.to_thread(self.catalog.get_segment, name)
        if segment is None:
            raise token_fields.unknown_token(found[0].name, f"token {found[0].value!r} belongs to segment {name}, "
                                                            "which was removed from this gateway")
        routed = copy.deepcopy(body)
        try:
            wire = {token: device_token(segment, t.token) for token, t in targets.items()}
        except NotDeviceToken as err:
            raise token_fields.unknown_token(found[0].name, str(err)) from None
        token_fields.rewrite(list(token_fields.sites(routed)), wire.__getitem__)
        prefix = next(iter(targets.values())).token.partition(SEPARATOR)[0] if segment.kind == DEVICE else None
        return Routed(segment, routed, prefix)

    async def locate(self, profile_token: str) -> Routed:
        """Where a profile token leads: its ``body`` is a ``ProfileToken`` element holding the segment's own
        token; the fault of route() if it leads nowhere."""
        probe = etree.Element("ProfileToken")
        probe.text = profile_token
        routed = await self.route(probe)
        assert routed is not None  # the probe is a token
        return routed

    async def call(self, segment: Segment, namespace: str, body: etree._Element, action: str,
                   budget: float, prefix: str | None = None) -> etree._Element:
        """POST ``body`` to the segment's service ``namespace``; the answer with this gateway's tokens.

        ``prefix``: a device segment's device prefix (looked up when not given).
        """
        share = below(budget)
        if share < MIN_BUDGET:
            raise faults.receiver(f"segment {segment.name}: no time left to ask it (budget {budget:.2f} s)")
        try:
            async with asyncio.timeout(share):
                services = await self.downstream.services(segment)
                if namespace not in services.xaddrs:
                    self.downstream.forget_services(segment.name)  # read again next time: firmware changes
                    raise not_offered(segment, namespace, services)
                address = services.address(namespace)
                answer = await self.downstream.client(segment).call(
                    address, (body, action), share, headers={BUDGET_HEADER: f"{below(share):.3f}"})
        except TimeoutError:
            raise faults.receiver(f"segment {segment.name}: no answer within {share:.1f} s") from None
        except SegmentFault as err:
            raise err.soap_fault(segment.name) from None
        except SegmentMisbehaved as err:
            self.downstream.forget_services(segment.name)
            raise faults.receiver(f"segment {segment.name} answered unusably: {err}") from None
        except SegmentError as err:
            self.downstream.forget_services(segment.name)
            raise faults.receiver(f"segment {segment.name} is unavailable: {err}") from None
        if answer.tag != f"{body.tag}Response":
            raise faults.receiver(f"segment {segment.name} answered {etree.QName(answer).localname} to "
                                  f"{etree.QName(body).localname}")
        await self.adapt_answer(segment, answer, prefix)
        return answer

    async def adapt_answer(self, segment: Segment, answer: etree._Element, prefix: str | None = None) -> None:
        """Every token of a segment's answer becomes this gateway's, in place.

        A device's own tokens become segment tokens under its device prefix
        first, as its sync stores them (docs/wire-format.md §12.1).
        """
        found = list(token_fields.sites(answer))
        if not found:
            return
        if segment.kind == DEVICE:
            prefix = prefix or await asyncio.to_thread(self.catalog.device_prefix, segment.name)
            if prefix is None:
                raise faults.receiver(f"segment {segment.name}: the device has not been read yet; try again")
            own = {s.value: segment_token(prefix, s.value) for s in found}
        else:
            own = {s.value: s.value for s in found}
        try:
            remote = await asyncio.to_thread(self.catalog.adapt_tokens, segment.name, list(own.values()))
        except BadSegmentToken as err:
            raise faults.receiver(str(err)) from None
        token_fields.rewrite(found, lambda value: remote[own[value]])

    async def forward(self, body: etree._Element, namespace: str, action: str, budget: float) -> etree._Element:
        """The segment's answer to ``body``, which must carry a token."""
        routed = await self.route(body)
        if routed is None:
            raise faults.sender(f"{etree.QName(body).localname} needs a token to say which device it addresses",
                                faults.INVALID_ARGS)
        return await self.call(routed.segment, namespace, routed.body, action, budget, routed.prefix)

    async def fan_out(self, body: etree._Element, namespace: str, action: str, budget: float,
                      limit: int) -> tuple[etree._Element, list[etree._Element]]:
        """A listing without tokens: the first answer (as the frame) and at most ``limit`` items of all answers.

        Items are the element children of each answer, in segment-name order.
        """
        segments = [s for s in await asyncio.to_thread(self.catalog.list_segments) if s.state != DOWN]
        asked = segments[:MAX_SEGMENTS]
        results = await asyncio.gather(*(self.call(s, namespace, copy.deepcopy(body), action, budget) for s in asked),
                                       return_exceptions=True)
        answers: list[etree._Element] = []
        failed: list[tuple[Segment, BaseException]] = []
        for segment, result in zip(asked, results, strict=True):
            if isinstance(result, etree._Element):
                answers.append(result)
            elif isinstance(result, SoapFault):
                failed.append((segment, result))
                log.warning("%s: segment %s left out: %s", etree.QName(body).localname, segment.name, result.reason)
            else:
                raise result
        if failed and not answers:
            raise failed[0][1]
        items = [c for answer in answers for c in answer if isinstance(c.tag, str)][:limit]
        frame = answers[0] if answers else etree.Element(etree.QName(body).text + "Response")
        return frame, items


def merged(frame: etree._Element, items: Sequence[etree._Element]) -> etree._Element:
    """``frame`` with exactly ``items`` as children, in order."""
    for c in list(frame):
        frame.remove(c)
    for item in items:
        frame.append(item)
    return frame


def forwarding(contract: ServiceContract, *, listing: bool, prepare: Prepare | None = None) -> Handler:
    """The handler of an operation that is forwarded as it is (``prepare`` may change the segment's copy).

    ``listing``: without a token it asks every segment (Rule 4); otherwise a
    request without a token is the client's mistake.
    """

    async def handler(req: Request) -> etree._Element:
        fw: Forwarder = req.state.forwarder
        operation = etree.QName(req.body).localname
        action = contract.request_action(operation)
        budget = budget_of(req.headers)
        routed = await fw.route(req.body)
        if routed is None:
            if not listing:
                raise faults.sender(f"{operation} needs a token to say which device it addresses",
                                    faults.INVALID_ARGS)
            frame, items = await fw.fan_out(req.body, contract.namespace, action, budget, LIST_LIMIT)
            return merged(frame, items)
        if prepare is not None:
            prepare(routed.body)
        return await fw.call(routed.segment, contract.namespace, routed.body, action, budget, routed.prefix)

    return handler
