"""Catalog benchmark: how long a million-row CSV takes to import, re-import and query, beside the raw limits.

    python bench/catalog.py [--rows N] [--queries N] [--out FILE]

In the bench's own process, on a fresh SQLite catalog in a temporary directory:

1. **Import**: a generated CSV (a city: four media profiles per device, each carrying its device's three
   discovery scopes; half the devices spread over Europe, half clustered around 60 towns) through
   ``catalog.csvio.import_csv`` into the empty catalog, then the same file again (every row unchanged).
   *Raw limit*: the standard library's ``csv`` reader and plain DB-API ``executemany`` into bare SQLite tables
   with the catalog's columns (resource and scope rows, no indexes, one transaction).
2. **Query**: 100 m radius queries at ``--queries`` stored resources (nudged by up to 1e-4 degrees), each the
   catalog's ``snapshot_page`` of up to 1000 rows. *Raw limit*: the same page as plain SQL (the R*Tree probe and
   a haversine in SQL, ``ORDER BY id LIMIT 1000``, then the page's scopes; ``bench.kit.rawsql``).

Results go to ``--out`` (markdown, or JSON when the name ends in ``.json``); the table is printed as well.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kit.process import log
from bench.kit.rawsql import RawSql
from bench.kit.report import cpu_model, jsonable, now_text, write_report
from bench.kit.stats import Dist

DEFAULT_ROWS = 1_000_000
PROFILES_PER_DEVICE = 4
TOWNS = 60
#: Radius queries timed, centred on stored resources.
DEFAULT_QUERIES = 200
RADIUS_M = 100.0
PAGE = 1000
COLUMNS = ["token", "kind", "name", "lat", "lon", "elevation", "scopes", "offline"]


def write_city(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    towns = [(rnd.uniform(35, 70), rnd.uniform(-10, 40)) for _ in range(TOWNS)]
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(COLUMNS)
        for i in range(rows):
            device = i // PROFILES_PER_DEVICE
            if device % 2:
                lat, lon = rnd.uniform(35, 70), rnd.uniform(-10, 40)
            else:
                town = towns[device % TOWNS]
                lat, lon = town[0] + rnd.gauss(0, 0.05), town[1] + rnd.gauss(0, 0.08)
            scopes = (f"onvif://www.onvif.org/location/city/c{device % TOWNS} "
                      f"onvif://www.onvif.org/name/cam{device} onvif://www.onvif.org/hardware/M{device % 97}")
            out.writerow([f"{32010000001320000000 + device}:profile-{i % PROFILES_PER_DEVICE}", "MediaProfile",
                          f"Camera {i}", repr(lat), repr(lon), "" if i % 3 else repr(rnd.uniform(0, 300)),
                          scopes, "false" if i % 5 else ""])


def raw_import(source: Path, db: Path) -> float:
    """Seconds for the raw limit of step 1: ``csv`` reading plus ``executemany`` into bare tables."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE resource (id INTEGER PRIMARY KEY, token TEXT NOT NULL, kind TEXT NOT NULL, "
                     "name TEXT, lat REAL, lon REAL, elevation REAL, offline BOOLEAN)")
        conn.execute("CREATE TABLE resource_scope (resource_id INTEGER NOT NULL, pos INTEGER NOT NULL, "
                     "uri TEXT NOT NULL)")
        started = time.perf_counter()
        resources: list[tuple[object, ...]] = []
        scopes: list[tuple[int, int, str]] = []
        with source.open(newline="") as f:
            for rid, row in enumerate(csv.DictReader(f), 1):
                resources.append((rid, row["token"], row["kind"], row["name"] or None,
                                  float(row["lat"]) if row["lat"] else None,
                                  float(row["lon"]) if row["lon"] else None,
                                  float(row["elevation"]) if row["elevation"] else None,
                                  None if not row["offline"] else row["offline"] == "true"))
                scopes.extend((rid, pos, uri) for pos, uri in enumerate(row["scopes"].split()))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO resource VALUES (?,?,?,?,?,?,?,?)", resources)
        conn.executemany("INSERT INTO resource_scope VALUES (?,?,?)", scopes)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


@dataclass
class Results:
    date: str
    machine: dict[str, str]
    rows: int
    import_seconds: float
    reimport_seconds: float
    raw_import_seconds: float
    queries: int
    query: Dist
    raw_query: Dist
    mean_hits: float
    wall_seconds: float = 0.0


def run(args: argparse.Namespace) -> Results:
    from gateway.catalog.csvio import import_csv
    from gateway.catalog.store import Catalog
    from gateway.query.model import LocationFilter, ResourceQuery

    wall = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="vmsgw-catalogbench-", dir=args.work_dir))
    try:
        source = work / "city.csv"
        log(f"writing a {args.rows:,}-row CSV")
        write_city(source, args.rows)
        log("raw limit: csv + executemany into bare tables")
        raw_import_s = raw_import(source, work / "raw.db")
        db = work / "catalog.db"
        catalog = Catalog.open(f"sqlite:///{db}")
        try:
            catalog.upgrade()
            log("import_csv into the empty catalog")
            started = time.perf_counter()
            report = import_csv(catalog, source, skip_invalid=False)
            imported = time.perf_counter() - started
            if report.created != args.rows:
                raise SystemExit(f"the import created {report.created:,} resources, not {args.rows:,}")
            log(f"imported in {imported:.1f} s; importing the same file again")
            started = time.perf_counter()
            again = import_csv(catalog, source, skip_invalid=False)
            reimported = time.perf_counter() - started
            if again.unchanged != args.rows:
                raise SystemExit(f"the re-import left {again.unchanged:,} resources unchanged, not {args.rows:,}")
            rnd = random.Random(1)
            step = max(1, args.rows // args.queries)
            centres = [r for i, r in enumerate(catalog.iter_resources(batch=50_000)) if i % step == 0]
            raw = RawSql.open(f"sqlite:///{db}")
            timings, raw_timings, hits = [], [], []
            try:
                log(f"{len(centres)} radius queries of {RADIUS_M:.0f} m, each beside its raw SQL page")
                for centre in centres:
                    assert centre.lat is not None and centre.lon is not None
                    lat, lon = centre.lat + rnd.uniform(-1e-4, 1e-4), centre.lon
                    where = catalog.compile_filter(
                        ResourceQuery(location=LocationFilter(lat=lat, lon=lon, radius=RADIUS_M)))
                    t = time.perf_counter()
                    hits.append(len(catalog.snapshot_page(where, 0, PAGE)))
                    timings.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    raw.page(lat, lon, RADIUS_M, PAGE)
                    raw_timings.append(time.perf_counter() - t)
            finally:
                raw.close()
        finally:
            catalog.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Results(date=now_text(), machine={"cpu": cpu_model(), "sqlite": sqlite3.sqlite_version}, rows=args.rows,
                   import_seconds=imported, reimport_seconds=reimported, raw_import_seconds=raw_import_s,
                   queries=len(timings), query=Dist.of(timings), raw_query=Dist.of(raw_timings),
                   mean_hits=statistics.fmean(hits), wall_seconds=time.perf_counter() - wall)


def render_markdown(r: Results) -> str:
    def rate(seconds: float) -> str:
        return f"{seconds:.1f} s ({r.rows / seconds:,.0f} rows/s)" if seconds else "-"

    rows = [
        ("date", r.date),
        ("machine", f"{r.machine['cpu']}, sqlite {r.machine['sqlite']}"),
        ("rows", f"{r.rows:,} (CSV, four media profiles per device)"),
        ("CSV import into an empty SQLite catalog (`import_csv`)", rate(r.import_seconds)),
        ("re-import, no changes", rate(r.reimport_seconds)),
        ("raw limit: csv + executemany into bare tables", rate(r.raw_import_seconds)),
        (f"{RADIUS_M:.0f} m query (`snapshot_page`, up to {PAGE}): p50 / p95 / max",
         f"{r.query.p50:.2f} / {r.query.p95:.2f} / {r.query.max:.2f} ms"),
        ("raw limit: the same page as plain SQL: p50 / p95 / max",
         f"{r.raw_query.p50:.2f} / {r.raw_query.p95:.2f} / {r.raw_query.max:.2f} ms"),
        ("hits per query (mean)", f"{r.mean_hits:.1f} ({r.queries} queries)"),
    ]
    return "\n".join(["# Catalog benchmark (`python bench/catalog.py`)", "", "| item | value |", "| --- | --- |",
                      *(f"| {k} | {v} |" for k, v in rows), "", f"Benchmark wall time: {r.wall_seconds:.0f} s.", ""])


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="CSV rows (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=DEFAULT_QUERIES, help="100 m queries (default 200)")
    parser.add_argument("--work-dir", help="parent of the run's temporary directory (default: the system's)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "catalog.md"),
                        help="results file; .json for JSON, anything else markdown (default bench/results/catalog.md)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    results = run(args)
    write_report(args.out, render_markdown(results), lambda: json.dumps(jsonable(results), indent=1))


if __name__ == "__main__":
    main()
