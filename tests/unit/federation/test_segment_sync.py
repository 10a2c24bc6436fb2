"""The sync task against a scripted segment (httpx.MockTransport) and a recording catalog."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from lxml import etree

from gateway.catalog.feed import ApplyResult
from gateway.catalog.model import Operation, Resource, Segment
from gateway.federation import segment as sync
from gateway.federation.errors import SegmentFault, SegmentMisbehaved, SegmentUnavailable
from gateway.onvif import faults
from gateway.onvif.ns import NSMAP, TDS, TEV, WSA
from gateway.soap.build import build_fault, build_response
from tests.unit.federation.test_protocol import CAM, pull_reply

SEGMENT = Segment(name="leaf", url="http://leaf/onvif/device_service", user="u", password="p", heartbeat=1.0)


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


def run_session(pulls: list[bytes | Exception]) -> tuple[FakeCatalog, BaseException]:
    catalog, woken = FakeCatalog(), []

    async def go() -> BaseException:
        async with scripted(pulls) as client:
            task = sync.SegmentSync(SEGMENT, catalog, client, lambda: woken.append(1))  # type: ignore[arg-type]
            try:
                await task.session()
            except BaseException as exc:  # the script ends with an error
                return exc
        raise AssertionError("session ended without an error")

    return catalog, asyncio.run(go())


def test_enumerate_then_reconcile_then_tail() -> None:
    catalog, end = run_session([
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


def test_refused_items_are_counted_not_applied() -> None:
    bad = Resource(token="p:" + "x" * 70)
    catalog, _ = run_session([pull_reply((bad, Operation.INITIALIZED), (CAM, Operation.INITIALIZED)),
                              httpx.ConnectError("x")])
    assert ("rejected", 1) in catalog.calls
    assert ("apply", 7, [("Initialized", CAM.token)]) in catalog.calls


@pytest.mark.parametrize(("step", "error"), [
    (httpx.ReadTimeout("slow"), SegmentUnavailable),
    (httpx.ConnectError("refused"), SegmentUnavailable),
    (b"<html>oops</html>", SegmentMisbehaved),
    (build_fault(faults.resource_unknown("gone"), relates_to=None, nsmap=NSMAP), SegmentFault),
    (b"<x/>" * (sync.protocol.MAX_REPLY_BYTES // 4 + 1), SegmentMisbehaved),
])
def test_every_failure_is_a_typed_segment_error(step: bytes | Exception, error: type) -> None:
    _, end = run_session([step])
    assert isinstance(end, error)


def test_a_failing_segment_is_marked_down_and_retried_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
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
                await sync.SegmentSync(SEGMENT, catalog, client, lambda: None).run()  # type: ignore[arg-type]

    asyncio.run(go())
    assert [c for c in catalog.calls if c[0] == "reachable"][0][:2] == ("reachable", False)
    assert all(0.5 * 2**i <= d <= 2**i for i, d in enumerate(delays))  # jittered doubling
