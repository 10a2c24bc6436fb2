"""The supervisor's wiring of a sync: an uplinked segment ends its backoff when it connects again."""
from __future__ import annotations

import asyncio
from typing import Any, ClassVar, cast

import pytest

from gateway.catalog.model import Segment
from gateway.catalog.store import Catalog
from gateway.downstream.pool import Downstream
from gateway.federation import supervisor
from gateway.uplink.listening.link import Link
from gateway.uplink.listening.registry import UplinkRegistry


class Recorder:
    """Stands in for SegmentSync: keeps how the supervisor made it, and idles."""

    made: ClassVar[dict[str, Any]] = {}

    def __init__(self, segment: Segment, catalog: Any, client: Any, notify: Any, parsers: Any,
                 pause: Any = None) -> None:
        Recorder.made[segment.name] = pause

    async def run(self) -> None:
        await asyncio.sleep(3600)


def test_only_an_uplinked_segment_pauses_on_its_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "SegmentSync", Recorder)
    registry = UplinkRegistry()
    dialled = Segment(name="dialled", url="http://d/onvif/device_service", user="u", password="p")
    uplinked = Segment(name="behind", url="http://behind/onvif/device_service", user="", password="",
                       uplink_identity="behind.example")

    async def go() -> tuple[float, bool]:
        sup = supervisor.Supervisor(cast(Catalog, None), lambda: None, Downstream(registry))
        await sup.syncs.reconcile([dialled, uplinked])
        try:
            pause = Recorder.made["behind"]
            started = asyncio.get_running_loop().time()
            woken = asyncio.create_task(pause(30.0))
            await asyncio.sleep(0.05)
            registry.attach("behind", cast(Link, object()))
            await woken
            return asyncio.get_running_loop().time() - started, woken.result()
        finally:
            await sup.syncs.stop_all()
            await sup.parsers.aclose()

    took, connected = asyncio.run(go())
    assert Recorder.made["dialled"] is None  # a dialled segment sleeps its backoff out
    assert connected and took < 1.0
