"""The reconciler of one restartable task per configuration row, against rows and jobs made here."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from gateway.supervision.reconciler import Job, Messages, Reconciler

log = logging.getLogger("tests.supervision")
MESSAGES = Messages(task="job:%s", removed="row %s removed", crashed="job %s crashed")


@dataclass(frozen=True)
class Row:
    name: str
    setting: int = 0


class Journal:
    """Starts jobs that idle (or crash or end on demand) and writes down every step of their lives."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.crash: dict[str, BaseException] = {}
        self.finish: set[str] = set()
        self.refuse: set[str] = set()
        self.ran = asyncio.Event()

    def start(self, row: Row) -> Job:
        if row.name in self.refuse:
            raise RuntimeError("cannot start")
        self.steps.append(("start", f"{row.name}={row.setting}"))
        return Job(run=self._run(row), drain=lambda: self._note("drain", row),
                   close=lambda: self._note("close", row))

    async def _run(self, row: Row) -> None:
        self.ran.set()
        try:
            if row.name in self.crash:
                raise self.crash[row.name]
            if row.name in self.finish:
                return
            await idle()
        except asyncio.CancelledError:
            self.steps.append(("cancelled", f"{row.name}={row.setting}"))
            raise

    async def _note(self, step: str, row: Row) -> None:
        self.steps.append((step, f"{row.name}={row.setting}"))


def reconciler(journal: Journal) -> Reconciler[Row]:
    return Reconciler(key=lambda row: row.name, identity=lambda row: row.setting, start=journal.start,
                      messages=MESSAGES, log=log)


async def idle() -> None:
    await asyncio.Event().wait()


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_new_rows_start_removed_rows_stop_unchanged_rows_keep_their_task() -> None:
    async def go() -> None:
        journal = Journal()
        tasks = reconciler(journal)
        await tasks.reconcile([Row("a"), Row("b")])
        first = tasks.running()
        assert sorted(first) == ["a", "b"] and first["a"].get_name() == "job:a"
        await settle()
        await tasks.reconcile([Row("a")])
        assert journal.steps[2:] == [("drain", "b=0"), ("cancelled", "b=0"), ("close", "b=0")]
        assert tasks.running() == {"a": first["a"]}  # the same task: nothing changed
        await tasks.stop_all()

    asyncio.run(asyncio.wait_for(go(), 5))


def test_a_changed_row_is_stopped_before_its_successor_starts() -> None:
    async def go() -> None:
        journal = Journal()
        tasks = reconciler(journal)
        await tasks.reconcile([Row("a", 1)])
        await settle()
        await tasks.reconcile([Row("a", 2)])
        assert journal.steps == [("start", "a=1"), ("drain", "a=1"), ("cancelled", "a=1"), ("close", "a=1"),
                                 ("start", "a=2")]
        await tasks.stop_all()
        assert tasks.running() == {}

    asyncio.run(asyncio.wait_for(go(), 5))


def test_a_crashed_task_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        journal = Journal()
        journal.crash["a"] = ValueError("bug")
        tasks = reconciler(journal)
        await tasks.reconcile([Row("a")])
        await settle()
        assert tasks.running()["a"].done()
        del journal.crash["a"]
        await tasks.reconcile([Row("a")])
        assert not tasks.running()["a"].done()
        assert [s for s, _ in journal.steps] == ["start", "drain", "close", "start"]
        await tasks.stop_all()

    with caplog.at_level(logging.ERROR, logger="tests.supervision"):
        asyncio.run(asyncio.wait_for(go(), 5))
    crashed = [r for r in caplog.records if r.getMessage() == "job a crashed"]
    assert len(crashed) == 1 and crashed[0].exc_info and crashed[0].exc_info[0] is ValueError


def test_a_task_that_ended_on_its_own_is_started_again_without_a_crash_report(
        caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        journal = Journal()
        journal.finish.add("a")
        tasks = reconciler(journal)
        await tasks.reconcile([Row("a")])
        await settle()
        await tasks.reconcile([Row("a")])
        assert [s for s, _ in journal.steps] == ["start", "drain", "close", "start"]
        await tasks.stop_all()

    with caplog.at_level(logging.ERROR, logger="tests.supervision"):
        asyncio.run(asyncio.wait_for(go(), 5))
    assert not [r for r in caplog.records if "crashed" in r.getMessage()]


def test_a_start_that_raises_is_logged_and_tried_at_the_next_read(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        journal = Journal()
        journal.refuse.add("a")
        tasks = reconciler(journal)
        await tasks.reconcile([Row("a"), Row("b")])
        assert sorted(tasks.running()) == ["b"]
        journal.refuse.clear()
        await tasks.reconcile([Row("a"), Row("b")])
        assert sorted(tasks.running()) == ["a", "b"]
        await tasks.stop_all()

    with caplog.at_level(logging.ERROR, logger="tests.supervision"):
        asyncio.run(asyncio.wait_for(go(), 5))
    assert [r.getMessage() for r in caplog.records] == ["starting job:a failed"]


def test_a_failing_drain_still_cancels_and_closes() -> None:
    async def go() -> list[str]:
        steps: list[str] = []

        async def drain() -> None:
            raise OSError("peer gone")

        async def close() -> None:
            steps.append("close")

        def start(row: Row) -> Job:
            return Job(run=idle(), drain=drain, close=close)

        tasks: Reconciler[Row] = Reconciler(key=lambda row: row.name, identity=lambda row: row.setting,
                                            start=start, messages=MESSAGES, log=log)
        await tasks.reconcile([Row("a")])
        task = tasks.running()["a"]
        with pytest.raises(OSError):
            await tasks.reconcile([])
        assert task.cancelled() and tasks.running() == {}
        return steps

    assert asyncio.run(asyncio.wait_for(go(), 5)) == ["close"]


def test_run_follows_the_rows_survives_a_failed_read_and_stops_everything_at_the_end(
        caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        journal = Journal()
        rows: list[Row] | OSError = [Row("a"), Row("b")]
        reads = 0

        def read() -> list[Row]:
            nonlocal reads
            reads += 1
            if isinstance(rows, OSError):
                raise rows
            return rows

        tasks = reconciler(journal)
        stopping = asyncio.Event()
        running = asyncio.create_task(tasks.run(stopping, read, interval=0.001, what="reading the rows"))

        async def until(condition: Callable[[], bool]) -> None:
            while not condition():
                await asyncio.sleep(0.001)

        await until(lambda: sorted(tasks.running()) == ["a", "b"])
        rows = OSError("database is locked")
        seen = reads
        await until(lambda: reads >= seen + 2)
        assert sorted(tasks.running()) == ["a", "b"]  # a failed read keeps the running tasks
        rows = [Row("b", 1)]
        await until(lambda: journal.steps[-1] == ("start", "b=1"))
        assert sorted(tasks.running()) == ["b"]
        stopping.set()
        await running
        assert tasks.running() == {} and journal.steps[-3:] == [("drain", "b=1"), ("cancelled", "b=1"),
                                                                ("close", "b=1")]

    with caplog.at_level(logging.ERROR, logger="tests.supervision"):
        asyncio.run(asyncio.wait_for(go(), 5))
    assert any(r.getMessage() == "reading the rows failed" for r in caplog.records)


def test_stop_all_stops_the_tasks_at_once() -> None:
    async def go() -> float:
        async def slow_drain() -> None:
            await asyncio.sleep(0.05)

        def start(row: Row) -> Job:
            return Job(run=idle(), drain=slow_drain)

        tasks: Reconciler[Row] = Reconciler(key=lambda row: row.name, identity=lambda row: row.setting,
                                            start=start, messages=MESSAGES, log=log)
        await tasks.reconcile([Row(str(n)) for n in range(10)])
        loop = asyncio.get_running_loop()
        started = loop.time()
        await tasks.stop_all()
        return loop.time() - started

    assert asyncio.run(asyncio.wait_for(go(), 5)) < 0.4  # ten drains of 50 ms together, not one after another
