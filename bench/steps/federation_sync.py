"""bench/federation.py, steps 2 and 4: a sync watched from outside, the district's steps replayed in-process, and
a profiled district."""
from __future__ import annotations

import datetime as dt
import math
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.kit.profiling import summarise
from bench.steps.federation_nodes import (
    STALL,
    Node,
    add_segment,
    counted,
    log,
    make_progress,
    new_node,
    process_cpu,
    read_only,
    synced,
)


@dataclass
class Sync:
    what: str
    resources: int
    seconds: float  # from `segment add` returning to the last resource counted
    first_seconds: float  # ... to the first resource counted (supervisor pick-up, subscribe, first pull)
    first_count: int
    cli_seconds: float  # `vmsgw segment add` itself (process start included), before the clock starts
    verified: bool
    note: str = ""
    timeline: list[tuple[float, int]] = field(default_factory=list)
    upper_cpu: float = math.nan  # CPU seconds (user + system) of the syncing gateway process over the sync
    lower_cpu: float = math.nan  # ... and of the segment's gateway process

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0

    @property
    def steady_rate(self) -> float:
        span = self.seconds - self.first_seconds
        return (self.resources - self.first_count) / span if span > 0 else 0.0


def watch_sync(upper: Node, segment: str, lower: Node, expected: set[str], heartbeat: float, poll: float) -> Sync:
    """`vmsgw segment add` on a running ``upper``; count its catalog until it holds ``expected``."""
    assert upper.server is not None
    size = len(expected)
    what = f"{lower.name} -> {upper.name}"
    log(f"sync {what}: vmsgw segment add {segment} (heartbeat {heartbeat:g} s), then counting {upper.db_path.name} "
        f"every {poll * 1000:.0f} ms")
    conn = read_only(upper.db_path)
    try:
        cli_started = time.perf_counter()
        add_segment(upper, segment, lower, heartbeat)
        t0 = time.perf_counter()
        cpu0 = (process_cpu(upper), process_cpu(lower))
        timeline: list[tuple[float, int]] = [(0.0, 0)]
        progress = make_progress(f"sync {what}", "resources")
        last_change, count, first = t0, 0, None
        while True:
            now = time.perf_counter()
            found = synced(conn, segment)
            if found != count:
                count, last_change = found, now
                timeline.append((now - t0, count))
                if first is None:
                    first = (now - t0, count)
                progress(count, size)
            if count >= size and counted(conn, segment) >= size:
                break
            if upper.server.proc is None or upper.server.proc.poll() is not None:
                raise SystemExit(f"the {upper.name} gateway died during the sync:\n{upper.stderr_tail()}")
            if now - last_change > STALL:
                raise SystemExit(f"sync {what} stalled at {count:,} of {size:,} for {STALL:.0f} s:\n"
                                 f"{upper.stderr_tail()}")
            time.sleep(max(0.0, poll - (time.perf_counter() - now)))
        seconds = timeline[-1][0]
        cpu1 = (process_cpu(upper), process_cpu(lower))
        progress.finish()
        got = {t for (t,) in conn.execute("SELECT segment_token FROM resource WHERE segment = ?", (segment,))}
    finally:
        conn.close()
    verified = got == expected
    note = "" if verified else f"{len(expected - got)} missing, {len(got - expected)} unexpected"
    assert first is not None
    result = Sync(what=what, resources=size, seconds=seconds, first_seconds=first[0], first_count=first[1],
                  cli_seconds=t0 - cli_started, verified=verified, note=note, timeline=timeline,
                  upper_cpu=cpu1[0] - cpu0[0], lower_cpu=cpu1[1] - cpu0[1])
    log(f"sync {what}: {size:,} resources in {seconds:.2f} s = {result.rate:,.0f}/s (first resources after "
        f"{first[0]:.2f} s; {result.steady_rate:,.0f}/s from then); token set matches: {verified}; CPU "
        f"{upper.name} {result.upper_cpu:.1f} s, {lower.name} {result.lower_cpu:.1f} s")
    return result


@dataclass
class Breakdown:
    """The district's per-pull steps, replayed in-process on the captured replies (no HTTP, no profiler)."""

    steps: list[tuple[str, str, float]]  # (stage, step, seconds for the whole sync)
    statements: int  # SQL statements executed by segment_apply over the whole sync

    def stage(self, name: str) -> float:
        return sum(sec for stage, _, sec in self.steps if stage == name)


#: The district's two stages, which run at once on different cores: a reply-parsing process, the storing thread.
PARSING, STORING = "parsing process", "storing thread"


def replay_breakdown(pages: Sequence[bytes], work: Path) -> Breakdown:
    """The district's per-pull work on the captured replies, in the bench's process, into a fresh catalog.

    Both stages run here one after the other; the batch goes through the same pickling as between a
    parsing process and the district (``ForkingPickler``), so its cost on each side is measured too.
    """
    import pickle
    from multiprocessing.reduction import ForkingPickler

    from sqlalchemy import event

    from gateway.catalog.model import Segment
    from gateway.catalog.store import Catalog
    from gateway.downstream import wire
    from gateway.federation import protocol

    log(f"replaying {len(pages)} captured replies through the district's own functions (timed, no HTTP)")
    names = ((PARSING, "reply parsing (wire.reply_body)"),
             (PARSING, "event reading and validation (protocol.parse_pull)"),
             (PARSING, "sending the batch back (pickle)"),
             (STORING, "receiving the batch (unpickle)"),
             (STORING, "segment_set_reachable"),
             (STORING, "segment_apply (mirror + feed, one transaction)"))
    steps = dict.fromkeys(names, 0.0)
    statements, counting = [0], [False]

    def count(*_args: Any) -> None:
        if counting[0]:
            statements[0] += 1

    # As a server: checkpoints off the writer.
    catalog = Catalog.open(f"sqlite:///{work / 'replay.db'}", autocheckpoint=False)
    try:
        catalog.upgrade()
        catalog.add_segment(Segment(name="leaf", url="http://127.0.0.1:9/onvif/device_service", user="u",
                                    password="p"))
        event.listen(catalog.engine, "before_cursor_execute", count)
        gen = catalog.segment_begin_sync("leaf")
        progress = make_progress("replay", "resources")
        done = 0
        for page in pages:
            t0 = time.perf_counter()
            body = wire.reply_body(wire.Reply(url="captured", status=200, data=page))
            t1 = time.perf_counter()
            parsed = protocol.parse_pull(body)
            t2 = time.perf_counter()
            sent = ForkingPickler.dumps(parsed)
            t3 = time.perf_counter()
            batch = pickle.loads(sent)
            t4 = time.perf_counter()
            catalog.segment_set_reachable("leaf", True, error=None, now=dt.datetime.now(dt.UTC))
            t5 = time.perf_counter()
            counting[0] = True
            catalog.segment_apply("leaf", gen, batch.events)
            counting[0] = False
            t6 = time.perf_counter()
            for name, sec in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True):
                steps[name] += sec
            done += len(batch.events)
            progress(done)
        progress.finish()
    finally:
        catalog.close()
        for leftover in work.glob("replay.db*"):
            leftover.unlink()
    return Breakdown(steps=[(stage, step, sec) for (stage, step), sec in steps.items()], statements=statements[0])


#: Cumulative CPU of these in the profiled district: (file suffix, function, label).
WATCH: tuple[tuple[str, str, str], ...] = (
    ("gateway/federation/segment.py", "fetch", "Link.fetch: one PullMessages exchange (request, HTTP, reply bytes)"),
    ("gateway/federation/protocol.py", "request", "  request building (UsernameToken, envelope)"),
    ("httpx/_models.py", "aiter_bytes", "  receiving the reply body (httpx, h11)"),
    ("gateway/federation/segment.py", "_apply", "SegmentSync._apply (storing thread; parsed in other processes)"),
    ("gateway/catalog/segments.py", "set_reachable", "  segment_set_reachable"),
    ("gateway/catalog/segments.py", "apply", "  segment_apply (one write transaction per pull)"),
    ("gateway/catalog/mirror.py", "load", "    looking up stored resources (mirror.load)"),
    ("gateway/catalog/mirror.py", "_token", "    token mapping (Mirror._token: prefix claims, local part)"),
    ("gateway/catalog/records.py", "check", "    validating (records.check)"),
    ("gateway/catalog/feed.py", "write", "    FeedWriter.write (change, resource, R*Tree and scope rows)"),
    ("gateway/catalog/records.py", "encode", "      JSON images of the change rows (records.encode)"),
    ("gateway/catalog/rows.py", "insert", "      executemany through the driver (rows.insert)"),
    ("sqlalchemy/engine/base.py", "commit", "    commit"),
    ("gateway/catalog/store.py", "checkpoint", "WAL checkpoints (every second, their own thread)"),
    ("gateway/catalog/feed.py", "prune", "change feed pruning (reaper, every 10 s)"),
    ("gateway/catalog/store.py", "head_seq", "feed head polling (FeedWatcher)"),
    ("gateway/catalog/store.py", "list_segments", "segment table polling (Supervisor)"),
)

#: Own time grouped by where the code lives: (group, path fragments); C functions by name.
PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gateway: catalog", ("/gateway/catalog/",)),
    ("gateway: federation", ("/gateway/federation/",)),
    ("gateway: soap core, onvif", ("/gateway/soap/", "/gateway/onvif/")),
    ("gateway: other", ("/gateway/",)),
    ("SQLAlchemy (Python)", ("/sqlalchemy/",)),
    ("httpx, httpcore, h11 (the segment client)", ("/httpx/", "/httpcore/", "/h11/", "/anyio/")),
    ("hypercorn (the server side)", ("/hypercorn/", "/h2/", "/hpack/", "/wsproto/")),
    ("asyncio, selectors, threads", ("/asyncio/", "selectors.py", "/concurrent/", "threading.py", "queue.py")),
)


@dataclass
class DistrictProfile:
    resources: int
    wall: float  # seconds from `segment add` to ``resources`` counted
    loop_busy: float  # CPU seconds of the event-loop thread (selector waits excluded)
    worker_busy: float  # CPU seconds of the catalog worker calls (asyncio.to_thread)
    watched: list[tuple[str, str, float, float]] = field(default_factory=list)  # (label, fn, cum CPU s, share)
    by_package: list[tuple[str, float, float]] = field(default_factory=list)
    top_self: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def busy(self) -> float:
        return self.loop_busy + self.worker_busy


def profile_district(leaf: Node, work: Path, heartbeat: float, target: int, poll: float) -> DistrictProfile | None:
    """A second, empty district under cProfile (bench/query.py's profiled serve) syncs ``target`` resources."""
    node = new_node("district-profiled", work)
    base = work / "district.prof"
    log(f"profiling: a district under cProfile syncs the first {target:,} leaf resources")
    node.start(profile_out=base)
    try:
        assert node.server is not None and node.server.proc is not None
        node.server.proc.send_signal(signal.SIGUSR1)  # start profiling now: the server is up and idle
        time.sleep(0.2)
        conn = read_only(node.db_path)
        try:
            add_segment(node, "leaf", leaf, heartbeat)
            t0 = time.perf_counter()
            deadline = t0 + STALL * 5
            while synced(conn, "leaf") < target:
                if time.perf_counter() > deadline or node.server.proc.poll() is not None:
                    raise SystemExit(f"the profiled district did not get {target:,} resources:\n{node.stderr_tail()}")
                time.sleep(poll)
            wall = time.perf_counter() - t0
            got = synced(conn, "leaf")
        finally:
            conn.close()
    finally:
        node.stop()  # the profiles are written as it exits
    found = summarise(base, WATCH, PACKAGES)
    if found is None:
        log("WARNING: the profiled district wrote no profile")
        return None
    result = DistrictProfile(resources=got, wall=wall, loop_busy=found.loop_busy, worker_busy=found.worker_busy,
                             watched=found.watched, by_package=found.by_package, top_self=found.top_self)
    log(f"profiled district: {got:,} resources in {wall:.1f} s; CPU: event loop {result.loop_busy:.1f} s, "
        f"catalog workers {result.worker_busy:.1f} s")
    return result
