"""bench/query.py's in-process breakdown: the gateway's own steps timed in the bench's process."""
from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.kit.soap import PULL_ACTION
from bench.steps.query_common import (
    DRAIN_PAGE,
    DRAIN_REPEATS,
    FIRST_PAGE,
    KIND,
    QUERY_RADIUS_M,
)


@dataclass
class Breakdown:
    """Wall time of the gateway's own steps, called in this process without HTTP and without a profiler."""

    first_page: list[tuple[str, float]]  # (step, median ms per first page)
    drain: list[tuple[str, float]]  # (step, ms per whole drain, best of DRAIN_REPEATS per step)
    drain_pulls: int
    #: SQLite only: calls of the gw_distance_m SQL function (a Python UDF) per drain and per first page.
    distance_calls_drain: int | None = None
    distance_calls_first_page: float | None = None


def in_process_breakdown(url: str, centres: Sequence[tuple[float, float]], drain_centre: tuple[float, float],
                         radius: float) -> Breakdown:
    """Time the catalog, cursor and builder calls a CreatePullPointSubscription + PullMessages makes.

    The same functions the handlers call (``Catalog`` pull point methods,
    ``events.cursor.collect``, ``onvif.resource_event.write.pull_messages_response``,
    ``soap.build.build_response``), in the same order, with the same
    arguments; what the gateway's HTTP figure adds on top is the HTTP server,
    the SOAP pipeline (parse, UsernameToken, dispatch), the filter parser and
    the ``asyncio.to_thread`` hops.
    """
    import secrets

    from gateway.catalog import db as catalog_db
    from gateway.catalog.model import PullPointState
    from gateway.catalog.store import Catalog
    from gateway.events.cursor import Subscription, collect
    from gateway.onvif.ns import NSMAP
    from gateway.onvif.resource_event.write import pull_messages_response
    from gateway.query.model import LocationFilter, ResourceQuery
    from gateway.soap.build import build_response

    # Count gw_distance_m calls: on SQLite it is the Python function db._distance, looked up
    # when each pooled connection is made, so wrapping it before Catalog.open sees every call.
    distance_calls = [0]
    unwrapped = getattr(catalog_db, "_distance", None)
    if unwrapped is not None:
        def counting(*args: Any) -> Any:
            distance_calls[0] += 1
            return unwrapped(*args)

        setattr(catalog_db, "_distance", counting)  # noqa: B010 (the module attribute is swapped on purpose)
    catalog = Catalog.open(url)

    def subscribe(lat: float, lon: float, r: float) -> tuple[Subscription, PullPointState]:
        query = ResourceQuery(kinds=frozenset({KIND}), location=LocationFilter(lon=lon, lat=lat, radius=r))
        sub = Subscription(query=query, compiled=catalog.compile_filter(query))
        now = dt.datetime.now(dt.UTC)
        head = catalog.head_seq()
        state = PullPointState(id=secrets.token_urlsafe(24), principal="bench", query_json=query.to_json(),
                               phase="snapshot", snap_after_id=0, snap_seq=head, tail_seq=head,
                               termination=now + dt.timedelta(minutes=10), created=now)
        return sub, state

    def respond(events: list[Any]) -> tuple[float, float]:
        started = time.perf_counter()
        resp = pull_messages_response("2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z", events)
        built = time.perf_counter()
        build_response(resp, action=PULL_ACTION + "PullMessagesResponse", relates_to="urn:uuid:x", nsmap=NSMAP)
        return built - started, time.perf_counter() - built

    steps: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        steps.setdefault(name, []).append(seconds * 1000.0)

    try:
        for lat, lon in centres[:3]:  # warm the pool, the page cache and SQLAlchemy's statement cache
            sub, state = subscribe(lat, lon, QUERY_RADIUS_M)
            catalog.create_pull_point(state, max_count=1_000_000)
            respond(collect(catalog, state, sub, FIRST_PAGE)[0])
            catalog.delete_pull_point(state.id)
        for lat, lon in centres:
            t0 = time.perf_counter()
            sub, state = subscribe(lat, lon, QUERY_RADIUS_M)
            t1 = time.perf_counter()
            catalog.create_pull_point(state, max_count=1_000_000)
            t2 = time.perf_counter()
            loaded = catalog.load_pull_point(state.id)
            assert loaded is not None
            t3 = time.perf_counter()
            events, loaded = collect(catalog, loaded, sub, FIRST_PAGE)
            t4 = time.perf_counter()
            catalog.save_pull_point(loaded)
            t5 = time.perf_counter()
            messages, serialise = respond(events)
            catalog.delete_pull_point(state.id)
            add("filter to SQL + head_seq (compile_filter, head_seq)", t1 - t0)
            add("pull point create (write transaction)", t2 - t1)
            add("pull point load", t3 - t2)
            add(f"cursor collect, {FIRST_PAGE} (snapshot_page: SQL, scopes, Resource rows)", t4 - t3)
            add("pull point save (write transaction)", t5 - t4)
            add("tt:Message writing (pull_messages_response)", messages)
            add("envelope + tostring (build_response)", serialise)
        first = [(name, statistics.median(values)) for name, values in steps.items()]
        first_calls = distance_calls[0] / len(centres)
        distance_calls[0] = 0

        drains: list[dict[str, float]] = []
        pulls = 0
        for _ in range(DRAIN_REPEATS):
            totals: dict[str, float] = {}
            sub, state = subscribe(drain_centre[0], drain_centre[1], radius)
            catalog.create_pull_point(state, max_count=1_000_000)
            pulls = 0
            while True:
                t0 = time.perf_counter()
                loaded = catalog.load_pull_point(state.id)
                assert loaded is not None
                t1 = time.perf_counter()
                events, loaded = collect(catalog, loaded, sub, DRAIN_PAGE)
                t2 = time.perf_counter()
                catalog.save_pull_point(loaded)
                t3 = time.perf_counter()
                messages, serialise = respond(events)
                pulls += 1
                for name, sec in (("pull point load", t1 - t0),
                                  (f"cursor collect, {DRAIN_PAGE} per pull (snapshot_page)", t2 - t1),
                                  ("pull point save", t3 - t2),
                                  ("tt:Message writing (pull_messages_response)", messages),
                                  ("envelope + tostring (build_response)", serialise)):
                    totals[name] = totals.get(name, 0.0) + sec * 1000.0
                if not events:
                    break
            catalog.delete_pull_point(state.id)
            drains.append(totals)
        best = [(name, min(d[name] for d in drains)) for name in drains[0]]  # per step: least disturbed run
        sqlite = catalog.dialect == "sqlite" and unwrapped is not None
        return Breakdown(first_page=first, drain=best, drain_pulls=pulls,
                         distance_calls_drain=distance_calls[0] // len(drains) if sqlite else None,
                         distance_calls_first_page=first_calls if sqlite else None)
    finally:
        catalog.close()
        if unwrapped is not None:
            setattr(catalog_db, "_distance", unwrapped)  # noqa: B010


