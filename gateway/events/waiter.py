"""Waking long-polling PullMessages when the change feed moves.

One watcher per process: while anyone waits it reads the feed head every
:data:`POLL_INTERVAL` (so writes by other processes sharing the database —
``vmsgw catalog import``, another gateway worker — are seen), and writers in
this process wake waiters at once with :meth:`FeedWatcher.notify`.  Waiting
costs no thread, only a future.  On shutdown every waiter is released so its
PullMessages can answer (empty) instead of being cancelled.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from gateway.supervision.periodic import every

log = logging.getLogger("gateway.events")

#: How often the feed head is read while someone waits: the worst-case extra
#: latency of a change made by another process.
POLL_INTERVAL = 0.2


class FeedWatcher:
    def __init__(self, head_seq: Callable[[], int]) -> None:
        self._head_seq = head_seq
        self._pulse: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters = 0
        self._head = -1
        self.stopping = asyncio.Event()

    def notify(self) -> None:
        """Wake every current waiter; later waiters wait for the next pulse."""
        if not self._pulse.done():
            self._pulse.set_result(None)
        self._pulse = asyncio.get_running_loop().create_future()

    async def wait(self, deadline: float) -> None:
        """Return when the feed may have moved, at ``deadline`` (loop time), or on shutdown."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0 or self.stopping.is_set():
            return
        self._waiters += 1
        stopping = asyncio.ensure_future(self.stopping.wait())
        woken: list[asyncio.Future[Any]] = [self._pulse, stopping]
        try:
            await asyncio.wait(woken, timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiters -= 1
            stopping.cancel()

    async def run(self) -> None:
        """Poll the feed head while there are waiters; pulse them when it moves."""
        await every(self.stopping, POLL_INTERVAL, self._poll, what="reading the change feed head", log=log)

    async def _poll(self) -> None:
        if not self._waiters:
            return
        head = await asyncio.to_thread(self._head_seq)
        if head != self._head:
            self._head = head
            self.notify()

    def stop(self) -> None:
        self.stopping.set()
        self.notify()
