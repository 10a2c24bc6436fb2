"""The sync task against a scripted segment (httpx.MockTransport) and a recording catalog."""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from lxml import etree

from gateway.catalog.errors import CatalogError
from gateway.catalog.feed import ApplyResult
from gateway.catalog.model import Segment
from gateway.downstream import wire
from gateway.downstream.client import SegmentClient
from gateway.downstream.errors import SegmentFault, SegmentMisbehaved, SegmentUnavailable
from gateway.downstream.wire import Credentials
from gateway.federation import segment as sync
from gateway.federation.parsing import ReplyParsers
from gateway.onvif import faults
from gateway.onvif.ns import NSMAP, TDS, TEV
from gateway.soap.build import build_fault, build_response
from gateway.soap.ns import WSA
from gateway.vocabulary.resource import Operation, Resource
from tests.unit.federation.test_protocol import CAM, pull_reply


def seg_client(client: httpx.AsyncClient) -> SegmentClient:
    return SegmentClient(SEGMENT.name, Credentials(user=SEGMENT.user, password=SEGMENT.password), client)


SEGMENT = Segment(name="leaf", url="http://leaf/onvif/device_service", user="u", password="p", heartbeat=1.0)


@pytest.fixture(scope="module")
def parsers() -> Iterator[ReplyParsers]:
    """One real pool of parsing processes for the module's syncs, as a gateway's supervisor keeps."""
    pool = ReplyParsers(workers=1)
    yield pool
    asyncio.run(pool.aclose())


def services_reply() -> bytes:
    resp = etree.Element(f"{{{TDS}}}GetServicesResponse", nsmap=NSMAP)
    svc = etree.SubElement(resp, f"{{{TDS}}}Service")
    etree.SubElement(svc, f"{{{TDS}}}Namespace").text = TEV
    etree.SubElement(svc, f"{{{TDS}}}XAddr").text = "http://leaf/onvif/event_service"
    return build_response(resp, action="a", relates_to=None, nsmap=NSMAP)


def created_reply() -> bytes:
    resp = etree.Element(f"{{{TEV}}}CreatePullPointSubscriptionResponse", nsmap=NSMAP)
    etree.SubElement(etree.SubElement(resp, f"{{{TEV}}}SubscriptionReference"), f"{{{WSA}}}Address").text = "http://leaf/pp/1"
    return build_response(resp, action="a", relates_to=None, nsmap=NSMAP)


class FakeCatalog:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def segment_begin_sync(self, name: str) -> int:
        self.calls.append(("begin", name))
        return 7

    def segment_apply(self, name: str, generation: int, updates: list) -> ApplyResult:
        self.calls.append(("apply", generation, [(u.operation.value, u.token) for u in updates]))
        return ApplyResult(created=len(updates))

    def segment_reconcile(self, name: str, generation: int) -> int:
        self.calls.append(("reconcile", generation))
        return 0

    def segment_set_reachable(self, name: str, reachable: bool, *, error: str | None, now) -> int:  # type: ignore[no-untyped-def]
        self.calls.append(("reachable", reachable, error))
        return 0

    def segment_rejected(self, name: str, count: int, example: str) -> None:
        self.calls.append(("rejected", count))


def scripted(pulls: list[bytes | Exception]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        body = request.content
        if b"GetServices" in body:
            return httpx.Response(200, content=services_reply())
        if b"CreatePullPointSubscription" in body:
            return httpx.Response(200, content=created_reply())
        step = pulls.pop(0)
        if isinstance(step, Exception):
            raise step
        return httpx.Response(200, content=step)
    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def run_session(parsers: ReplyParsers, pulls: list[bytes | Exception]) -> tuple[FakeCatalog, BaseException]:
    catalog, woken = FakeCatalog(), []

    async def go() -> BaseException:
        async with scripted(pulls) as client:
            task = sync.SegmentSync(SEGMENT, catalog, seg_client(client), lambda: woken.append(1), parsers)  # type: ignore[arg-type]
            try:
                await task.session()
            except BaseException as exc:  # the script ends with an error
                return exc
        raise AssertionError("session ended without an error")

    return catalog, asyncio.run(go())


def test_enumerate_then_reconcile_then_tail(parsers: ReplyParsers) -> None:
    catalog, end = run_session(parsers, [
        pull_reply((CAM, Operation.INITIALIZED)),
        pull_reply(),  # empty: enumeration complete
        pull_reply((Resource(token=CAM.token, offline=True), Operation.CHANGED)),
        httpx.ConnectError("gone"),
    ])
    assert isinstance(end, SegmentUnavailable)
    steps = [c[0] for c in catalog.calls]
    assert steps == ["begin", "reachable", "apply", "reachable", "reconcile", "reachable", "apply"]
    assert catalog.calls[2] == ("apply", 7, [("Initialized", CAM.token)])
    assert catalog.calls[6] == ("apply", 7, [("Changed", CAM.token)])


def test_refused_items_are_counted_not_applied(parsers: ReplyParsers) -> None:
    bad = Resource(token="p:" + "x" * 70)
    catalog, _ = run_session(parsers, [pull_reply((bad, Operation.INITIALIZED), (CAM, Operation.INITIALIZED)),
                              httpx.ConnectError("x")])
    assert ("rejected", 1) in catalog.calls
    assert ("apply", 7, [("Initialized", CAM.token)]) in catalog.calls


@pytest.mark.parametrize(("step", "error"), [
    (httpx.ReadTimeout("slow"), SegmentUnavailable),
    (httpx.ConnectError("refused"), SegmentUnavailable),
    (b"<html>oops</html>", SegmentMisbehaved),
    (build_fault(faults.resource_unknown("gone"), relates_to=None, nsmap=NSMAP), SegmentFault),
    (b"<x/>" * (wire.MAX_REPLY_BYTES // 4 + 1), SegmentMisbehaved),
])
def test_every_failure_is_a_typed_segment_error(parsers: ReplyParsers, step: bytes | Exception, error: type) -> None:
    _, end = run_session(parsers, [step])
    assert isinstance(end, error)


def test_a_failing_segment_is_marked_down_and_retried_with_backoff(parsers: ReplyParsers,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []

    async def no_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 4:
            raise asyncio.CancelledError

    monkeypatch.setattr(sync.asyncio, "sleep", no_sleep)
    catalog = FakeCatalog()

    async def go() -> None:
        async with scripted([httpx.ConnectError("down")] * 10) as client:
            with pytest.raises(asyncio.CancelledError):
                await sync.SegmentSync(SEGMENT, catalog, seg_client(client), lambda: None, parsers).run()  # type: ignore[arg-type]

    asyncio.run(go())
    assert next(c for c in catalog.calls if c[0] == "reachable")[:2] == ("reachable", False)
    assert all(0.5 * 2**i <= d <= 2**i for i, d in enumerate(delays))  # jittered doubling


class SlowCatalog(FakeCatalog):
    """Applies take until ``release`` is set (or 5 s); ``finished`` counts the applies that completed."""

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__()
        self.release, self.started, self.finished = threading.Event(), threading.Event(), 0
        self.fail_on = fail_on

    def segment_apply(self, name: str, generation: int, updates: list) -> ApplyResult:
        self.started.set()
        if self.fail_on is not None and any(u.operation.value == self.fail_on for u in updates):
            raise CatalogError("the catalog refused the batch")
        self.release.wait(5.0)
        result = super().segment_apply(name, generation, updates)
        self.finished += 1
        return result


def pipelined(catalog: FakeCatalog, replies: list[bytes], on_pull: Callable[[int], Awaitable[None]]
              ) -> httpx.AsyncClient:
    """A segment answering pull n with ``replies[n]`` after ``await on_pull(n)``; past the script it hangs."""
    pulls = [0]

    async def handle(request: httpx.Request) -> httpx.Response:
        body = request.content
        if b"GetServices" in body:
            return httpx.Response(200, content=services_reply())
        if b"CreatePullPointSubscription" in body:
            return httpx.Response(200, content=created_reply())
        n, pulls[0] = pulls[0], pulls[0] + 1
        await on_pull(n)
        if n >= len(replies):
            await asyncio.sleep(3600)
        return httpx.Response(200, content=replies[n])
    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def test_the_next_pull_is_sent_while_the_previous_batch_is_stored(parsers: ReplyParsers) -> None:
    catalog = SlowCatalog()
    during_apply: list[bool] = []

    async def on_pull(n: int) -> None:
        if n == 1:  # the second pull: is the first batch's apply running, not done?
            await asyncio.to_thread(catalog.started.wait, 5.0)
            during_apply.append(catalog.finished == 0)
            catalog.release.set()

    async def go() -> None:
        replies = [pull_reply((CAM, Operation.INITIALIZED)), pull_reply(), pull_reply()]
        async with pipelined(catalog, replies, on_pull) as client:
            session = asyncio.create_task(sync.SegmentSync(SEGMENT, catalog, seg_client(client), lambda: None, parsers).session())  # type: ignore[arg-type]
            while not any(c[0] == "reconcile" for c in catalog.calls):
                await asyncio.sleep(0.01)
            session.cancel()
            with pytest.raises(asyncio.CancelledError):
                await session

    asyncio.run(asyncio.wait_for(go(), 10))
    assert during_apply == [True]
    assert [c[0] for c in catalog.calls][:5] == ["begin", "reachable", "apply", "reachable", "reconcile"]


def test_a_failed_store_ends_the_session_at_once_even_during_a_long_poll(parsers: ReplyParsers) -> None:
    catalog = SlowCatalog(fail_on="Changed")
    catalog.release.set()

    async def go() -> BaseException:
        replies = [pull_reply(), pull_reply((Resource(token=CAM.token, offline=True), Operation.CHANGED))]
        async with pipelined(catalog, replies, lambda n: asyncio.sleep(0)) as client:  # pull 3 hangs
            try:
                await sync.SegmentSync(SEGMENT, catalog, seg_client(client), lambda: None, parsers).session()  # type: ignore[arg-type]
            except BaseException as exc:
                return exc
        raise AssertionError("session ended without an error")

    started = time.monotonic()
    end = asyncio.run(asyncio.wait_for(go(), 10))
    assert isinstance(end, CatalogError)
    assert time.monotonic() - started < 2.0  # not after the hanging pull's heartbeat + grace


def test_a_cancelled_session_returns_only_after_its_catalog_write_finished(parsers: ReplyParsers) -> None:
    catalog = SlowCatalog()

    async def go() -> None:
        async with pipelined(catalog, [pull_reply((CAM, Operation.INITIALIZED))], lambda n: asyncio.sleep(0)) as client:
            session = asyncio.create_task(sync.SegmentSync(SEGMENT, catalog, seg_client(client), lambda: None, parsers).session())  # type: ignore[arg-type]
            while not catalog.started.is_set():
                await asyncio.sleep(0.01)
            session.cancel()
            threading.Timer(0.3, catalog.release.set).start()
            with pytest.raises(asyncio.CancelledError):
                await session
            assert catalog.finished == 1  # the write landed before the session let go, never after

    asyncio.run(asyncio.wait_for(go(), 10))


def test_the_backoff_starts_over_after_a_session_that_stored_something(parsers: ReplyParsers) -> None:
    delays: list[float] = []
    script: list[bytes | Exception] = [httpx.ConnectError("down")] * 3 + [
        pull_reply((CAM, Operation.INITIALIZED)), httpx.ConnectError("down again"), httpx.ConnectError("still")]

    async def pause(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 5:
            raise asyncio.CancelledError

    async def go() -> None:
        async with scripted(script) as client:
            with pytest.raises(asyncio.CancelledError):
                await sync.SegmentSync(SEGMENT, FakeCatalog(), seg_client(client), lambda: None, parsers, pause).run()  # type: ignore[arg-type]

    asyncio.run(go())
    bounds = [(0.5, 1), (1, 2), (2, 4), (0.5, 1), (1, 2)]  # the fourth session stored a batch, then failed
    assert all(low <= d <= high for d, (low, high) in zip(delays, bounds, strict=True)), delays
