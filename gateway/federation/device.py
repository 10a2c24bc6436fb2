"""Keeping a plain ONVIF device's resources in the catalog: the I/O shell around device_protocol.py
(docs/architecture.md §10).

Theory of operation.  A session reads the device (clock, services,
identity, scopes, location, profiles, video sources, PTZ nodes), opens a sync
generation, stores every item as an Initialized event under
``<devicePrefix>:<deviceToken>`` through the catalog's mirror — the same path
as a Resource Query segment's events, so token context, ``Offline`` and
change events work unchanged — and reconciles (what the device no longer
lists is deleted).  Then it reads the device again every heartbeat: a read
that answers proves the device alive, and its differences (an item gone is
deleted, a new or changed one stored) reach the catalog as events.  A
device with an event service is also subscribed to its configuration events
(device_protocol.CONFIGURATION_TOPICS): the wait between two reads is then a
PullMessages with the heartbeat as its Timeout, so a change is read at once
rather than at the next heartbeat; without events, or when they fail with a
fault, the wait is a plain sleep.

Rules.  (1) A call not answered within :func:`call_timeout`, a refused
connection, a refused login, or a reply that is not SOAP marks the segment
down: its resources turn ``Offline`` at once, and the session restarts after
the backoff of gateway segments (segment.py's constants).  (2) A fault from
an optional call (GetGeoLocation, the video sources, PTZ) only leaves that
part out; a fault from GetProfiles or GetDeviceInformation is the device
failing.  (3) The prefix is chosen at each session (device_protocol.py), so a
device restarted with the same identity keeps its tokens.  (4) The device's
clock offset is measured at each session and sent in the UsernameToken's
Created, so a camera whose clock is off still accepts our login.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import TypeVar

from lxml import etree

from gateway.catalog.model import Segment
from gateway.catalog.store import Catalog
from gateway.downstream import wire
from gateway.downstream.client import SegmentClient
from gateway.downstream.errors import SegmentError, SegmentFault, SegmentMisbehaved, SegmentRefused
from gateway.downstream.reach import as_reachable, direct_device
from gateway.federation import device_protocol as dp
from gateway.federation import protocol
from gateway.federation.segment import (
    BACKOFF_CAP,
    BACKOFF_SPREAD,
    BACKOFF_START,
    GRACE,
    Pause,
    finishing,
    mark_down,
    sleep,
)
from gateway.onvif.ns import TEV, TPTZ, TR2, TRT
from gateway.supervision.backoff import Backoff
from gateway.vocabulary.resource import SegmentUpdate

log = logging.getLogger("gateway.federation")
T = TypeVar("T")

#: Longest a single call to a device may take, whatever its heartbeat.
MAX_CALL_TIMEOUT = 15.0
#: Fewest seconds between two reads of a device, however many events it sends.
MIN_READ_INTERVAL = 1.0
#: Messages taken per PullMessages of configuration events: one is enough to read again.
EVENT_LIMIT = 10


def call_timeout(segment: Segment) -> float:
    """A device answering slower than its heartbeat plus the grace of gateway segments counts as down."""
    return min(MAX_CALL_TIMEOUT, segment.heartbeat + GRACE)


class DeviceSync:
    """The supervised task of one device segment."""

    def __init__(self, segment: Segment, catalog: Catalog, client: SegmentClient, notify: Callable[[], None],
                 pause: Pause | None = None) -> None:
        self.segment, self.catalog, self.http, self.notify = segment, catalog, client, notify
        self.pause = pause if pause is not None else sleep
        self.timeout = call_timeout(segment)
        self._stored = False
        self._services_seen: dict[str, str] = {}
        self._refused: list[str] = []  # what the last read refused

    async def run(self) -> None:
        """Sessions forever; between failed ones, mark down and back off."""
        backoff = Backoff(BACKOFF_START, BACKOFF_CAP, spread=BACKOFF_SPREAD)
        while True:
            self._stored = False
            try:
                await self.session()
            except SegmentError as exc:
                await self._down(str(exc))
            if self._stored:
                backoff.reset()
            await self.pause(backoff.next())

    async def session(self) -> None:
        """Read, store and reconcile; then read again every heartbeat, storing the differences."""
        name = self.segment.name
        prefix, inventory = await self.read()
        generation = await asyncio.to_thread(self.catalog.segment_begin_sync, name)
        current = await self._store(generation, prefix, inventory, set())
        removed = await finishing(self.catalog.segment_reconcile, name, generation)
        if removed:
            self.notify()
        log.info("device segment %s: %d items under prefix %s (%s auth)", name, len(current), prefix,
                 self.http.auth)
        events = _Events(self, self._services_seen.get(TEV))
        while True:
            started = asyncio.get_running_loop().time()
            await events.wait(self.segment.heartbeat)
            pause = MIN_READ_INTERVAL - (asyncio.get_running_loop().time() - started)
            if pause > 0:
                await asyncio.sleep(min(pause, self.segment.heartbeat))
            prefix, inventory = await self.read()
            current = await self._store(generation, prefix, inventory, current)

    async def read(self) -> tuple[str, dp.Inventory]:
        """One full read of the device: its prefix and its inventory."""
        services = await self._services()
        ident = dp.identity(await self._call(dp.get_device_information()))
        scopes: tuple[str, ...] = await self._optional(dp.get_scopes(), dp.scopes, ())
        location = self.segment.location or await self._optional(dp.get_geo_location(), dp.geo_location, None)
        refused: list[str] = []
        if TR2 in services:
            media, url = TR2, services[TR2]
        elif TRT in services:
            media, url = TRT, services[TRT]
        else:
            raise SegmentMisbehaved("the device lists no media service (neither Media2 nor Media)")
        items = dp.profiles(await self.http.call(url, dp.get_profiles(media), self.timeout), media, refused)
        if TRT in services:
            items += await self._optional(dp.get_video_sources(), lambda b: dp.video_sources(b, refused), [],
                                          services[TRT])
        else:
            items += await self._optional(dp.get_video_source_configurations(),
                                          lambda b: dp.configured_sources(b, refused), [], url)
        if TPTZ in services:
            items += await self._optional(dp.get_nodes(), lambda b: dp.nodes(b, refused), [], services[TPTZ])
        inventory = dp.Inventory(identity=ident, scopes=scopes, items=tuple(items), location=location,
                                 refused=tuple(refused))
        return dp.device_prefix(scopes, ident, self.segment.device_prefix, self.segment.name), inventory

    async def _services(self) -> dict[str, str]:
        """GetServices, after the clock (asked without a login, as devices answer anyone) sets the offset (Rule 4)."""
        sent = dt.datetime.now(dt.UTC)
        try:
            when = dp.clock(await self.http.call(self.segment.url, dp.get_system_date_and_time(), self.timeout,
                                                 anonymous=True))
        except (SegmentFault, SegmentRefused):  # a device that wants a login even for its clock: keep ours
            when = None
        if when is not None:
            self.http.clock_offset = when - sent - (dt.datetime.now(dt.UTC) - sent) / 2
        self._services_seen = wire.service_addresses(await self._call(wire.get_services()),
                                                      direct_device(self.segment))
        return self._services_seen

    async def _call(self, request: dp.Request) -> etree._Element:
        return await self.http.call(self.segment.url, request, self.timeout)

    async def _optional(self, request: dp.Request, read: Callable[[etree._Element], T], default: T,
                        url: str | None = None) -> T:
        """``read`` of the reply; ``default`` when the device answers this call with a fault (Rule 2)."""
        try:
            body = await self.http.call(url or self.segment.url, request, self.timeout)
        except SegmentFault as exc:
            log.debug("device segment %s: %s answered %s", self.segment.name, request[1], exc)
            return default
        return read(body)

    async def _store(self, generation: int, prefix: str, inventory: dp.Inventory,
                     before: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Apply this read (and Deleted for what ``before`` held and it lacks); the (kind, token) pairs it holds."""
        events, refused = dp.updates(prefix, inventory, dp.device_name(inventory.scopes, inventory.identity))
        now = {(u.kind, u.token) for u in events}
        refused += inventory.refused
        # Every read lists the same bad items again: counted when they change, not at each heartbeat.
        report, self._refused = (refused if refused != self._refused else []), refused
        changed = await finishing(self._apply, generation, [*events, *dp.deleted(before - now)], report)
        self._stored = True
        if changed:
            self.notify()
        return now

    def _apply(self, generation: int, events: list[SegmentUpdate], refused: list[str]) -> int:
        name = self.segment.name
        result = self.catalog.segment_apply(name, generation, events)
        changed = result.created + result.changed + result.deleted
        changed += self.catalog.segment_set_reachable(name, True, error=None, now=dt.datetime.now(dt.UTC))
        if refused:  # after the success above, which clears the last error
            log.warning("device segment %s: refused %d items, e.g. %s", name, len(refused), refused[0])
            self.catalog.segment_rejected(name, len(refused), refused[0])
        return changed

    async def _down(self, error: str) -> None:
        await mark_down(self.catalog, self.segment, error, self.notify)


class _Events:
    """The device's configuration events as the wait between reads; a plain sleep without them."""

    def __init__(self, sync: DeviceSync, address: str | None) -> None:
        self.sync, self.service = sync, address
        self.subscription: str | None = None
        self.renew_at = 0.0
        self.termination = max(60.0, 4 * sync.segment.heartbeat)

    async def wait(self, seconds: float) -> None:
        """Until a configuration event arrives, or ``seconds``; a fault ends the events for this session."""
        loop = asyncio.get_running_loop()
        if self.service is None:
            await asyncio.sleep(seconds)
            return
        http, timeout = self.sync.http, self.sync.timeout
        try:
            if self.subscription is None or loop.time() >= self.renew_at:  # resubscribed well before it expires
                created = await http.call(self.service, dp.subscribe_configuration(self.termination), timeout)
                self.subscription = as_reachable(self.sync.segment, protocol.subscription_address(created))
                self.renew_at = loop.time() + self.termination / 2
            reply = await http.call(self.subscription, protocol.pull_messages(seconds, EVENT_LIMIT),
                                    seconds + timeout)
            if dp.notified(reply):
                log.info("device segment %s: configuration changed; reading it again", self.sync.segment.name)
        except (SegmentFault, SegmentMisbehaved) as exc:  # the events are optional; the reads are not
            log.info("device segment %s: no configuration events (%s); polling every %g s",
                     self.sync.segment.name, exc, seconds)
            self.service = None
            await asyncio.sleep(seconds)
