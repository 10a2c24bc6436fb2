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
memory; bad items are refused and counted, good ones applied.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable
from typing import TypeVar

import httpx
from lxml import etree

from gateway.catalog.model import Segment
from gateway.catalog.store import Catalog
from gateway.federation import protocol
from gateway.federation.errors import SegmentError, SegmentFault, SegmentMisbehaved, SegmentUnavailable

log = logging.getLogger("gateway.federation")
T = TypeVar("T")
#: What the pulling task hands over: a batch and whether it ended the enumeration, or why pulling failed.
Pulled = tuple[protocol.PullBatch, bool] | Exception

#: Seconds a pull may overrun the heartbeat before the segment counts as down.
GRACE = 5.0
#: PullMessages Timeout while enumerating: an empty answer then means "enumeration complete".
ENUMERATION_TIMEOUT = 0.0
#: Messages per pull: bounds the memory and the catalog batch of one round trip.
MESSAGE_LIMIT = 1000
BACKOFF_START, BACKOFF_CAP = 1.0, 30.0
#: Timeout of calls other than PullMessages.
CALL_TIMEOUT = 15.0


async def _finishing(fn: Callable[..., T], *args: object) -> T:
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


class Link:
    """One segment's HTTP side: POST a SOAP request, read a capped reply, map every error."""

    def __init__(self, segment: Segment, client: httpx.AsyncClient) -> None:
        # An uplinked segment may have no login: its uplink grants the level (digest §3.3).
        self.credentials = (protocol.Credentials(user=segment.user, password=segment.password)
                            if segment.user else None)
        self.client = client

    async def call(self, url: str, request: tuple[etree._Element, str], timeout: float) -> etree._Element:
        body, action = request
        data = protocol.request(body, action=action, to=url, credentials=self.credentials)
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        try:
            async with self.client.stream("POST", url, content=data, headers=headers, timeout=timeout) as resp:
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > protocol.MAX_REPLY_BYTES:
                        raise SegmentMisbehaved(f"reply larger than {protocol.MAX_REPLY_BYTES} bytes")
                    chunks.append(chunk)
                status = resp.status_code
        except httpx.TimeoutException:
            raise SegmentUnavailable(f"no answer from {url} within {timeout:.0f} s") from None
        except httpx.HTTPError as exc:
            raise SegmentUnavailable(f"{type(exc).__name__} talking to {url}: {exc}") from None
        try:
            return protocol.reply_body(b"".join(chunks))
        except SegmentMisbehaved:
            if status >= 500 or status in (401, 403, 404):
                raise SegmentUnavailable(f"HTTP {status} from {url}") from None
            raise


class SegmentSync:
    """The supervised task of one segment."""

    def __init__(self, segment: Segment, catalog: Catalog, client: httpx.AsyncClient, notify: Callable[[], None]) -> None:
        self.segment, self.catalog, self.notify = segment, catalog, notify
        self.link = Link(segment, client)

    async def run(self) -> None:
        """Sessions forever; between failed ones, mark down and back off."""
        delay = BACKOFF_START
        while True:
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
            else:
                delay = BACKOFF_START
                continue
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, BACKOFF_CAP)

    async def session(self) -> None:
        """One subscription: a pulling task feeding the storing stage through a one-batch queue.

        While the catalog stores batch n, batch n+1 is already on its way, so
        an enumeration runs at the pace of the slower side rather than the sum
        of both.  Batches are stored strictly in order, at most three are held
        (one being stored, one queued, one arriving), and a failed pull ends
        the session only after the batches received before it are stored.
        """
        name = self.segment.name
        services = await self.link.call(self.segment.url, protocol.get_services(), CALL_TIMEOUT)
        events_url = protocol.event_service_address(services)
        created = await self.link.call(events_url, protocol.create_pull_point(max(60.0, 3 * self.segment.heartbeat)),
                                       CALL_TIMEOUT)
        address = protocol.subscription_address(created)
        generation = await asyncio.to_thread(self.catalog.segment_begin_sync, name)
        log.info("segment %s: subscribed at %s (generation %d)", name, address, generation)
        batches: asyncio.Queue[Pulled] = asyncio.Queue(maxsize=1)
        pulling = asyncio.create_task(self._pull(address, batches))
        try:
            await self._store(generation, batches)
        finally:
            pulling.cancel()
            await asyncio.wait([pulling])

    async def _pull(self, address: str, batches: asyncio.Queue[Pulled]) -> None:
        """Enumerate with short pulls until one comes back empty, then long-poll at the heartbeat."""
        enumerating = True
        try:
            while True:
                timeout = ENUMERATION_TIMEOUT if enumerating else self.segment.heartbeat
                body = await self.link.call(address, protocol.pull_messages(timeout, MESSAGE_LIMIT), timeout + GRACE)
                batch = await asyncio.to_thread(protocol.parse_pull, body)  # off the event loop: queries keep flowing
                complete = enumerating and not batch.events and not batch.rejected
                await batches.put((batch, complete))
                enumerating = enumerating and not complete
        except Exception as exc:  # handed to the storing stage, which raises it in its turn
            await batches.put(exc)

    async def _store(self, generation: int, batches: asyncio.Queue[Pulled]) -> None:
        """Apply each batch in order; after the enumeration's last one, reconcile."""
        while True:
            pulled = await batches.get()
            if isinstance(pulled, Exception):
                raise pulled
            batch, complete = pulled
            changed = await _finishing(self._apply, generation, batch)
            if complete:
                changed += await _finishing(self.catalog.segment_reconcile, self.segment.name, generation)
                log.info("segment %s: enumeration complete", self.segment.name)
            if changed:
                self.notify()

    def _apply(self, generation: int, batch: protocol.PullBatch) -> int:
        name = self.segment.name
        now = dt.datetime.now(dt.UTC)
        changed = self.catalog.segment_set_reachable(name, True, error=None, now=now)
        if batch.events:
            result = self.catalog.segment_apply(name, generation, batch.events)
            changed += result.created + result.changed + result.deleted
        if batch.rejected:
            log.warning("segment %s: refused %d items, e.g. %s", name, len(batch.rejected), batch.rejected[0])
            self.catalog.segment_rejected(name, len(batch.rejected), batch.rejected[0])
        return changed

    async def _down(self, error: str) -> None:
        log.warning("segment %s is down: %s", self.segment.name, error)
        changed = await asyncio.to_thread(
            self.catalog.segment_set_reachable, self.segment.name, False, error=error[:500],
            now=dt.datetime.now(dt.UTC))
        if changed:
            self.notify()
