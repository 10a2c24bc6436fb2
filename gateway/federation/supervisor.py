"""One restartable sync task per configured segment, reconciled with the catalog's segment table.

Segments are added and removed by ``vmsgw segment`` in another process, so the
supervisor re-reads the table every :data:`INTERVAL` seconds: new segments get a
task, removed ones lose theirs, a changed configuration restarts it, and a
task that died of an unexpected error is logged and started again
(gateway.supervision.reconciler).  The sync is picked by the segment's kind: a
Resource Query segment's (segment.py) or a plain ONVIF device's (device.py).
All Resource Query syncs share one pool of reply-parsing processes, started
with the first.  Clients come from the shared registry
(gateway.downstream.pool), which gives a segment that connects to us through
an uplink a client over its link, so its sync cannot tell the difference; a
removed segment's client is closed after its task.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from gateway.catalog.model import DEVICE, Segment
from gateway.catalog.store import Catalog
from gateway.downstream.pool import Downstream
from gateway.federation.device import DeviceSync
from gateway.federation.parsing import ReplyParsers
from gateway.federation.segment import SegmentSync
from gateway.supervision.reconciler import Job, Messages, Reconciler

log = logging.getLogger("gateway.federation")

#: Seconds between reads of the segment table: how long a segment added by the CLI waits to start syncing.
INTERVAL = 0.5


def _config(segment: Segment) -> tuple[object, ...]:
    return (segment.url, segment.user, segment.password, segment.verify_tls, segment.ca_file, segment.heartbeat,
            segment.uplinked, segment.kind, segment.device_prefix, segment.location)


class Supervisor:
    def __init__(self, catalog: Catalog, notify: Callable[[], None], downstream: Downstream) -> None:
        self.catalog, self.notify, self.downstream = catalog, notify, downstream
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
        client = self.downstream.client(segment)
        # An uplinked segment ends its backoff as soon as it connects again.
        pause = functools.partial(self.downstream.uplinks.next_attach, segment.name) if segment.uplinked else None
        close = functools.partial(self.downstream.drop, segment.name, client)
        if segment.kind == DEVICE:
            return Job(run=DeviceSync(segment, self.catalog, client, self.notify, pause).run(), close=close)
        sync = SegmentSync(segment, self.catalog, client, self.notify, self.parsers, pause)
        self.parsers.start()
        return Job(run=sync.run(), close=close)
