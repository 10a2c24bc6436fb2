"""bench/query.py's results: what one run found, where the profiled gateway's time went, as markdown or JSON."""
from __future__ import annotations

import json
import os
import platform
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from bench.kit.city import ImportStats
from bench.kit.profiling import summarise
from bench.kit.rawsql import RawSql
from bench.kit.report import cpu_model, jsonable, share, yes
from bench.steps.query_breakdown import Breakdown
from bench.steps.query_common import (
    DRAIN_MIN_RATIO,
    DRAIN_PAGE,
    FIRST_PAGE,
    FIRST_PAGE_LIMIT_MS,
    KIND,
    QUERY_RADIUS_M,
    Drain,
    FirstPage,
)

#: Functions whose cumulative time the report shows, by (file suffix, function name).
WATCH: tuple[tuple[str, str, str], ...] = (
    ("gateway/soap/asgi.py", "_soap", "SOAP pipeline task on the event loop (parse .. build; not the workers)"),
    ("gateway/soap/envelope.py", "parse_envelope", "request parsing"),
    ("gateway/soap/security.py", "check_username_token", "UsernameToken check"),
    ("gateway/query/filters.py", "parse_filter", "filter parsing"),
    ("gateway/events/cursor.py", "collect", "cursor collect (SQL + Resource building)"),
    ("gateway/catalog/store.py", "snapshot_page", "catalog snapshot_page"),
    ("gateway/events/pullpoint.py", "_load", "pull point load"),
    ("gateway/catalog/store.py", "save_pull_point", "pull point save"),
    ("gateway/catalog/store.py", "create_pull_point", "pull point create"),
    ("gateway/query/select.py", "project", "SelectFilter projection"),
    ("gateway/onvif/resource_event/write.py", "pull_messages_response", "tt:Message writing"),
    ("gateway/soap/build.py", "build_response", "envelope building + serialisation"),
    ("gateway/soap/build.py", "_serialize", "serialisation (tostring)"),
)


@dataclass
class ProfileReport:
    loop_busy: float  # event-loop thread, seconds not spent waiting in the selector
    worker_busy: float  # catalog worker calls, seconds
    requests: int
    watched: list[tuple[str, str, float, float]]  # (label, function, seconds, share of busy)
    top_self: list[tuple[str, float, float]]  # (function, own seconds, share of busy)
    note: str
    by_package: list[tuple[str, float, float]] = field(default_factory=list)  # (group, own seconds, share)

    @property
    def busy(self) -> float:
        return self.loop_busy + self.worker_busy


def read_profile(base: Path, requests: int) -> ProfileReport | None:
    """What the profiled gateway at ``base`` wrote, for ``requests`` requests; None if it wrote nothing."""
    found = summarise(base, WATCH, PACKAGES)
    if found is None:
        return None
    return ProfileReport(
        loop_busy=found.loop_busy, worker_busy=found.worker_busy, requests=requests, watched=found.watched,
        by_package=found.by_package, top_self=found.top_self,
        note=("cProfile with a per-thread CPU-time clock on the server's event-loop thread plus every catalog "
              "worker call (`asyncio.to_thread`), started after warm-up; busy = CPU seconds of both; "
              "cProfile inflates call-heavy Python code"),
    )


#: Own time grouped by where the code lives: (group, path fragments).
PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gateway: catalog (store, records, geo, db, pull points)", ("/gateway/catalog/",)),
    ("gateway: events, query", ("/gateway/events/", "/gateway/query/")),
    ("gateway: onvif builders", ("/gateway/onvif/",)),
    ("gateway: soap core", ("/gateway/soap/",)),
    ("gateway: other", ("/gateway/",)),
    ("SQLAlchemy (Python)", ("/sqlalchemy/",)),
    ("hypercorn, h11, h2", ("/hypercorn/", "/h11/", "/h2/", "/hpack/", "/wsproto/")),
    ("asyncio, selectors, threads", ("/asyncio/", "selectors.py", "/concurrent/", "threading.py", "queue.py")),
)




@dataclass
class Results:
    date: str
    machine: dict[str, str]
    size: int
    seed: int
    catalog: str
    imported: ImportStats
    queries: int
    gateway_first: FirstPage
    raw_first: FirstPage
    drain_radius: float
    drain_centre: tuple[float, float]
    gateway_drain: Drain
    raw_drain: Drain
    raw_drain_paged: Drain
    breakdown: Breakdown | None
    profiles: dict[str, ProfileReport]
    wall_seconds: float = 0.0

    @property
    def drain_ratio(self) -> float:
        return self.gateway_drain.rate / self.raw_drain.rate if self.raw_drain.rate else 0.0

    @property
    def first_page_ok(self) -> bool:
        return self.gateway_first.latency.p95 < FIRST_PAGE_LIMIT_MS

    @property
    def drain_ok(self) -> bool:
        return self.drain_ratio >= DRAIN_MIN_RATIO and self.gateway_drain.verified


def machine_info(backend: str, url: str) -> dict[str, str]:
    info = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "lxml": ".".join(map(str, etree.LXML_VERSION[:3])),
        "backend": backend,
        "load": f"load average {os.getloadavg()[0]:.1f} at the end",
    }
    if backend == "postgresql":
        import psycopg

        try:
            raw = RawSql.open(url)
            info["backend"] = "PostgreSQL " + str(raw.conn.execute("SHOW server_version").fetchone()[0])
            raw.close()
        except (psycopg.Error, OSError) as exc:  # the version is decoration; the run goes on
            info["backend"] = f"postgresql (version unknown: {exc})"
    else:
        info["backend"] = f"SQLite {sqlite3.sqlite_version} (WAL, R*Tree)"
    return info






def _summary(r: Results) -> list[str]:
    """The results table the issue asks for."""
    g, q = r.gateway_first, r.raw_first
    gd, rd, rp = r.gateway_drain, r.raw_drain, r.raw_drain_paged
    imp, m = r.imported, r.machine
    import_text = f"{imp.seconds:.1f} s, {imp.rate:,.0f} rows/s" if imp.seconds else "not measured"
    if imp.cached:
        import_text += f" (cached catalog, imported {imp.measured_at or 'earlier'})"
    if "ANALYZE" in imp.note:
        import_text += "; then ANALYZE by the bench"
    paged_ratio = gd.rate / rp.rate if rp.rate else 0.0
    slower = g.latency.p50 / q.latency.p50 if q.latency.p50 else 0.0
    rows = [
        ("date", r.date),
        ("machine", (f"nproc {m['nproc']} ({m['cpu']}), Python {m['python']}, sqlite {m['sqlite']}, "
                    f"lxml {m['lxml']}; {m['load']}")),
        ("backend", m["backend"]),
        ("size", f"{r.size:,} resources (`generate_city`, seed {r.seed})"),
        ("import (bulk path, generation included)", import_text),
        ("100 m first page, gateway: p50 / p95 / max",
         f"**{g.latency.p50:.1f}** / **{g.latency.p95:.1f}** / {g.latency.max:.1f} ms"),
        ("100 m first page, raw SQL: p50 / p95 / max",
         f"{q.latency.p50:.2f} / {q.latency.p95:.2f} / {q.latency.max:.2f} ms (gateway p50 {slower:.1f}x)"),
        (f"100 m hits: mean first page / mean within 100 m ({r.queries} centres)",
         f"{g.mean_page_hits:.1f} / {g.mean_total_hits:.0f}"),
        ("drain, gateway", (f"{gd.matched:,} resources in {gd.seconds:.2f} s = **{gd.rate:,.0f}/s** "
                           f"({gd.pulls} pulls of {DRAIN_PAGE}, best of {len(gd.seconds_all)})")),
        ("drain, raw SQL + text", (f"{rd.matched:,} in {rd.seconds:.3f} s = **{rd.rate:,.0f}/s** (one statement); "
                                  f"keyset-paged per {DRAIN_PAGE}: {rp.rate:,.0f}/s")),
        ("drain ratio gateway / raw", f"**{r.drain_ratio:.2f}** (against keyset-paged raw: {paged_ratio:.2f})"),
        ("drain count = SQL count", yes(gd.verified)),
        (f"acceptance: first page well under 100 ms (p95 < {FIRST_PAGE_LIMIT_MS:.0f} ms)", yes(r.first_page_ok)),
        ("acceptance: drain >= 1/3 of raw", yes(r.drain_ok)),
    ]
    return ["| item | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]




def _details(r: Results) -> list[str]:
    g, gd, rd = r.gateway_first, r.gateway_drain, r.raw_drain
    lines = [
        f"- Catalog: {r.catalog}.",
        (f"- First page: CreatePullPointSubscription (`tns1:Resource/{KIND}` + `tt:LocationFilter`, "
         f"{QUERY_RADIUS_M:.0f} m) through the first PullMessages (PT0S, {FIRST_PAGE}) response fully received; "
         "one keep-alive HTTP/1.1 connection, a WS-UsernameToken digest per request; "
         f"{r.queries} centres at random resource locations; {g.empty_share:.0%} of pages empty. "
         "Raw SQL: the same bbox + haversine page (id order, LIMIT 100) and its scopes, "
         "run right after each gateway query."),
        (f"- Drain: `{KIND}` within {r.drain_radius:.1f} m of {r.drain_centre[0]:.6f},{r.drain_centre[1]:.6f} "
         f"({gd.matched:,} in SQL), until an empty pull. The gateway's time excludes the client's own XML "
         "parsing. Gateway and raw drains alternate, and the best run of each counts. Gateway runs: "
         + ", ".join(f"{x:.2f}" for x in gd.seconds_all) + " s. Raw runs: "
         + ", ".join(f"{x:.3f}" for x in rd.seconds_all) + " s."),
    ]
    if g.wrong_pages:
        lines.append(f"- {g.wrong_pages} gateway first pages had a size other than min(SQL count, {FIRST_PAGE}).")
    if gd.note:
        lines.append(f"- Drain mismatch: {gd.note}.")
    if rd.note:
        lines.append(f"- Raw: {rd.note}.")
    return lines


def _breakdown(r: Results, b: Breakdown) -> list[str]:
    g_ms, d_ms = r.gateway_first.latency.p50, r.gateway_drain.seconds * 1000.0
    first_sum = sum(ms for _, ms in b.first_page)
    drain_sum = sum(ms for _, ms in b.drain)
    lines = [
        "## Where the gateway's time goes: its own steps, timed in-process",
        "",
        ("The catalog, cursor and builder calls the two handlers make, run in the bench's own process, in the "
         "handlers' order, without HTTP and without a profiler. The rest of the gateway's HTTP time is "
         "hypercorn, the SOAP pipeline (parse, UsernameToken, dispatch, filter parsing) and the "
         "`asyncio.to_thread` hops."),
        "",
        f"| step | first page: median ms (gateway p50 {g_ms:.1f} ms) | share |",
        "| --- | --- | --- |",
        *(f"| {name} | {ms:.2f} | {share(ms, g_ms)} |" for name, ms in b.first_page),
        f"| sum of the steps | {first_sum:.2f} | {share(first_sum, g_ms)} |",
        (f"| rest: HTTP, SOAP pipeline, thread hops (2 requests) | {g_ms - first_sum:.2f} | "
        f"{share(g_ms - first_sum, g_ms)} |"),
        "",
        (f"| step | drain: ms for {r.gateway_drain.matched:,} resources in {b.drain_pulls} pulls "
        f"(gateway {d_ms:.0f} ms) | share |"),
        "| --- | --- | --- |",
        *(f"| {name} | {ms:.1f} | {share(ms, d_ms)} |" for name, ms in b.drain),
        f"| sum of the steps | {drain_sum:.1f} | {share(drain_sum, d_ms)} |",
        f"| rest: HTTP, SOAP pipeline, thread hops | {d_ms - drain_sum:.1f} | {share(d_ms - drain_sum, d_ms)} |",
    ]
    if b.distance_calls_drain is not None and b.distance_calls_first_page is not None:
        per = b.distance_calls_drain / max(r.gateway_drain.matched, 1)
        lines += ["", (f"`gw_distance_m` (the SQLite Python function behind the radius test) ran "
                       f"{b.distance_calls_drain:,} times per drain of {r.gateway_drain.matched:,} resources in "
                       f"{b.drain_pulls} pulls ({per:.1f} per resource sent), and "
                       f"{b.distance_calls_first_page:,.0f} times per first page.")]
    return lines


def _profile(workload: str, p: ProfileReport) -> list[str]:
    per_request = p.busy / max(p.requests, 1) * 1000
    return [
        f"## Where the gateway's time goes: {workload} (profiled run)",
        "",
        (f"{p.requests} requests; busy {p.busy:.2f} s = event loop {p.loop_busy:.2f} s + catalog workers "
         f"{p.worker_busy:.2f} s ({per_request:.1f} ms per request). {p.note}."),
        "",
        "| part | function | cumulative s | share of busy |",
        "| --- | --- | --- | --- |",
        *(f"| {label} | `{fn}` | {sec:.2f} | {share:.0%} |" for label, fn, sec, share in p.watched),
        f"| all catalog worker calls | - | {p.worker_busy:.2f} | {share(p.worker_busy, p.busy)} |",
        "",
        ("Own time by where the code lives (lxml's Cython calls are not seen by cProfile: their time is the "
        "caller's own time, e.g. `_serialize`):"),
        "",
        "| code | own s | share of busy |",
        "| --- | --- | --- |",
        *(f"| {group} | {sec:.2f} | {share:.0%} |" for group, sec, share in p.by_package),
        "",
        "Top functions by own time:",
        "",
        "| function | own s | share of busy |",
        "| --- | --- | --- |",
        *(f"| `{fn}` | {sec:.3f} | {share:.1%} |" for fn, sec, share in p.top_self),
    ]


def render_markdown(r: Results) -> str:
    lines = ["# Query benchmark (`python bench/query.py`)", "", *_summary(r), "", "Details:", "", *_details(r)]
    if r.breakdown is not None:
        lines += ["", *_breakdown(r, r.breakdown)]
    for workload, report in r.profiles.items():
        lines += ["", *_profile(workload, report)]
    lines += ["", f"Benchmark wall time: {r.wall_seconds:.0f} s.", ""]
    return "\n".join(lines)


def render_json(r: Results) -> str:
    data = jsonable(r)
    data |= {"drain_ratio": r.drain_ratio, "first_page_ok": r.first_page_ok, "drain_ok": r.drain_ok}
    return json.dumps(data, indent=1)


