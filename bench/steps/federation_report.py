"""bench/federation.py's results: what one run found, as markdown or JSON."""
from __future__ import annotations

import json
import os
import platform
import sqlite3
from dataclasses import dataclass

from lxml import etree

from bench.kit.city import ImportStats
from bench.kit.report import cpu_model, jsonable, share, yes
from bench.steps.federation_capture import RawRun
from bench.steps.federation_latency import Latency
from bench.steps.federation_nodes import (
    CHANGE_DEADLINE,
    LATENCY_P99_LIMIT_MS,
    LONG_POLL,
    MAX_PAUSE,
    PAGE,
    SYNC_MIN_RATE,
    TOPIC_ALL,
    WARMUP_CHANGES,
)
from bench.steps.federation_sync import (
    PARSING,
    STORING,
    Breakdown,
    DistrictProfile,
    Sync,
)


@dataclass
class Results:
    date: str
    machine: dict[str, str]
    size: int
    seed: int
    heartbeat: float
    poll: float
    leaf_catalog: str
    imported: ImportStats
    capture_pulls: int
    capture_seconds: float
    capture_bytes: int
    raw_runs: list[RawRun]
    sync: Sync
    breakdown: Breakdown
    profile: DistrictProfile | None
    city_sync: Sync | None
    latency: Latency | None
    constants: dict[str, float]
    code: str = ""
    wall_seconds: float = 0.0

    @property
    def raw_best(self) -> RawRun:
        return min(self.raw_runs, key=lambda r: r.seconds)

    @property
    def raw_rate(self) -> float:
        best = self.raw_best
        return best.rows / best.seconds if best.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.sync.rate / self.raw_rate if self.raw_rate else 0.0

    @property
    def sync_ok(self) -> bool:
        return self.sync.rate >= SYNC_MIN_RATE and self.sync.verified

    @property
    def latency_ok(self) -> bool:
        return (self.latency is not None and self.latency.lost == 0 and self.latency.changes > 0
                and self.latency.city.p99 < LATENCY_P99_LIMIT_MS)






def summary(r: Results) -> list[str]:
    m, s, raw = r.machine, r.sync, r.raw_best
    rows = [
        ("date", r.date),
        ("machine", (f"nproc {m['nproc']} ({m['cpu']}), Python {m['python']}, sqlite {m['sqlite']}, lxml {m['lxml']}; "
                    f"{m['load']}")),
        ("other load on the machine", r.machine.get("busy", "-")),
        ("code", r.code),
        ("catalogs", "SQLite (WAL), one file per gateway process"),
        ("size", f"{r.size:,} resources at the leaf (`generate_city`, seed {r.seed}); {PAGE} messages per pull"),
        ("initial sync leaf -> district (from `segment add` to all resources in the district catalog)",
         f"{s.resources:,} in {s.seconds:.2f} s = **{s.rate:,.0f}/s**"),
        ("  of which: until the first resources arrive / steady rate after that",
         f"{s.first_seconds:.2f} s / {s.steady_rate:,.0f}/s"),
        ("  CPU used meanwhile by the district (with its parsing processes) / the leaf process",
         (f"{s.upper_cpu:.1f} s / {s.lower_cpu:.1f} s of {s.seconds:.1f} s "
          f"({(s.upper_cpu + s.lower_cpu) / s.seconds:.0%} of one core)")),
        ("raw limit: plain lxml parse + plain SQL executemany of the same replies",
         (f"{raw.rows:,} in {raw.seconds:.2f} s = **{r.raw_rate:,.0f}/s** (parse {raw.parse_s:.2f} s, insert "
         f"{raw.insert_s:.2f} s; best of {len(r.raw_runs)})")),
        ("the leaf alone answering the same pulls (capture, HTTP)",
         f"{r.size / r.capture_seconds:,.0f}/s ({r.capture_seconds:.2f} s for {r.capture_pulls} pulls)"),
        ("ratio sync / raw", f"**{r.ratio:.2f}** (raw is {1 / r.ratio:.1f}x faster)" if r.ratio else "-"),
        ("district token set = leaf token set", yes(s.verified)),
    ]
    if r.city_sync is not None:
        c = r.city_sync
        rows.append(("initial sync district -> city (same measure)",
                     (f"{c.resources:,} in {c.seconds:.2f} s = {c.rate:,.0f}/s; token set matches: "
                     f"{'yes' if c.verified else 'NO'}")))
    if r.latency is not None:
        lat = r.latency
        rows += [
            (f"change latency leaf -> district -> city, p50 / p90 / p99 / max ({lat.changes} renames)",
             f"**{lat.city.p50:.0f} / {lat.city.p90:.0f} / {lat.city.p99:.0f} / {lat.city.max:.0f} ms**"
             + (f"; {lat.lost} not seen within {CHANGE_DEADLINE:.0f} s" if lat.lost else "")),
            ("  commit -> a client of the leaf itself", lat.leaf.text()),
            ("  commit -> a client of the district", lat.district.text()),
            ("  hop leaf client -> district client", lat.hop_district.text()),
            ("  hop district client -> city client", lat.hop_city.text()),
        ]
    rows += [
        (f"acceptance: sync >= {SYNC_MIN_RATE:,.0f} resources/s", yes(r.sync_ok)),
        (f"acceptance: change crosses two levels in < {LATENCY_P99_LIMIT_MS / 1000:g} s at p99",
         yes(r.latency_ok) if r.latency is not None else "not measured"),
    ]
    return ["| item | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]


def details(r: Results) -> list[str]:
    s = r.sync
    lines = [
        "## How it was measured",
        "",
        (f"- Leaf catalog: {r.leaf_catalog}; import "
         + (f"{r.imported.seconds:.1f} s ({r.imported.rate:,.0f} rows/s)" if r.imported.seconds else "not timed")
         + (f", cached, made {r.imported.measured_at}" if r.imported.cached else "")
         + ". Each run serves a private copy."),
        (f"- Capture: one subscription `{TOPIC_ALL}` at the leaf, {r.capture_pulls} PullMessages (PT0S, {PAGE}) "
         f"over HTTP/1.1 in {r.capture_seconds:.2f} s ({r.size / r.capture_seconds:,.0f} resources/s served by the "
         f"leaf, client parse excluded), {r.capture_bytes / 1e6:.1f} MB of replies."),
        (f"- Raw limit: `etree.fromstring` (no DTD, no network) and a walk picking token, kind, name, location, "
         f"scopes and offline; then `executemany` into a bare `resource` table with the catalog's columns and a "
         f"bare `resource_scope` table ({r.raw_best.scope_rows:,} scope rows), no indexes, WAL, synchronous=NORMAL, "
         f"one transaction per reply. Runs: "
         + ", ".join(f"{x.seconds:.2f} s" for x in r.raw_runs) + "."),
        (f"- Sync: the district starts empty; the clock starts when `vmsgw segment add leaf --heartbeat "
         f"{r.heartbeat:g}` returns (the CLI itself took {s.cli_seconds:.2f} s, not counted) and stops at the first "
         f"read-only count of the district's file (every {r.poll * 1000:.0f} ms) that shows every leaf resource. "
         f"Its supervisor reads the segment table every {r.constants['supervisor_interval']:g} s, so up to that "
         f"much of the {s.first_seconds:.2f} s before the first resources is waiting for the pick-up."),
    ]
    if not s.verified:
        lines.append(f"- District token set differs from the leaf's: {s.note}.")
    if r.latency is not None:
        lat = r.latency
        lines += [
            (f"- Latency: leaf, district (leaf as segment) and city (district as segment), heartbeats "
             f"{r.heartbeat:g} s. A bench client at each level subscribed to `{TOPIC_ALL}`, drained the snapshot ("
             + ", ".join(f"{n}: {c:,} in {sec:.1f} s" for n, (c, sec) in lat.drains.items())
             + f") and then long-polls ({LONG_POLL}, {PAGE}) in its own thread, stamping each reply on arrival. "
             f"Each change renames one random leaf resource with `Catalog.apply([...])` from the bench's process "
             f"(call took {lat.apply_ms.p50:.1f} ms at p50); latency = commit (the call's return) to the reply "
             f"holding the `Changed` event with the new name. Changes wait for the city, then pause "
             f"0-{MAX_PAUSE * 1000:.0f} ms at random, so commits fall at random phases of the leaf's feed poll. "
             f"{WARMUP_CHANGES} warm-up changes are not counted."),
        ]
    return lines


def where_time_goes(r: Results) -> list[str]:
    s, b = r.sync, r.breakdown
    leaf_s = r.capture_seconds
    lines = [
        "## Where the sync's time goes",
        "",
        ("Three stages overlap: the leaf answers pull n+2 while a reply-parsing process of the district reads "
         "reply n+1 and the district's storing thread writes batch n (its pulling task only moves bytes). So the "
         "sync would run at the pace of the slowest stage, if each had a core of its own; on this machine they "
         "share the cores, with the district's event loop too. The leaf's part is the capture's HTTP time; the "
         "district's steps are the captured replies replayed through its own functions in the bench's process "
         "(no HTTP, no profiler), into a fresh catalog, with every server stopped."),
        "",
        f"| stage | step | seconds for {s.resources:,} | share of the sync ({s.seconds:.2f} s) |",
        "| --- | --- | --- | --- |",
        (f"| leaf | answering {r.capture_pulls} PullMessages over HTTP (capture, client-timed) | {leaf_s:.2f} | "
         f"{share(leaf_s, s.seconds)} |"),
        *(f"| district: {stage} | {name} | {sec:.2f} | {share(sec, s.seconds)} |" for stage, name, sec in b.steps),
        *(f"| district: {stage} | all its steps | {b.stage(stage):.2f} | {share(b.stage(stage), s.seconds)} |"
          for stage in (PARSING, STORING)),
        (f"| both processes | CPU during the sync (/proc; the district's parsing processes included), on "
         f"{os.cpu_count()} cores | {s.upper_cpu + s.lower_cpu:.2f} | {share(s.upper_cpu + s.lower_cpu, s.seconds)} |"),
        "",
        (f"`segment_apply` ran {b.statements:,} SQL statements for {s.resources:,} resources "
         f"({b.statements / max(r.capture_pulls, 1):.0f} per pull): per batch a "
         f"handful of executemany statements through the driver (change rows, resource rows, R*Tree rows, scope "
         f"rows) and the lookups of stored resources, ids and device prefixes."),
        "",
        _bound_text(r, leaf_s),
    ]
    p = r.profile
    if p is not None:
        lines += [
            "",
            (f"### The district process under cProfile ({p.resources:,} resources synced in {p.wall:.1f} s "
             f"profiled)"),
            "",
            (f"A second, empty district, run by `bench/kit/profiling.py` (cProfile with a per-thread CPU "
             f"clock on the event loop and on every `asyncio.to_thread` catalog call, started once the server is "
             f"up), syncs the first {p.resources:,} resources from the same leaf. CPU: event loop "
             f"{p.loop_busy:.2f} s + catalog workers {p.worker_busy:.2f} s = {p.busy:.2f} s. Its reply-parsing "
             f"processes, and the threads that hand batches to and from them, are not in this profile. cProfile "
             f"inflates call-heavy Python code (SQLAlchemy most), so read shares, not seconds."),
            "",
            "| part | function | cumulative CPU s | share of the district's CPU |",
            "| --- | --- | --- | --- |",
            *(f"| {label} | `{fn}` | {sec:.2f} | {share:.0%} |" for label, fn, sec, share in p.watched),
            "",
            "Own time by where the code lives:",
            "",
            "| code | own CPU s | share |",
            "| --- | --- | --- |",
            *(f"| {group} | {sec:.2f} | {share:.0%} |" for group, sec, share in p.by_package),
            "",
            "Top functions by own time:",
            "",
            "| function | own CPU s | share |",
            "| --- | --- | --- |",
            *(f"| `{fn}` | {sec:.3f} | {share:.1%} |" for fn, sec, share in p.top_self),
        ]
    return lines


def _bound_text(r: Results, leaf_s: float) -> str:
    """What the measured parts imply for the sync rate: the slowest stage alone, and the cores' share."""
    s, b = r.sync, r.breakdown
    rates = [("the leaf", r.size / leaf_s, "")]
    rates += [(f"the district's {stage}", s.resources / b.stage(stage),
               f" ({b.stage(stage) / s.resources * 1e6:.0f} µs per resource)") for stage in (PARSING, STORING)]
    slowest = min(rates, key=lambda stage: stage[1])[0]
    cpu = s.upper_cpu + s.lower_cpu
    return (f"Overlapped, the bound is the slowest stage alone: "
            f"{'; '.join(f'{name} at {rate:,.0f}/s{detail}' for name, rate, detail in rates)}; so {slowest}. "
            f"The processes used {cpu:.1f} CPU-seconds, {cpu / (os.cpu_count() or 1):.1f} s per core of the "
            f"{s.seconds:.1f} s: the rest is waiting, for another stage or for a core.")


def where_latency_goes(r: Results) -> list[str]:
    lat = r.latency
    if lat is None:
        return []
    poll = r.constants["feed_poll"]
    return [
        "## Where a change's latency goes",
        "",
        "| segment of the path | p50 | p90 | p99 | max | mean |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {label} | {d.p50:.0f} | {d.p90:.0f} | {d.p99:.0f} | {d.max:.0f} | {d.mean:.0f} |" for label, d in (
            ("commit -> leaf client (leaf feed poll + leaf pull answer)", lat.leaf),
            ("leaf client -> district client (district: HTTP reply, parse, apply, notify, its pull point answers)",
             lat.hop_district),
            ("district client -> city client (the same one level up)", lat.hop_city),
            ("commit -> city client (total)", lat.city),
        )),
        "",
        (f"The change is committed by another process, so the leaf server learns of it only from its feed watcher, "
         f"which reads the feed head every {poll * 1000:.0f} ms while a PullMessages waits "
         f"(`gateway/events/waiter.py`, `FeedWatcher.run`, `POLL_INTERVAL`): uniform 0-{poll * 1000:.0f} ms, mean "
         f"{poll * 500:.0f} ms, plus the head query and the leaf's answer; the district's long poll at the leaf "
         f"is woken by the same pulse as the bench's leaf client. The district and the city do not poll: their "
         f"segment sync writes the change in-process and wakes their waiting pull points at once "
         f"(`SegmentSync._apply` -> `FeedWatcher.notify`), so each upper hop costs one HTTP reply, "
         f"`parse_pull`, a one-resource `segment_apply` write transaction, and the next level's pull point answer. "
         f"Measured: the leaf's poll-bound part is {share(lat.leaf.mean, lat.city.mean)} of the mean total, "
         f"the two hops {share(lat.hop_district.mean + lat.hop_city.mean, lat.city.mean)}."),
    ]


def render_markdown(r: Results) -> str:
    lines = ["# Federation benchmark (`python bench/federation.py`)", "", *summary(r), "", *details(r), "",
             *where_time_goes(r)]
    if r.latency is not None:
        lines += ["", *where_latency_goes(r)]
    lines += ["", f"Benchmark wall time: {r.wall_seconds:.0f} s.", ""]
    return "\n".join(lines)


def render_json(r: Results) -> str:
    data = jsonable(r)
    data |= {"sync_rate": r.sync.rate, "raw_rate": r.raw_rate, "ratio": r.ratio, "sync_ok": r.sync_ok,
             "latency_ok": r.latency_ok}
    return json.dumps(data, indent=1, default=str)


def machine_info() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "lxml": ".".join(map(str, etree.LXML_VERSION[:3])),
        "load": f"load average {os.getloadavg()[0]:.1f} at the end",
    }
