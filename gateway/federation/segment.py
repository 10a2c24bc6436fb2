"""Keeping one segment's resources in the catalog (the I/O shell around federation/protocol.py).

Theory of operation.  A session subscribes to ``tns1:Resource//.`` on the
segment's event service, enumerates (short pulls until one comes back empty),
reconciles (resources of this segment not re-announced since the
subscription are deleted), then tails with PullMessages whose Timeout is the
segment's heartbeat.  Every successful pull proves the segment alive.

Rules.  (1) A pull not answered within heartbeat + :data:`GRACE`, a refused
connection, an HTTP error or a reply that is not SOAP marks the segment down:
its resources turn ``Offline`` at once (``Changed`` events above), and the
session restarts after a jittered backoff that doubles up to
:data:`BACKOFF_CAP`.  (2) ``ResourceUnknownFault`` (the segment restarted and
lost our pull point) resubscribes at once without marking anything down.
(3) Replies are read with a size cap, so a flooding segment cannot grow our
memory; bad items are refused and counted, good ones applied.  (4) The
backoff starts over after a session that stored anything, and an uplinked
segment's backoff ends as soon as it connects again (the supervisor's ``pause``).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

from gateway.catalog.model import Segment
from gateway.catalog.store import Catalog
from gateway.downstream import wire
from gateway.downstream.client import SegmentClient
from gateway.downstream.errors import SegmentError, SegmentFault
from gateway.federation import protocol
from gateway.federation.parsing import ReplyParsers
from gateway.supervision.backoff import Backoff

log = logging.getLogger("gateway.federation")
T = TypeVar("T")
#: How a sync waits out a backoff of so many seconds; it may end early when retrying is worth it.
Pause = Callable[[float], Awaitable[object]]

#: Seconds a pull may overrun the heartbeat before the segment counts as down.
GRACE = 5.0
#: PullMessages Timeout while enumerating: an empty answer then means "enumeration complete".
ENUMERATION_TIMEOUT = 0.0
#: Messages per pull: bounds the memory and the catalog batch of one round trip.
MESSAGE_LIMIT = 1000
BACKOFF_START, BACKOFF_CAP = 1.0, 30.0
#: Each backoff delay is the current step times a factor drawn from this range.
BACKOFF_SPREAD = (0.5, 1.0)
#: Timeout of calls other than PullMessages.
CALL_TIMEOUT = 15.0


async def finishing(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a worker thread that a cancellation waits for.

    A catalog write cannot be abandoned halfway, and one that finished after
    the session had ended could mark a segment up after it was marked down.
    """
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


async def sleep(seconds: float) -> None:
    """The default pause of a sync between failed sessions."""
    await asyncio.sleep(seconds)


async def mark_down(catalog: Catalog, segment: Segment, error: str, notify: Callable[[], None]) -> None:
    """Mark ``segment`` down with ``error`` (its resources turn Offline) and wake pull points if that changed any."""
    log.warning("segment %s is down: %s", segment.name, error)
    changed = await asyncio.to_thread(catalog.segment_set_reachable, segment.name, False, error=error[:500],
                                      now=dt.datetime.now(dt.UTC))
    if changed:
        notify()


class SegmentSync:
    """The supervised task of one segment."""

    def __init__(self, segment: Segment, catalog: Catalog, client: SegmentClient, notify: Callable[[], None],
                 parsers: ReplyParsers, pause: Pause | None = None) -> None:
        self.segment, self.catalog, self.notify, self.parsers = segment, catalog, notify, parsers
        self.pause = pause if pause is not None else sleep
        self.http = client
        self._stored = False  # whether the current session stored a reply (Rule 4)

    async def run(self) -> None:
        """Sessions forever; between failed ones, mark down and back off."""
        backoff = Backoff(BACKOFF_START, BACKOFF_CAP, spread=BACKOFF_SPREAD)
        while True:
            self._stored = False
            try:
                await self.session()
            except SegmentFault as exc:
                if not exc.resource_unknown:
                    await self._down(f"fault: {exc}")
                else:
                    log.info("segment %s lost our pull point; subscribing again", self.segment.name)
                    continue
            except SegmentError as exc:
                await self._down(str(exc))
            if self._stored:
                backoff.reset()
            await self.pause(backoff.next())

    async def session(self) -> None:
        """One subscription: a pulling task feeding the storing stage through a one-reply queue.

        The pulling task only moves bytes and hands each reply to a parsing
        process (gateway.federation.parsing), so the next PullMessages travels
        and the next reply is parsed while the catalog stores the current
        batch: an enumeration runs at the pace of the slowest of the three
        rather than their sum.  Storing has one worker thread: beside another
        busy Python thread, SQLite's per-row release of the GIL made the writes
        three times slower.  Replies are stored strictly in order, at most
        three are held (one being stored, one queued, one arriving), and a
        failed pull ends the session only after the replies received before it
        are stored.
        """
        name = self.segment.name
        services = await self.http.call(self.segment.url, wire.get_services(), CALL_TIMEOUT)
        events_url = protocol.event_service_address(services)
        created = await self.http.call(events_url, protocol.create_pull_point(max(60.0, 3 * self.segment.heartbeat)),
                                       CALL_TIMEOUT)
        address = protocol.subscription_address(created)
        generation = await asyncio.to_thread(self.catalog.segment_begin_sync, name)
        log.info("segment %s: subscribed at %s (generation %d)", name, address, generation)
        replies: asyncio.Queue[Future[protocol.PullBatch] | Exception] = asyncio.Queue(maxsize=1)
        enumerated = asyncio.Event()
        pulling = asyncio.create_task(self._pull(address, replies, enumerated))
        try:
            await self._store(generation, replies, enumerated)
        finally:
            pulling.cancel()
            await asyncio.wait([pulling])

    async def _pull(self, address: str, replies: asyncio.Queue[Future[protocol.PullBatch] | Exception],
                    enumerated: asyncio.Event) -> None:
        """Short pulls until the storing stage has seen the enumeration end, then long polls at the heartbeat.

        The pulls already on their way when the end is seen are short ones:
        they come back at once, with changes or empty, and are stored as such.
        """
        try:
            while True:
                timeout = self.segment.heartbeat if enumerated.is_set() else ENUMERATION_TIMEOUT
                reply = await self.http.fetch(address, protocol.pull_messages(timeout, MESSAGE_LIMIT), timeout + GRACE)
                await replies.put(self.parsers.submit(reply))
        except Exception as exc:  # handed to the storing stage, which raises it in its turn
            await replies.put(exc)

    async def _store(self, generation: int, replies: asyncio.Queue[Future[protocol.PullBatch] | Exception],
                     enumerated: asyncio.Event) -> None:
        """Apply each parsed reply in order; after the enumeration's last one, reconcile."""
        while True:
            parsed = await replies.get()
            if isinstance(parsed, Exception):
                raise parsed
            batch = await self.parsers.result(parsed)
            changed, empty = await finishing(self._apply, generation, batch)
            self._stored = True
            if empty and not enumerated.is_set():
                changed += await finishing(self.catalog.segment_reconcile, self.segment.name, generation)
                enumerated.set()
                log.info("segment %s: enumeration complete", self.segment.name)
            if changed:
                self.notify()

    def _apply(self, generation: int, batch: protocol.PullBatch) -> tuple[int, bool]:
        """Store one parsed PullMessages reply: (resources changed, whether it held nothing)."""
        name = self.segment.name
        now = dt.datetime.now(dt.UTC)
        changed = self.catalog.segment_set_reachable(name, True, error=None, now=now)
        if batch.events:
            result = self.catalog.segment_apply(name, generation, batch.events)
            changed += result.created + result.changed + result.deleted
        if batch.rejected:
            log.warning("segment %s: refused %d items, e.g. %s", name, len(batch.rejected), batch.rejected[0])
            self.catalog.segment_rejected(name, len(batch.rejected), batch.rejected[0])
        return changed, not batch.events and not batch.rejected

    async def _down(self, error: str) -> None:
        await mark_down(self.catalog, self.segment, error, self.notify)
