"""One restartable sync task per configured segment, reconciled with the catalog's segment table.

Segments are added and removed by ``vmsgw segment`` in another process, so the
supervisor re-reads the table every :data:`INTERVAL` seconds: new segments get a
task, removed ones lose theirs, a changed configuration restarts it, and a
task that died of an unexpected error is logged and started again
(gateway.supervision.reconciler; a sync's HTTP client is closed after its task).  All
syncs share one pool of reply-parsing processes, started with the first.  A
segment that connects to us through an uplink gets a client whose transport
is its link (gateway.uplink.listening.transport), so its sync cannot tell the
difference.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

import httpx

from gateway.catalog.model import Segment
from gateway.catalog.store import Catalog
from gateway.federation.parsing import ReplyParsers
from gateway.federation.segment import SegmentSync
from gateway.supervision.reconciler import Job, Messages, Reconciler
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.listening.transport import UplinkTransport

log = logging.getLogger("gateway.federation")

#: Seconds between reads of the segment table: how long a segment added by the CLI waits to start syncing.
INTERVAL = 0.5


def _config(segment: Segment) -> tuple[object, ...]:
    return (segment.url, segment.user, segment.password, segment.verify_tls, segment.ca_file, segment.heartbeat,
            segment.uplinked)


def _client(segment: Segment, uplinks: UplinkRegistry) -> httpx.AsyncClient:
    if segment.uplinked:
        return httpx.AsyncClient(transport=UplinkTransport(uplinks, segment.name))
    verify: bool | str = segment.ca_file if segment.verify_tls and segment.ca_file else segment.verify_tls
    return httpx.AsyncClient(verify=verify, limits=httpx.Limits(max_connections=4))


class Supervisor:
    def __init__(self, catalog: Catalog, notify: Callable[[], None], uplinks: UplinkRegistry | None = None) -> None:
        self.catalog, self.notify = catalog, notify
        self.uplinks = uplinks if uplinks is not None else UplinkRegistry()  # empty: uplinked segments stay down
        self.parsers = ReplyParsers()  # no process until the first segment
        self.syncs: Reconciler[Segment] = Reconciler(
            key=lambda segment: segment.name, identity=_config, start=self._start, log=log,
            messages=Messages(task="sync:%s", removed="segment %s removed; stopping its sync",
                              crashed="sync of segment %s crashed; restarting"))

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            await self.syncs.run(stopping, self.catalog.list_segments, interval=INTERVAL,
                                 what="reading the segment table")
        finally:
            await self.parsers.aclose()

    def _start(self, segment: Segment) -> Job:
        client = _client(segment, self.uplinks)
        # An uplinked segment ends its backoff as soon as it connects again.
        pause = functools.partial(self.uplinks.next_attach, segment.name) if segment.uplinked else None
        sync = SegmentSync(segment, self.catalog, client, self.notify, self.parsers, pause)
        self.parsers.start()
        return Job(run=sync.run(), close=client.aclose)
