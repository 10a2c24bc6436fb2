"""The registry of uplinks: one current link per segment, and waking those who wait for one."""
from __future__ import annotations

import asyncio
from typing import Any, cast

from gateway.uplink.listening.link import Link
from gateway.uplink.listening.registry import UplinkRegistry


class FakeLink:
    alive = True


def link() -> Link:
    return cast(Link, FakeLink())


def test_next_attach_is_woken_by_a_new_link_only() -> None:
    async def go() -> list[Any]:
        registry = UplinkRegistry()
        registry.attach("seg", link())  # live already: that is not news
        quiet = await registry.next_attach("seg", 0.05)
        waiting = asyncio.create_task(registry.next_attach("seg", 5.0))
        other = asyncio.create_task(registry.next_attach("other", 0.2))
        await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        registry.attach("seg", link())
        woken = await waiting
        return [quiet, woken, asyncio.get_running_loop().time() - started < 1.0, await other]

    assert asyncio.run(go()) == [False, True, True, False]


def test_wait_and_next_attach_share_one_wake_up() -> None:
    async def go() -> tuple[bool, bool]:
        registry = UplinkRegistry()
        new = link()
        waiting = asyncio.create_task(registry.wait("seg", 5.0))
        attached = asyncio.create_task(registry.next_attach("seg", 5.0))
        await asyncio.sleep(0.01)
        registry.attach("seg", new)
        return await waiting is new, await attached

    assert asyncio.run(go()) == (True, True)
