"""One restartable task per configuration row, reconciled with a periodic read of the rows.

Theory of operation
-------------------
The rows live in a table other processes write (``vmsgw segment``, ``vmsgw uplink set``, SetUplink), so
:meth:`Reconciler.run` re-reads them every ``interval`` seconds (:func:`~gateway.supervision.periodic.every`)
and makes the running tasks match:

* a new row (by :attr:`Reconciler.key`) gets a task: ``start(row)`` returns a :class:`Job`, whose ``run``
  coroutine becomes the task;
* a removed row's task is stopped;
* a row whose ``identity`` changed is restarted: the old task is stopped first, so whatever it writes last
  lands before the new one's first write;
* a task that ended on its own is started again at the next read, and one that died of an exception is
  logged first, with its traceback.

Stopping a task is, in this order: the job's ``drain`` hook (let work in flight finish within a grace the
hook knows), cancelling the task and awaiting it, then the job's ``close`` hook (release what ``start``
made, such as an HTTP client).  When :meth:`Reconciler.run` ends (its stop event, or its own
cancellation) every task is stopped, all at once.

A failed read keeps the running tasks (the database may be briefly unavailable); a ``start`` that raises
is logged and tried again at the next read.  Neither is fatal.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .periodic import every  # within the package: supervision imports nothing else of the gateway

Row = TypeVar("Row")


@dataclass(frozen=True)
class Job:
    """What ``start(row)`` returns: the coroutine to run as the row's task, and how to stop it."""

    run: Coroutine[Any, Any, None]
    #: Before cancelling: let work in flight finish (it knows its own grace).
    drain: Callable[[], Awaitable[object]] | None = None
    #: After the task ended: release what ``start`` made for it.
    close: Callable[[], Awaitable[object]] | None = None


@dataclass(frozen=True, kw_only=True)
class Messages:
    """The log lines of a reconciler, each with one ``%s`` for the row's key."""

    #: The task name, as ``asyncio.Task.get_name()`` shows it, e.g. ``"sync:%s"``.
    task: str
    removed: str
    crashed: str


@dataclass
class _Running:
    identity: Hashable
    job: Job
    task: asyncio.Task[None]


class Reconciler(Generic[Row]):
    """Keeps one task per row; ``key`` names a row, ``identity`` says when its configuration changed."""

    def __init__(self, *, key: Callable[[Row], str], identity: Callable[[Row], Hashable],
                 start: Callable[[Row], Job], messages: Messages, log: logging.Logger) -> None:
        self.key, self.identity, self.start = key, identity, start
        self.messages, self.log = messages, log
        self._running: dict[str, _Running] = {}

    def running(self) -> dict[str, asyncio.Task[None]]:
        """The current tasks by key (a copy)."""
        return {key: r.task for key, r in self._running.items()}

    async def run(self, stopping: asyncio.Event, read: Callable[[], Iterable[Row]], *, interval: float,
                  what: str) -> None:
        """Read the rows in a worker thread every ``interval`` seconds and reconcile, until ``stopping``.

        ``what`` names the read in the log line of its failure ("<what> failed")."""

        async def tick() -> None:
            rows = await asyncio.to_thread(lambda: list(read()))
            await self.reconcile(rows)

        try:
            await every(stopping, interval, tick, what=what, log=self.log)
        finally:
            await self.stop_all()

    async def reconcile(self, rows: Iterable[Row]) -> None:
        """Start, stop and restart tasks so that exactly ``rows`` have a live one."""
        wanted = {self.key(row): row for row in rows}
        for key in [k for k in self._running if k not in wanted]:
            self.log.info(self.messages.removed, key)
            await self._stop(key)
        for key, row in wanted.items():
            running = self._running.get(key)
            if running is not None and running.identity == self.identity(row) and not running.task.done():
                continue
            if running is not None:
                task = running.task
                if task.done() and not task.cancelled() and task.exception():
                    self.log.error(self.messages.crashed, key, exc_info=task.exception())
                await self._stop(key)
            try:
                job = self.start(row)
            except Exception:  # tried again at the next read
                self.log.exception("starting %s failed", self.messages.task % key)
                continue
            task = asyncio.create_task(job.run, name=self.messages.task % key)
            self._running[key] = _Running(self.identity(row), job, task)

    async def stop_all(self) -> None:
        """Stop every task, all at once."""
        await asyncio.gather(*(self._stop(key) for key in list(self._running)))

    async def _stop(self, key: str) -> None:
        running = self._running.pop(key)
        try:
            if running.job.drain is not None:
                await running.job.drain()
        finally:
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)
            if running.job.close is not None:
                await running.job.close()
