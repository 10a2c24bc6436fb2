"""Segment replies are parsed in worker processes, so that parsing and storing use different cores.

Reading a full PullMessages reply (lxml, then every event checked) costs
about a third of a synced resource's CPU, storing it the rest.  In one
process the GIL makes the two take turns; parsed by a pool of spawned
processes, reply n+1 is read while the catalog thread stores reply n.  The
batch comes back pickled (a few µs per resource each way).

A worker that dies (a hostile reply exhausting memory, a crash in native
code) takes only itself down: the pool is replaced, and the reply it was
reading fails its session like any other segment error (the next reply
goes to a new pool).  Workers ignore SIGINT: a Ctrl-C reaches the whole
process group, and stopping them is the gateway's job during its graceful
shutdown (:meth:`ReplyParsers.aclose`); a gateway killed outright takes its
workers with it.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from gateway.downstream.errors import SegmentError
from gateway.downstream.wire import Reply
from gateway.federation import protocol

T = TypeVar("T")
#: At most this many parsing processes, however many cores: one writer thread stores what they read.
MAX_WORKERS = 4


def worker_count() -> int:
    """One core is left to the gateway's own process; at least one worker, at most :data:`MAX_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_WORKERS, cores - 1))


def _worker_setup() -> None:
    """Leave Ctrl-C to the gateway, and end with it: a killed gateway cannot shut its pool down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="parent-watch", daemon=True).start()


def _exit_with(parent_sentinel: int) -> None:
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)


class ReplyParsers:
    """The pool of parsing processes of one gateway, started when the first segment needs it."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else worker_count()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def start(self) -> None:
        """Spawn a worker now (if none runs yet), while a new segment is still subscribing."""
        self._submit(os.getpid)

    def submit(self, reply: Reply) -> Future[protocol.PullBatch]:
        """Start :func:`protocol.read_pull` on ``reply`` in a worker; :meth:`result` waits for it."""
        return self._submit(protocol.read_pull, reply)

    async def result(self, parsed: Future[protocol.PullBatch]) -> protocol.PullBatch:
        """The batch, or the segment error the reply amounts to."""
        try:
            return await asyncio.wrap_future(parsed)
        except BrokenProcessPool:
            raise SegmentError("the process parsing its reply ended unexpectedly") from None

    async def aclose(self) -> None:
        """Stop the workers; replies still queued are dropped (their sessions are being stopped too)."""
        pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    def _submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        """``fn(*args)`` in a worker; a pool broken by a dead worker is replaced first."""
        if self._closed:
            raise RuntimeError("the reply parsers are closed")
        if self._pool is not None:
            try:
                return self._pool.submit(fn, *args)
            except BrokenProcessPool:
                self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_worker_setup)
        return self._pool.submit(fn, *args)
