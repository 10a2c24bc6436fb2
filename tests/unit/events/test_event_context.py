"""EventContext.subscription: the catalog compiles a stored filter once per JSON text; the cache is bounded."""
from __future__ import annotations

from typing import Any, cast

from gateway.events.context import EventContext, EventLimits
from gateway.query.model import ResourceQuery


class CountingCatalog:
    """Only what the event context asks of a catalog to compile filters (no dialect, no SQL)."""

    def __init__(self) -> None:
        self.compiled: list[ResourceQuery] = []
        self.made: list[Any] = []  # what each call returned: opaque to the event context

    def compile_filter(self, query: ResourceQuery) -> Any:
        self.compiled.append(query)
        self.made.append(object())
        return self.made[-1]


def _context(catalog: CountingCatalog, max_pull_points: int = 10) -> EventContext:
    return EventContext(catalog=cast(Any, catalog), watcher=cast(Any, None),
                        limits=EventLimits(max_pull_points=max_pull_points))


def test_each_filter_text_is_compiled_once() -> None:
    catalog = CountingCatalog()
    ctx = _context(catalog)
    a, b = ResourceQuery(prefixes=("P",)).to_json(), ResourceQuery(kinds=frozenset({"Recording"})).to_json()
    first = ctx.subscription(a)
    assert ctx.subscription(a) is first
    assert first.query == ResourceQuery.from_json(a) and first.compiled is catalog.made[0]
    assert ctx.subscription(b).compiled is catalog.made[1]
    assert ctx.subscription(a) is first
    assert len(catalog.compiled) == 2


def test_the_cache_is_emptied_past_four_times_the_pull_point_limit() -> None:
    catalog = CountingCatalog()
    ctx = _context(catalog, max_pull_points=1)
    texts = [ResourceQuery(prefixes=(f"P{i}",)).to_json() for i in range(6)]
    for text in texts[:5]:
        ctx.subscription(text)
    ctx.subscription(texts[0])
    assert len(catalog.compiled) == 5  # still cached: with 4 entries (not more than 4 * 1) the 5th joined them
    ctx.subscription(texts[5])  # 5 > 4: cleared, then this one cached
    ctx.subscription(texts[0])
    assert len(catalog.compiled) == 7
