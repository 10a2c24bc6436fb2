"""Opening the catalog database: one Engine per process, configured per backend.

SQLite (the embedded default) is a file readable only by its owner, because it
holds user credentials.  Every pooled connection gets the same PRAGMAs and the
``gw_distance_m`` SQL function, so SQL radius tests use exactly the Python
great-circle code.  pysqlite's own transaction handling is switched off and
SQLAlchemy emits ``BEGIN`` itself: that makes SELECTs transactional and lets a
write transaction begin ``IMMEDIATE`` (see :func:`write_transaction`).

PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, make_url

from gateway.catalog.errors import CatalogError
from gateway.vocabulary.geodesy import haversine_m

APP_NAME = "vms-gateway"
DEFAULT_FILE = "catalog.db"

#: How long a SQLite writer waits for the write lock before failing: longer
#: than the write phase of a million-row import (about 40 s measured).
BUSY_TIMEOUT_MS = 120_000
#: SQLite page cache per connection, in KiB (negative = KiB in the PRAGMA):
#: enough for the hot index pages of a million resources.
CACHE_KIB = 65_536
#: Pooled connections kept open; asyncio.to_thread's default executor runs at
#: most min(32, cpus + 4) calls at once, so size + overflow covers it.
POOL_SIZE = 8
MAX_OVERFLOW = 24
#: Seconds to wait for a PostgreSQL server before reporting it unreachable.
CONNECT_TIMEOUT_S = 10
#: Execution option read by the SQLite ``begin`` hook; see write_transaction.
_BEGIN_MODE = "gw_sqlite_begin"

SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
POSTGRES_DRIVERS = ("postgresql", "postgresql+psycopg")


def default_url() -> str:
    """An SQLite file in the user's data directory (platformdirs)."""
    return str(URL.create("sqlite", database=str(Path(platformdirs.user_data_dir(APP_NAME)) / DEFAULT_FILE)))


def open_engine(url: str, *, autocheckpoint: bool = True) -> Engine:
    """An Engine for ``url``, checked by connecting once; CatalogError if that fails.

    ``autocheckpoint=False`` (SQLite): a commit never copies the WAL back into
    the database file; the caller runs :func:`checkpoint` from a thread of its
    own.  A server does, so that its writers do not pay for the copy and the
    fsync — about a tenth of a segment sync's time when they did.
    """
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise CatalogError(f"not a database URL: {url!r}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername in SQLITE_DRIVERS:
        engine = _sqlite_engine(parsed, shown, autocheckpoint)
    elif parsed.drivername in POSTGRES_DRIVERS:
        engine = create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "vmsgw"},
        )
    else:
        raise CatalogError(f"unsupported database {shown!r}: use sqlite:///PATH or postgresql+psycopg://...")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except exc.DBAPIError as err:
        engine.dispose()
        reason = str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else type(err.orig).__name__
        raise CatalogError(f"cannot open catalog {shown}: {reason}") from None
    return engine


def _sqlite_engine(url: URL, shown: str, autocheckpoint: bool) -> Engine:
    if url.database in (None, "", ":memory:"):
        raise CatalogError(f"{shown}: an in-memory catalog cannot be shared between threads; give a file path")
    path = Path(url.database).expanduser()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # never widens an existing file's mode
    except OSError as err:
        raise CatalogError(f"cannot create catalog file {path}: {err.strerror}") from None
    engine = create_engine(
        url.set(database=str(path)),
        pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW,
        connect_args={"check_same_thread": False},  # pooled connections move between worker threads
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    if not autocheckpoint:
        event.listen(engine, "connect", _no_autocheckpoint)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _distance(lat1: float | None, lon1: float | None, lat2: float | None, lon2: float | None) -> float | None:
    """``gw_distance_m``: NULL in, NULL out, like the STRICT PostgreSQL function."""
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    return haversine_m(lat1, lon1, lat2, lon2)


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (_on_sqlite_begin)
    for pragma in (
        "journal_mode=WAL",  # readers never block the writer, nor it them
        "synchronous=NORMAL",  # durable across crashes of the process; WAL makes it safe
        "foreign_keys=ON",
        f"busy_timeout={BUSY_TIMEOUT_MS}",
        f"cache_size=-{CACHE_KIB}",
        f"temp.cache_size=-{CACHE_KIB}",  # bulk.py stages imports in temporary tables
    ):
        dbapi_conn.execute(f"PRAGMA {pragma}")
    dbapi_conn.create_function("gw_distance_m", 4, _distance, deterministic=True)


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(engine: Engine) -> tuple[int, int]:
    """Copy what it can of the SQLite WAL into the database file, waiting for no one (PASSIVE).

    Returns (frames in the WAL, frames copied); (0, 0) on PostgreSQL, which
    checkpoints by itself.
    """
    if engine.dialect.name != "sqlite":
        return 0, 0
    with engine.connect() as conn:
        _busy, frames, copied = sqlite_pragma(conn, "wal_checkpoint(PASSIVE)") or (0, 0, 0)
    return int(frames), int(copied)


def _on_sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(_BEGIN_MODE, 'DEFERRED')}")


def immediate(conn: Connection) -> Connection:
    """Make ``conn``'s transactions take SQLite's write lock when they begin."""
    return conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"}) if conn.dialect.name == "sqlite" else conn


def sqlite_pragma(conn: Connection, pragma: str) -> tuple[Any, ...] | None:
    """Run ``PRAGMA pragma`` outside any transaction (inside one, some are silently ignored); its first row."""
    if conn.in_transaction():
        raise CatalogError(f"PRAGMA {pragma} needs a connection outside a transaction")
    cursor = conn.connection.cursor()  # the driver's own: SQLAlchemy would BEGIN first
    try:
        row: tuple[Any, ...] | None = cursor.execute(f"PRAGMA {pragma}").fetchone()
        return row
    finally:
        cursor.close()


@contextmanager
def write_transaction(engine: Engine, lock: int) -> Iterator[Connection]:
    """A transaction that holds the writer lock named ``lock`` until it ends.

    SQLite has one writer per file: ``BEGIN IMMEDIATE`` takes that lock up
    front (waiting up to :data:`BUSY_TIMEOUT_MS`), so a transaction never
    fails halfway on a lock upgrade.  PostgreSQL takes
    ``pg_advisory_xact_lock(lock)``, released at commit or rollback.
    """
    with engine.connect() as conn, immediate(conn).begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
        yield conn
