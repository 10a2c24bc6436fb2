"""Opening the catalog: file mode, PRAGMAs, the distance function, thread use, and one-line errors."""
from __future__ import annotations

import socket
import stat
import threading
from pathlib import Path

import platformdirs
import pytest
from sqlalchemy import event, text

from gateway.catalog import db
from gateway.catalog.errors import CatalogError
from gateway.catalog.store import Catalog
from gateway.vocabulary.geodesy import haversine_m
from gateway.vocabulary.resource import Resource


def test_default_url_is_a_file_in_the_user_data_dir() -> None:
    expected = Path(platformdirs.user_data_dir("vms-gateway")) / "catalog.db"
    assert db.default_url() == f"sqlite:///{expected}"


def test_sqlite_file_and_parents_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "catalog.db"
    engine = db.open_engine(f"sqlite:///{path}")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        engine.dispose()


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    db.open_engine(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_every_sqlite_connection_gets_the_pragmas_and_the_distance_function(tmp_path: Path) -> None:
    engine = db.open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with engine.connect() as conn:
            pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "cache_size")}
            distance = conn.execute(text("SELECT gw_distance_m(52.5, 13.4, 48.1, 11.6)")).scalar()
            null = conn.execute(text("SELECT gw_distance_m(NULL, 13.4, 48.1, 11.6)")).scalar()
        assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1,
                          "busy_timeout": db.BUSY_TIMEOUT_MS, "cache_size": -db.CACHE_KIB}
        assert distance == haversine_m(52.5, 13.4, 48.1, 11.6)
        assert null is None
    finally:
        engine.dispose()


def test_without_autocheckpoint_commits_leave_the_wal_to_checkpoint(tmp_path: Path) -> None:
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'c.db'}", autocheckpoint=False)
    try:
        catalog.upgrade()
        with catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        catalog.apply([Resource(token=f"dev:cam{i}", name="x" * 2000) for i in range(3000)])  # > 1000 WAL pages
        wal = tmp_path / "c.db-wal"
        assert wal.stat().st_size > 1000 * 4096  # an autocheckpoint would have reset it at 1000 pages
        frames, copied = catalog.checkpoint()
        assert frames > 1000 and copied == frames
        catalog.apply([Resource(token="dev:late")])
        assert catalog.checkpoint()[0] < 10  # the next writer started the WAL over
    finally:
        catalog.close()


def test_checkpoints_are_automatic_by_default(tmp_path: Path) -> None:
    engine = db.open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        engine.dispose()


def test_a_checkpoint_is_harmless_on_either_backend(catalog: Catalog) -> None:
    catalog.apply([Resource(token="dev:cam")])
    frames, copied = catalog.checkpoint()
    assert copied == frames  # nobody else is reading: everything is copied (PostgreSQL: nothing to do)
    assert catalog.get("dev:cam") == Resource(token="dev:cam")


def test_write_transactions_begin_immediate_and_reads_deferred(tmp_path: Path) -> None:
    engine = db.open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("BEGIN"):
            seen.append(statement)

    try:
        with db.write_transaction(engine, lock=1) as conn:
            conn.execute(text("SELECT 1"))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert seen == ["BEGIN IMMEDIATE", "BEGIN DEFERRED"]
    finally:
        engine.dispose()


@pytest.mark.parametrize(("url", "message"), [
    ("not a url", "not a database URL: 'not a url'"),
    ("mysql://u:secret@h/d", "unsupported database 'mysql://u:***@h/d'"),
    ("sqlite://", "an in-memory catalog cannot be shared between threads"),
])
def test_bad_urls_are_one_line_catalog_errors(url: str, message: str) -> None:
    with pytest.raises(CatalogError) as err:
        db.open_engine(url)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_unreachable_server_is_a_one_line_catalog_error() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(CatalogError) as err:
            db.open_engine(f"postgresql+psycopg://u:secret@127.0.0.1:{port}/x")
    assert str(err.value).startswith(f"cannot open catalog postgresql+psycopg://u:***@127.0.0.1:{port}/x: ")
    assert "secret" not in str(err.value) and "\n" not in str(err.value)


def test_a_file_that_is_no_database_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are notes, not a database\n" * 10)
    with pytest.raises(CatalogError, match=f"^cannot open catalog sqlite:///{path}: file is not a database$"):
        db.open_engine(f"sqlite:///{path}")


def test_an_unwritable_location_is_a_catalog_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CatalogError, match="cannot create catalog file"):
        db.open_engine(f"sqlite:///{blocker / 'catalog.db'}")


def test_the_catalog_serves_many_threads_at_once(catalog: Catalog) -> None:
    """The server calls the catalog from a thread pool; writers queue on the lock, none fails."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                catalog.apply([Resource(token=f"T{n}:{i}", lat=float(n), lon=float(i))])
                assert catalog.get(f"T{n}:{i}") is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert catalog.stats()["resources"] == 80
    assert [c.seq for c in catalog.changes_after(0, 1000)] == list(range(1, 81))
