"""The demo city as a benchmark catalog: ``generate_city(size, seed)`` imported through the catalog's bulk path,
SQLite files cached by (size, seed, a hash of the generator's source and the migrations), PostgreSQL reused when it
already holds the city."""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.kit.process import ROOT, log
from bench.kit.report import now_text


@dataclass
class ImportStats:
    rows: int
    seconds: float
    cached: bool = False
    measured_at: str = ""
    note: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def generator_fingerprint() -> str:
    """Changes whenever the city generator (or what it builds on) or the catalog schema changes."""
    from gateway.addressing import annex_a, tokens
    from gateway.cli import demo_city

    digest = hashlib.sha256()
    for module in (demo_city, annex_a, tokens):
        digest.update(inspect.getsource(module).encode())
    # ... and whenever the schema changes: a cached file must be what an import makes today.
    for migration in sorted((ROOT / "gateway" / "catalog" / "migrations" / "versions").glob("*.py")):
        digest.update(migration.read_bytes())
    return digest.hexdigest()[:12]


def cache_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vms-gateway" / "bench"


def import_city(url: str, size: int, seed: int) -> ImportStats:
    """Generate the city and import it through ``Catalog.import_resources``, with progress."""
    from gateway.catalog.store import Catalog
    from gateway.cli.demo_city import generate_city
    from gateway.cli.progress import Progress

    catalog = Catalog.open(url)
    try:
        catalog.upgrade()
        progress = Progress("import", unit="resources")
        started = time.perf_counter()
        resources = generate_city(size, seed)
        result = _call_import(catalog, resources, size, progress)
        seconds = time.perf_counter() - started
    finally:
        catalog.close()
    rows = _result_rows(result, size)
    return ImportStats(rows=rows, seconds=seconds, measured_at=now_text(),
                       note="generation included (streamed into the import)")


def _call_import(catalog: Any, resources: Iterable[Any], size: int, progress: Any) -> Any:
    """``Catalog.import_resources`` (the bulk path), reporting staged rows and the silent final write."""
    announced = False

    def report(done: int) -> None:
        nonlocal announced
        progress(done, size)
        if done >= size and not announced:
            announced = True
            progress.finish()
            log(f"all {size:,} resources staged; writing them set-wise (one transaction, no progress inside)")

    return catalog.import_resources(resources, replace=False, progress=report)


def _result_rows(result: Any, default: int) -> int:
    if isinstance(result, int):
        return result
    for name in ("rows", "imported", "count", "total", "added", "created"):
        value = getattr(result, name, None)
        if isinstance(value, int):
            return value
    return default


@dataclass
class CatalogSetup:
    url: str
    backend: str  # sqlite | postgresql
    imported: ImportStats
    where: str  # human description of the database's location


def prepare_sqlite(size: int, seed: int, cache: Path, fresh: bool) -> CatalogSetup:
    """The cached SQLite catalog for (size, seed, generator), imported now if missing or ``fresh``."""
    key = f"city-{size}-{seed}-{generator_fingerprint()}"
    db_path, meta_path = cache / f"{key}.db", cache / f"{key}.json"
    url = f"sqlite:///{db_path}"
    if db_path.exists() and meta_path.exists() and not fresh:
        meta = json.loads(meta_path.read_text())
        stats = ImportStats(rows=meta["rows"], seconds=meta["seconds"], cached=True, measured_at=meta["measured_at"],
                            note=meta.get("note", ""))
        log(f"reusing cached catalog {db_path} (imported {stats.measured_at}: {stats.rows:,} rows in "
            f"{stats.seconds:.1f} s); pass --fresh to import again")
        return CatalogSetup(url=url, backend="sqlite", imported=stats, where=str(db_path))
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob(f"{key}.*"):
        stale.unlink()
    work = cache / f"{key}.importing.db"
    for leftover in cache.glob(f"{key}.importing.db*"):
        leftover.unlink()
    log(f"generating and importing {size:,} resources (seed {seed}) into {work}")
    stats = import_city(f"sqlite:///{work}", size, seed)
    _checkpoint(work)
    work.rename(db_path)
    meta_path.write_text(json.dumps(dataclasses.asdict(stats) | {"size": size, "seed": seed}, indent=1))
    log(f"imported {stats.rows:,} rows in {stats.seconds:.1f} s ({stats.rate:,.0f} rows/s); cached as {db_path}")
    return CatalogSetup(url=url, backend="sqlite", imported=stats, where=str(db_path))


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the file so it can be renamed alone."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def prepare_postgres(url: str, size: int, seed: int) -> CatalogSetup:
    """Import into an empty PostgreSQL catalog; reuse one that already holds exactly this city."""
    from gateway.catalog.store import Catalog
    from gateway.cli.demo_city import generate_city

    catalog = Catalog.open(url)
    try:
        catalog.upgrade()
    finally:
        catalog.close()
    conn = _postgres(url)
    try:
        (count,) = conn.execute("SELECT count(*) FROM resource").fetchone()
        found = conn.execute("SELECT token FROM resource ORDER BY id LIMIT 1").fetchone()
        first = found[0] if found else None
    finally:
        conn.close()
    expected_first = next(iter(generate_city(1, seed))).token
    shown = url.split("@")[-1]
    if count == size and first == expected_first:
        log(f"reusing the {size:,}-resource city already in {shown}")
        return CatalogSetup(url=url, backend="postgresql", where=shown,
                            imported=ImportStats(rows=size, seconds=0.0, cached=True, note="already in the database"))
    if count:
        raise SystemExit(f"{shown} holds {count:,} other resources; give an empty database")
    log(f"generating and importing {size:,} resources (seed {seed}) into {shown}")
    stats = import_city(url, size, seed)
    log(f"imported {stats.rows:,} rows in {stats.seconds:.1f} s ({stats.rate:,.0f} rows/s)")
    _analyze(url)
    stats.note += "; ANALYZE run by the bench afterwards (the import leaves the planner without statistics)"
    return CatalogSetup(url=url, backend="postgresql", imported=stats, where=shown)


def _analyze(url: str) -> None:
    """Give PostgreSQL's planner statistics now rather than whenever autovacuum gets to it.

    Measured: straight after a million-row import, before autoanalyze, the raw
    100 m page took ~55 ms at p50 instead of ~6 ms.
    """
    log("ANALYZE (the bulk import does not; autovacuum would, a minute or so later)")
    conn = _postgres(url)
    try:
        conn.execute("ANALYZE resource")
        conn.execute("ANALYZE resource_scope")
    finally:
        conn.close()


def _postgres(url: str) -> Any:
    """A plain psycopg connection (autocommit) to the catalog at a SQLAlchemy ``url``."""
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(dsn, autocommit=True)

