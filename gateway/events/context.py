"""What the event service shares between requests in one process."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.catalog.store import Catalog
from gateway.events.cursor import Subscription
from gateway.events.waiter import FeedWatcher
from gateway.query.model import ResourceQuery

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class EventLimits:
    """The limits a client can read back in capabilities and faults."""

    max_pull_points: int = 10_000
    #: PullMessages Timeout ceiling; Core asks for at least PT1M.
    max_timeout: float = 600.0
    #: MessageLimit ceiling; larger requests are served up to this, not faulted (docs/wire-format.md §6.4 rule 5).
    max_message_limit: int = 1000
    #: Lifetime of a pull point created without InitialTerminationTime.
    default_termination: float = 60.0
    #: Longest lifetime a pull point may be given at once (renewals extend it).
    max_termination: float = 86_400.0


@dataclass(kw_only=True)
class EventContext:
    catalog: Catalog
    watcher: FeedWatcher
    limits: EventLimits = EventLimits()
    #: Pull points with a PullMessages in progress in this process (docs/wire-format.md §6.4 rule 7).
    busy: set[str] = field(default_factory=set)
    _subscriptions: dict[str, Subscription] = field(default_factory=dict)

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a catalog call off the event loop."""
        return await asyncio.to_thread(fn, *args)

    def subscription(self, query_json: str) -> Subscription:
        """The compiled form of a stored filter, cached by its JSON text."""
        sub = self._subscriptions.get(query_json)
        if sub is None:
            if len(self._subscriptions) > 4 * self.limits.max_pull_points:
                self._subscriptions.clear()
            query = ResourceQuery.from_json(query_json)
            sub = Subscription(query=query, compiled=self.catalog.compile_filter(query))
            self._subscriptions[query_json] = sub
        return sub
