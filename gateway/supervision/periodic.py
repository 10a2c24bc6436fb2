"""The periodic loop: ``work()`` every N seconds until a stop event, its errors logged and never fatal.

The runtime's reaper and WAL checkpoint, the change-feed watcher and both reconcilers (segments, uplinks)
are this loop.  The first round runs at once; the pause after a round is interrupted by the stop event, so
shutdown never waits out an interval.  An exception of ``work()`` is logged as "<what> failed" with its
traceback and the loop goes on: a briefly unavailable database must not end the server.  Cancellation is
not caught.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def pause(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stopping`` is set, whichever comes first; whether it is set."""
    try:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that races completion.
        async with asyncio.timeout(seconds):
            await stopping.wait()
    except TimeoutError:
        pass
    return stopping.is_set()


async def every(stopping: asyncio.Event, interval: float, work: Callable[[], Awaitable[object]], *,
                what: str, log: logging.Logger) -> None:
    """Run ``work()`` now and then every ``interval`` seconds until ``stopping`` is set."""
    while not stopping.is_set():
        try:
            await work()
        except Exception:  # logged with its traceback; the next round may succeed
            log.exception("%s failed", what)
        await pause(stopping, interval)
