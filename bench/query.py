"""Resource Query benchmark: a generated million-resource city, the gateway beside its raw limits.

    python bench/query.py [--size N] [--db URL] [--out FILE]

One run measures, on the same data:

1. **Import** — ``generate_city(size, seed)`` through the catalog's bulk path
   (``Catalog.import_resources``), rows/s.  A SQLite catalog is kept in a cache
   directory keyed by size, seed and the generator's source; a later run with
   the same key reuses it (and says so) instead of importing again.  With
   ``--db`` (PostgreSQL) the catalog is imported when empty and reused when it
   already holds this city.
2. **Gateway** — a real ``python -m gateway serve`` process driven over real
   HTTP (httpx, keep-alive) with hand-built SOAP 1.2 envelopes carrying a
   WS-UsernameToken PasswordDigest (fresh nonce per request):
   (a) 100 m first page: CreatePullPointSubscription (``tns1:Resource/MediaProfile``
   + ``tt:LocationFilter``) through the first PullMessages (PT0S, 100) response
   fully received, at centres drawn from resource locations;
   (b) drain: a location filter matching ~10,000 profiles, pulled 1000 at a
   time until an empty pull, checked against the SQL count and token set.
3. **Raw limits** — the same queries as plain SQL (R*Tree join on SQLite,
   GiST point index on PostgreSQL, haversine in SQL), and the drain's rows
   fetched with plain SQL and written as plain text into
   PullMessagesResponse-shaped documents of 1000 messages.
4. **Profile** — a second gateway process under cProfile (main thread and the
   catalog worker threads) answers a share of the same requests; the report
   lists where the gateway's time goes.

Results go to ``--out`` (markdown, or JSON when the name ends in ``.json``)
and the same table is printed.  Timings are wall-clock on whatever machine
runs this; client and server share its cores.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kit import profiling
from bench.kit.city import CatalogSetup, cache_dir, prepare_postgres, prepare_sqlite
from bench.kit.process import GatewayProcess, log, vmsgw
from bench.kit.rawsql import RawSql, raw_pull_document
from bench.kit.report import home_relative, now_text, write_report
from bench.kit.soap import Soap, message_tokens
from bench.kit.stats import Dist
from bench.steps.query_breakdown import in_process_breakdown
from bench.steps.query_common import (
    DEFAULT_DRAIN_TARGET,
    DEFAULT_QUERIES,
    DEFAULT_SIZE,
    DRAIN_PAGE,
    DRAIN_REPEATS,
    FIRST_PAGE,
    KIND,
    QUERY_RADIUS_M,
    SERVER_START_TIMEOUT,
    USER_LEVEL,
    Drain,
    FirstPage,
)
from bench.steps.query_report import (
    ProfileReport,
    Results,
    machine_info,
    read_profile,
    render_json,
    render_markdown,
)
from gateway.cli.demo_city import DEFAULT_SEED, DEMO_POINT

# --------------------------------------------------------------------------- measurements
#
# The machine is shared (the client runs beside the server, and other work may
# run too), so the gateway and its raw limit are measured interleaved — each
# query at one centre, then the same raw query; each gateway drain, then the
# raw drains — and drains report the best of several runs.



def _first_page(hits: list[int], times: list[float], totals: Sequence[int], wrong: int = 0) -> FirstPage:
    return FirstPage(latency=Dist.of(times), mean_page_hits=statistics.fmean(hits),
                     mean_total_hits=statistics.fmean(totals), empty_share=sum(1 for h in hits if h == 0) / len(hits),
                     wrong_pages=wrong)


def gateway_first_page(soap: Soap, event_url: str, lat: float, lon: float) -> tuple[float, int]:
    """Seconds from sending CreatePullPointSubscription to the first PullMessages response received; hits."""
    started = time.perf_counter()
    address = soap.create(event_url, KIND, lat, lon, QUERY_RADIUS_M)
    document = soap.pull(address, FIRST_PAGE)
    elapsed = time.perf_counter() - started
    soap.unsubscribe(address)
    return elapsed, len(message_tokens(document))


def first_pages(soap: Soap, event_url: str, raw: RawSql | None, centres: Sequence[tuple[float, float]],
                totals: Sequence[int], label: str = "100 m first pages") -> tuple[FirstPage, FirstPage | None]:
    """The gateway's first page at every centre, each followed by the raw SQL page there (if ``raw``)."""
    g_times: list[float] = []
    g_hits: list[int] = []
    r_times: list[float] = []
    r_hits: list[int] = []
    for i, (lat, lon) in enumerate(centres, 1):
        elapsed, hits = gateway_first_page(soap, event_url, lat, lon)
        g_times.append(elapsed)
        g_hits.append(hits)
        if raw is not None:
            started = time.perf_counter()
            rows = raw.page(lat, lon, QUERY_RADIUS_M, FIRST_PAGE)
            r_times.append(time.perf_counter() - started)
            r_hits.append(len(rows))
        if i % 50 == 0 or i == len(centres):
            log(f"{label}: {i}/{len(centres)}, gateway p50 so far {Dist.of(g_times).p50:.1f} ms"
                + (f", raw SQL p50 {Dist.of(r_times).p50:.2f} ms" if r_times else ""))
    wrong = sum(1 for h, t in zip(g_hits, totals, strict=True) if h != min(t, FIRST_PAGE))
    if wrong:
        log(f"WARNING: {wrong} gateway first pages differ from min(SQL count, {FIRST_PAGE})")
    gateway = _first_page(g_hits, g_times, totals, wrong)
    return gateway, (_first_page(r_hits, r_times, totals) if raw is not None else None)


def gateway_drain_once(soap: Soap, event_url: str, centre: tuple[float, float], radius: float,
                       expected: set[str]) -> tuple[float, int, str]:
    """One drain: (seconds without client-side parsing, pulls, mismatch note or "")."""
    tokens: list[str] = []
    parse = 0.0
    pulls = 0
    started = time.perf_counter()
    address = soap.create(event_url, KIND, centre[0], centre[1], radius)
    while True:
        document = soap.pull(address, DRAIN_PAGE)
        pulls += 1
        t = time.perf_counter()
        page = message_tokens(document)
        parse += time.perf_counter() - t
        if not page:
            break
        tokens.extend(page)
    elapsed = time.perf_counter() - started - parse
    soap.unsubscribe(address)
    ok = len(tokens) == len(expected) and set(tokens) == expected
    note = "" if ok else (f"{len(tokens):,} messages ({len(set(tokens)):,} distinct tokens, "
                          f"{len(set(tokens) - expected):,} not in SQL, {len(expected - set(tokens)):,} missing) "
                          f"vs SQL {len(expected):,}")
    return elapsed, pulls, note


def raw_drain_once(raw: RawSql, centre: tuple[float, float], radius: float, expected: set[str], *,
                   paged: bool) -> tuple[float, int, bool]:
    """Fetch the drain's rows with plain SQL and write them as 1000-message documents in plain text.

    ``paged=False``: one statement, rows chunked in Python — the floor.
    ``paged=True``: one keyset-paged statement per 1000 (what a stateless pull has to do).
    """
    utc = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.perf_counter()
    tokens: list[str] = []
    pulls = 0
    if paged:
        after = 0
        while True:
            rows = raw.page(centre[0], centre[1], radius, DRAIN_PAGE, after)
            raw_pull_document(rows, utc)
            pulls += 1
            if not rows:
                break
            tokens.extend(r.token for r in rows)
            after = rows[-1].id
    else:
        rows = raw.all_matching(centre[0], centre[1], radius)
        for i in range(0, len(rows), DRAIN_PAGE):
            raw_pull_document(rows[i:i + DRAIN_PAGE], utc)
            pulls += 1
        raw_pull_document([], utc)  # the final empty pull
        pulls += 1
        tokens = [r.token for r in rows]
    elapsed = time.perf_counter() - started
    return elapsed, pulls, len(tokens) == len(expected) and set(tokens) == expected


def drains(soap: Soap, event_url: str, raw: RawSql | None, centre: tuple[float, float], radius: float,
           expected: set[str], repeats: int) -> tuple[Drain, Drain | None, Drain | None]:
    """Gateway drain, then the raw drains (one statement, keyset-paged), ``repeats`` times; best of each."""
    g: list[float] = []
    r1: list[float] = []
    r2: list[float] = []
    notes: list[str] = []
    g_pulls = r1_pulls = r2_pulls = 0
    r1_ok = r2_ok = True
    for attempt in range(1, repeats + 1):
        elapsed, g_pulls, note = gateway_drain_once(soap, event_url, centre, radius, expected)
        g.append(elapsed)
        if note:
            notes.append(f"run {attempt}: {note}")
        line = f"drain {attempt}/{repeats}: gateway {elapsed:.2f} s ({len(expected) / elapsed:,.0f}/s)"
        if raw is not None:
            one, r1_pulls, ok1 = raw_drain_once(raw, centre, radius, expected, paged=False)
            paged, r2_pulls, ok2 = raw_drain_once(raw, centre, radius, expected, paged=True)
            r1.append(one)
            r2.append(paged)
            r1_ok, r2_ok = r1_ok and ok1, r2_ok and ok2
            line += f", raw {one:.3f} s ({len(expected) / one:,.0f}/s), raw paged {paged:.3f} s"
        log(line + ("" if not note else "  MISMATCH vs SQL"))
    gateway = Drain(matched=len(expected), seconds=min(g), seconds_all=g, pulls=g_pulls, verified=not notes,
                    note="; ".join(notes))
    if raw is None:
        return gateway, None, None
    bad = "" if r1_ok and r2_ok else "raw SQL (built-in math haversine) differs from the exact token set"
    return (gateway,
            Drain(matched=len(expected), seconds=min(r1), seconds_all=r1, pulls=r1_pulls, verified=r1_ok, note=bad),
            Drain(matched=len(expected), seconds=min(r2), seconds_all=r2, pulls=r2_pulls, verified=r2_ok, note=bad))


def find_drain_radius(raw: RawSql, centre: tuple[float, float], target: int) -> tuple[float, int]:
    """The radius (m) around ``centre`` whose MediaProfile count is closest to ``target`` (bisection)."""
    lo, hi = 1.0, 1000.0
    while raw.count(centre[0], centre[1], hi) < target and hi < 2_000_000:
        lo, hi = hi, hi * 2
    best = (hi, raw.count(centre[0], centre[1], hi))
    for _ in range(30):
        mid = (lo + hi) / 2
        n = raw.count(centre[0], centre[1], mid)
        if abs(n - target) < abs(best[1] - target):
            best = (mid, n)
        if abs(n - target) <= target * 0.005:
            break
        lo, hi = (mid, hi) if n < target else (lo, mid)
    return round(best[0], 1), raw.count(centre[0], centre[1], round(best[0], 1))




# --------------------------------------------------------------------------- main


def serve(url: str, profile_out: Path | None = None) -> GatewayProcess:
    """``vmsgw serve`` on a free loopback port for the catalog at ``url``, under the profiler if ``profile_out``."""
    command = profiling.command(profile_out) if profile_out is not None else None
    return GatewayProcess(["--listen", "127.0.0.1:0", "--db", url], command=command,
                          timeout=SERVER_START_TIMEOUT).start()


@contextmanager
def gateway_client(setup: CatalogSetup, profile_out: Path | None = None) -> Iterator[tuple[Soap, GatewayProcess]]:
    user = f"bench-{uuid.uuid4().hex[:10]}"
    password = base64.urlsafe_b64encode(os.urandom(18)).decode()
    vmsgw(["user", "add", user, "--level", USER_LEVEL, "--db", setup.url], stdin=password + "\n")
    server = serve(setup.url, profile_out)
    soap = Soap(user, password)
    try:
        yield soap, server
    except Exception:
        sys.stderr.write("--- gateway stderr (last lines) ---\n" + server.stderr_tail(60))
        raise
    finally:
        soap.close()
        server.stop()
        # Best effort: bench users should not pile up in a reused catalog.
        vmsgw(["user", "remove", user, "--db", setup.url], timeout=120, check=False)


def profile_workload(setup: CatalogSetup, what: str,
                     work: Callable[[Soap, GatewayProcess], int]) -> ProfileReport | None:
    """Run ``work`` (returning its request count) against a gateway under the bench's profiler."""
    base = Path(tempfile.mkdtemp(prefix="vmsgw-bench-")) / "server.prof"
    log(f"profiling: a gateway under cProfile answers {what}")
    try:
        with gateway_client(setup, profile_out=base) as (soap, server):
            address = soap.create(server.event_url, KIND, *DEMO_POINT, QUERY_RADIUS_M)  # warm, unprofiled
            soap.pull(address, FIRST_PAGE)
            soap.unsubscribe(address)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            requests = work(soap, server)
        report = read_profile(base, requests)
        if report is None:
            log("WARNING: the profiled server wrote no profile")
        return report
    finally:
        shutil.rmtree(base.parent, ignore_errors=True)


def run(args: argparse.Namespace) -> Results:
    wall = time.perf_counter()
    load_before = f"{os.getloadavg()[0]:.1f}"
    rng = random.Random(args.seed)
    if args.db:
        if args.db.startswith("sqlite"):
            raise SystemExit("--db is for PostgreSQL; SQLite catalogs are generated in the cache directory")
        setup = prepare_postgres(args.db, args.size, args.seed)
    else:
        setup = prepare_sqlite(args.size, args.seed, cache_dir(args.cache_dir), args.fresh)

    raw = RawSql.open(setup.url)
    try:
        log(f"choosing {args.queries} query centres from resource locations")
        centres = raw.random_locations(args.queries, rng)
        totals = [raw.count(lat, lon, QUERY_RADIUS_M) for lat, lon in centres]
        log(f"finding a radius around {DEMO_POINT} with ~{args.drain_target:,} {KIND}s")
        radius, matched = find_drain_radius(raw, DEMO_POINT, args.drain_target)
        expected = raw.tokens(DEMO_POINT[0], DEMO_POINT[1], radius)
        log(f"drain filter: {KIND} within {radius} m -> {matched:,} resources")

        log("starting the gateway")
        with gateway_client(setup) as (soap, server):
            log(f"gateway at {server.url}; warming up")
            for lat, lon in centres[:5]:
                gateway_first_page(soap, server.event_url, lat, lon)
                raw.page(lat, lon, QUERY_RADIUS_M, FIRST_PAGE)
            gw_first, raw_first = first_pages(soap, server.event_url, raw, centres, totals)
            gw_drain, raw_one, raw_paged = drains(soap, server.event_url, raw, DEMO_POINT, radius, expected,
                                                  args.drain_repeats)
    finally:
        raw.close()
    assert raw_first is not None and raw_one is not None and raw_paged is not None

    log("in-process breakdown of the gateway's steps (no HTTP, no profiler)")
    breakdown = in_process_breakdown(setup.url, centres[:50], DEMO_POINT, radius)

    profiles: dict[str, ProfileReport] = {}
    if not args.no_profile:
        n = max(20, len(centres) // 4)

        def first_page_work(soap: Soap, server: GatewayProcess) -> int:
            first_pages(soap, server.event_url, None, centres[:n], totals[:n], label="profiled first pages")
            return 3 * n  # create, pull, unsubscribe

        def drain_work(soap: Soap, server: GatewayProcess) -> int:
            gw, _, _ = drains(soap, server.event_url, None, DEMO_POINT, radius, expected, repeats=2)
            return 2 * (gw.pulls + 2)

        for name, what, work in (("100 m first pages", f"{n} first pages", first_page_work),
                                 ("drain", "2 drains", drain_work)):
            report = profile_workload(setup, what, work)
            if report is not None:
                profiles[name] = report

    machine = machine_info(setup.backend, setup.url)
    machine["load"] = f"load average {load_before} at the start, {machine['load'].removeprefix('load average ')}"
    return Results(
        date=now_text(), machine=machine, size=args.size, seed=args.seed,
        catalog=f"{setup.backend} at {home_relative(setup.where)}", imported=setup.imported, queries=len(centres),
        gateway_first=gw_first, raw_first=raw_first, drain_radius=radius, drain_centre=DEMO_POINT,
        gateway_drain=gw_drain, raw_drain=raw_one, raw_drain_paged=raw_paged, breakdown=breakdown,
        profiles=profiles, wall_seconds=time.perf_counter() - wall,
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="resources to generate (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generate_city seed")
    parser.add_argument("--db", help="PostgreSQL URL (postgresql+psycopg://...); default: a cached SQLite file")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "query.md"),
                        help="results file; .json for JSON, anything else markdown (default bench/results/query.md)")
    parser.add_argument("--queries", type=int, default=DEFAULT_QUERIES, help="100 m queries (default 200)")
    parser.add_argument("--drain-target", type=int, default=DEFAULT_DRAIN_TARGET,
                        help="resources the drain filter should match (default 10,000)")
    parser.add_argument("--drain-repeats", type=int, default=DRAIN_REPEATS,
                        help=f"drains of each kind; the best counts (default {DRAIN_REPEATS})")
    parser.add_argument("--cache-dir",
                        help="where generated SQLite catalogs are kept (default ~/.cache/vms-gateway/bench)")
    parser.add_argument("--fresh", action="store_true", help="import again even if a cached catalog matches")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled gateway run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--profiled-serve"]:
        profiling.profiled_serve(argv[1], argv[2:])
        return
    args = parse_args(argv)
    results = run(args)
    write_report(args.out, render_markdown(results), lambda: render_json(results))


if __name__ == "__main__":
    main()
