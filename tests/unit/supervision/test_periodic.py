"""The periodic loop: work now and then every interval, errors logged and survived, stopped at once."""
from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.supervision.periodic import every, pause

log = logging.getLogger("tests.supervision")


def test_work_runs_at_once_then_every_interval_until_stopped() -> None:
    async def go() -> int:
        stopping, rounds = asyncio.Event(), 0

        async def work() -> None:
            nonlocal rounds
            rounds += 1
            if rounds == 3:
                stopping.set()

        await asyncio.wait_for(every(stopping, 0.001, work, what="counting", log=log), 5)
        return rounds

    assert asyncio.run(go()) == 3


def test_an_error_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> int:
        stopping, rounds = asyncio.Event(), 0

        async def work() -> None:
            nonlocal rounds
            rounds += 1
            if rounds == 2:
                stopping.set()
            raise OSError("database is locked")

        await asyncio.wait_for(every(stopping, 0.001, work, what="reading the table", log=log), 5)
        return rounds

    with caplog.at_level(logging.ERROR, logger="tests.supervision"):
        assert asyncio.run(go()) == 2
    failures = [r for r in caplog.records if r.getMessage() == "reading the table failed"]
    assert len(failures) == 2 and all(r.exc_info and r.exc_info[0] is OSError for r in failures)


def test_stopping_interrupts_the_pause_and_a_set_event_runs_nothing() -> None:
    async def go() -> tuple[float, int]:
        stopping, rounds = asyncio.Event(), 0

        async def work() -> None:
            nonlocal rounds
            rounds += 1

        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(every(stopping, 3600, work, what="hourly", log=log))
        await asyncio.sleep(0)
        stopping.set()
        await asyncio.wait_for(task, 5)
        await every(stopping, 3600, work, what="hourly", log=log)  # already stopped: not even one round
        return loop.time() - started, rounds

    took, rounds = asyncio.run(go())
    assert rounds == 1 and took < 1.0


def test_cancellation_is_not_swallowed() -> None:
    async def go() -> None:
        async def work() -> None:
            await asyncio.sleep(3600)

        task = asyncio.create_task(every(asyncio.Event(), 1, work, what="forever", log=log))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())


def test_pause_says_whether_it_was_stopped() -> None:
    async def go() -> tuple[bool, bool]:
        stopping = asyncio.Event()
        timed_out = await pause(stopping, 0.001)
        stopping.set()
        return timed_out, await pause(stopping, 3600)

    assert asyncio.run(go()) == (False, True)
