"""The pool of reply-parsing processes: same results as parsing in place, and a dead worker costs one reply."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from gateway.downstream import wire
from gateway.downstream.errors import SegmentError, SegmentFault, SegmentMisbehaved, SegmentUnavailable
from gateway.federation import protocol
from gateway.federation.parsing import MAX_WORKERS, ReplyParsers, worker_count
from gateway.onvif import faults
from gateway.onvif.ns import NSMAP
from gateway.soap.build import build_fault
from gateway.vocabulary.resource import Operation, Resource
from tests.unit.federation.test_protocol import CAM, pull_reply


@pytest.fixture
def parsers() -> Iterator[ReplyParsers]:
    pool = ReplyParsers(workers=1)
    yield pool
    asyncio.run(pool.aclose())


def reply(data: bytes, status: int = 200) -> wire.Reply:
    return wire.Reply(url="http://seg/pp/1", status=status, data=data)


def parse(parsers: ReplyParsers, data: bytes, status: int = 200) -> protocol.PullBatch:
    async def go() -> protocol.PullBatch:
        return await parsers.result(parsers.submit(reply(data, status)))
    return asyncio.run(asyncio.wait_for(go(), 30))


def workers() -> set[int]:
    """The pids of this process's living multiprocessing children."""
    return {p.pid for p in multiprocessing.active_children() if p.is_alive() and p.pid is not None}


def started_worker(parsers: ReplyParsers) -> int:
    """Have ``parsers`` start its (single) worker; its pid."""
    before = workers()
    parse(parsers, pull_reply())
    (pid,) = workers() - before
    return pid


def alive(pid: int) -> bool:
    return pid in workers()


def big_reply(count: int) -> bytes:
    """A reply a worker takes a while to read."""
    cams = [Resource(token=f"32010001071321{n:06d}:Profile_1", name=f"cam {n}", lat=32.0, lon=118.0,
                     scopes=("onvif://www.onvif.org/name/x",)) for n in range(count)]
    return pull_reply(*[(cam, Operation.INITIALIZED) for cam in cams])


def test_a_batch_comes_back_as_parsing_in_place_gives_it(parsers: ReplyParsers) -> None:
    bad = Resource(token="p:" + "x" * 70)
    data = pull_reply((CAM, Operation.INITIALIZED), (bad, Operation.INITIALIZED),
                      (Resource(token=CAM.token, offline=True), Operation.CHANGED))
    batch = parse(parsers, data)
    assert batch == protocol.read_pull(reply(data))
    assert [e.operation for e in batch.events] == [Operation.INITIALIZED, Operation.CHANGED]
    assert len(batch.rejected) == 1


def test_segment_errors_cross_with_their_kind_and_details(parsers: ReplyParsers) -> None:
    with pytest.raises(SegmentFault) as fault:
        parse(parsers, build_fault(faults.resource_unknown("gone"), relates_to=None, nsmap=NSMAP))
    assert fault.value.resource_unknown and fault.value.code == "Sender" and fault.value.reason == "gone"
    with pytest.raises(SegmentUnavailable, match="HTTP 503"):
        parse(parsers, b"<html>down</html>", 503)
    with pytest.raises(SegmentMisbehaved, match=r"not a SOAP 1\.2 envelope"):
        parse(parsers, pull_reply((CAM, Operation.INITIALIZED))[:-40])


def test_a_worker_that_dies_fails_its_reply_and_the_next_reply_gets_a_new_pool(parsers: ReplyParsers) -> None:
    worker = started_worker(parsers)

    async def go() -> tuple[BaseException | protocol.PullBatch, protocol.PullBatch]:
        pending = parsers.submit(reply(big_reply(5000)))
        os.kill(worker, signal.SIGKILL)
        try:
            first: BaseException | protocol.PullBatch = await parsers.result(pending)
        except SegmentError as exc:
            first = exc
        return first, await parsers.result(parsers.submit(reply(pull_reply((CAM, Operation.INITIALIZED)))))

    first, second = asyncio.run(asyncio.wait_for(go(), 30))
    assert isinstance(first, SegmentError) and "ended unexpectedly" in str(first)
    assert [e.token for e in second.events] == [CAM.token]
    assert not alive(worker)


def test_workers_ignore_ctrl_c_and_end_when_closed() -> None:
    parsers = ReplyParsers(workers=1)
    try:
        worker = started_worker(parsers)
        os.kill(worker, signal.SIGINT)  # a Ctrl-C reaches the whole process group
        time.sleep(0.2)
        assert parse(parsers, pull_reply((CAM, Operation.INITIALIZED))).events
        assert alive(worker)
    finally:
        asyncio.run(parsers.aclose())
    assert not alive(worker)
    with pytest.raises(RuntimeError, match="closed"):
        parsers.submit(reply(pull_reply()))


KILLED_PARENT = """
import asyncio, multiprocessing, sys
from gateway.federation.parsing import ReplyParsers
from gateway.downstream.wire import Reply

async def main():
    parsers = ReplyParsers(workers=1)
    await parsers.result(parsers.submit(Reply(url="x", status=200, data=sys.argv[1].encode())))

if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception:
        pass
    print(*[p.pid for p in multiprocessing.active_children()], flush=True)
    sys.stdin.read()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_their_gateway_is_killed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, "<x/>"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    (pid,) = [int(p) for p in proc.stdout.readline().split()]
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and "zombie" not in _state(pid):
        assert time.monotonic() < deadline, "the parsing worker outlived its killed gateway"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((line for line in status if line.startswith("State:")), "").lower()
    except OSError:
        return "gone"


def test_one_core_is_left_to_the_gateway() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    assert worker_count() == max(1, min(MAX_WORKERS, cores - 1)) and ReplyParsers().workers == worker_count()
