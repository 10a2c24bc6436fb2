"""Federation benchmark: a 100,000-resource segment's initial sync, and a change crossing two levels.

    python bench/federation.py [--size N] [--changes N] [--heartbeat S] [--out FILE]

One run, with real ``python -m gateway serve`` processes on loopback:

1. **Leaf** — ``generate_city(size, seed)`` imported through the catalog's bulk
   path (``Catalog.import_resources``).  The SQLite file is the one
   ``bench/query.py`` caches (same key: size, seed, generator and migrations),
   and each run serves a private copy of it, so the cache is never written.
2. **Capture and raw limit** — the bench subscribes at the leaf the way a
   district does (``tns1:Resource//.``) and pulls every resource with
   PullMessages (PT0S, 1000) over real HTTP, keeping the reply bytes.  The raw
   limit is plain lxml parsing of those replies plus plain DB-API
   ``executemany`` into bare SQLite tables with the catalog's columns (resource
   and scope rows, no indexes, one transaction per reply).
3. **Initial sync** — an empty district gateway runs; ``vmsgw segment add leaf``
   (the real CLI) starts the clock, and the district's catalog file is counted
   read-only every ``--poll`` seconds until it holds every leaf resource; the
   token set is then checked against the leaf.
4. **Where the sync's time goes** — the captured replies are replayed through
   the district's own functions in the bench's process, stage by stage: what
   a reply-parsing process does (``wire.reply_body``, ``protocol.parse_pull``,
   pickling the batch) and what the storing thread does (unpickling it,
   ``Catalog.segment_set_reachable``, ``Catalog.segment_apply`` into a fresh
   catalog), timed; then a second district syncs under cProfile.
5. **Change latency** — a city gateway gets the district as its segment and
   syncs (its rate is reported too).  Pull points are opened at the leaf, the
   district and the city (hand-built SOAP 1.2 + WS-UsernameToken
   PasswordDigest over httpx, replies read with lxml), drained, and long-polled
   by one thread each.  Then ``--changes`` resources are renamed at the leaf one
   at a time with ``Catalog.apply`` from the bench's process (so the leaf
   server sees each through its feed watcher's head poll); each latency runs
   from the commit to the matching ``Changed`` event at each level.

Results go to ``--out`` (markdown, or JSON when the name ends in ``.json``);
the same table is printed on stdout, progress on stderr.  Client and servers
share the machine's cores.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kit.city import cache_dir, prepare_sqlite
from bench.kit.report import (
    LoadSampler,
    code_version,
    home_relative,
    now_text,
    write_report,
)
from bench.steps.federation_capture import capture, raw_limit_once
from bench.steps.federation_latency import measure_latency
from bench.steps.federation_nodes import (
    DEFAULT_CHANGES,
    DEFAULT_HEARTBEAT,
    DEFAULT_POLL,
    DEFAULT_SIZE,
    PAGE,
    PROFILE_PAGES,
    RAW_REPEATS,
    log,
    new_node,
    read_only,
)
from bench.steps.federation_report import (
    Results,
    machine_info,
    render_json,
    render_markdown,
)
from bench.steps.federation_sync import profile_district, replay_breakdown, watch_sync
from gateway.cli.demo_city import DEFAULT_SEED


def run(args: argparse.Namespace) -> Results:
    from gateway.events.waiter import POLL_INTERVAL
    from gateway.federation.supervisor import INTERVAL

    wall = time.perf_counter()
    load_before = f"{os.getloadavg()[0]:.1f}"
    sampler = LoadSampler().begin()
    setup = prepare_sqlite(args.size, args.seed, cache_dir(args.cache_dir), args.fresh)
    work = Path(tempfile.mkdtemp(prefix="vmsgw-fedbench-", dir=args.work_dir))
    log(f"working directory {work} (removed at the end{'; --keep keeps it' if not args.keep else ''})")
    leaf, district, city = (new_node(n, work) for n in ("leaf", "district", "city"))
    shutil.copyfile(setup.where, leaf.db_path)
    os.chmod(leaf.db_path, 0o600)
    try:
        conn = read_only(leaf.db_path)
        try:
            expected = {t for (t,) in conn.execute("SELECT token FROM resource")}
        finally:
            conn.close()
        if len(expected) != args.size:
            raise SystemExit(f"the leaf catalog holds {len(expected):,} resources, not {args.size:,}")
        leaf.start()
        district.start()

        log("capturing the leaf's replies over HTTP, as the district will pull them")
        cap = capture(leaf)
        if cap.resources != args.size:
            raise SystemExit(f"the capture got {cap.resources:,} resources, not {args.size:,}")
        log(f"captured {cap.resources:,} resources in {len(cap.pages)} replies ({cap.bytes / 1e6:.1f} MB) in "
            f"{cap.seconds:.2f} s")
        raw_runs = []
        for i in range(RAW_REPEATS):
            raw_runs.append(raw_limit_once(cap.pages, work, i))
            log(f"raw limit run {i + 1}: parse {raw_runs[-1].parse_s:.2f} s + insert {raw_runs[-1].insert_s:.2f} s "
                f"= {raw_runs[-1].rows / raw_runs[-1].seconds:,.0f}/s")

        sync = watch_sync(district, "leaf", leaf, expected, args.heartbeat, args.poll)
        if not sync.verified:
            log(f"WARNING: the district's token set differs: {sync.note}")

        city_sync = latency = None
        if args.changes > 0:
            city.start()
            city_sync = watch_sync(city, "district", district, expected, args.heartbeat, args.poll)
            time.sleep(1.0)  # let both syncs finish enumerating and start tailing
            latency = measure_latency(leaf, district, city, args.changes, args.seed)

        city.stop()
        district.stop()
        profile = None if args.no_profile else profile_district(
            leaf, work, args.heartbeat, min(args.size, PROFILE_PAGES * PAGE), args.poll)
        leaf.stop()
        # The replay runs with every server stopped: it has the cores the district had.
        breakdown = replay_breakdown(cap.pages, work)
    except BaseException:
        for node in (city, district, leaf):
            tail = node.stderr_tail()
            if tail:
                sys.stderr.write(f"--- {node.name} gateway stderr (last lines) ---\n{tail}")
        raise
    finally:
        for node in (city, district, leaf):
            node.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    sampler.end()
    machine = machine_info()
    machine["busy"] = sampler.text()
    machine["load"] = f"load average {load_before} at the start, {machine['load'].removeprefix('load average ')}"
    return Results(
        date=now_text(), machine=machine, size=args.size, seed=args.seed, heartbeat=args.heartbeat,
        poll=args.poll, leaf_catalog=f"sqlite at {home_relative(setup.where)}", imported=setup.imported,
        capture_pulls=len(cap.pull_seconds), capture_seconds=cap.seconds, capture_bytes=cap.bytes,
        raw_runs=raw_runs, sync=sync, breakdown=breakdown, profile=profile, city_sync=city_sync, latency=latency,
        constants={"feed_poll": POLL_INTERVAL, "supervisor_interval": INTERVAL}, code=code_version(),
        wall_seconds=time.perf_counter() - wall,
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="resources at the leaf (default 100,000)")
    parser.add_argument("--changes", type=int, default=DEFAULT_CHANGES,
                        help="renames timed leaf -> city (default 200; 0 skips the city and the latency)")
    parser.add_argument("--heartbeat", type=float, default=DEFAULT_HEARTBEAT,
                        help=f"segment heartbeat in seconds (default {DEFAULT_HEARTBEAT:g})")
    parser.add_argument("--poll", type=float, default=DEFAULT_POLL,
                        help=f"seconds between counts of the syncing catalog (default {DEFAULT_POLL:g})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generate_city seed (and the change picks)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "federation.md"),
                        help="results file; .json for JSON, anything else markdown "
                             "(default bench/results/federation.md)")
    parser.add_argument("--cache-dir", help="where generated SQLite catalogs are kept "
                                            "(default ~/.cache/vms-gateway/bench, shared with bench/query.py)")
    parser.add_argument("--work-dir", help="parent of the run's temporary directory (default: the system's)")
    parser.add_argument("--fresh", action="store_true", help="import the leaf again even if a cached catalog matches")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled district")
    parser.add_argument("--keep", action="store_true", help="keep the run's databases (for inspection)")
    args = parser.parse_args(argv)
    if args.size < PAGE:
        parser.error(f"--size must be at least {PAGE}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    results = run(args)
    write_report(args.out, render_markdown(results), lambda: render_json(results))


if __name__ == "__main__":
    main()
