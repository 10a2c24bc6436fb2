"""Migrations: upgrade from empty, no drift, the hand-made spatial objects, concurrency, conventions."""
from __future__ import annotations

import random
import re
import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from gateway.catalog import migrate
from gateway.catalog.db import open_engine
from gateway.catalog.errors import CatalogError
from gateway.catalog.store import Catalog
from gateway.vocabulary.geodesy import EARTH_RADIUS_M, TINY, haversine_m
from gateway.vocabulary.resource import Resource

VERSIONS = Path(migrate.__file__).parent / "migrations" / "versions"


def test_upgrade_from_empty_reaches_head_without_drift(catalog_url: str) -> None:
    engine = open_engine(catalog_url)
    try:
        assert migrate.current(engine) is None
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head()
        migrate.check(engine)  # autogenerate finds nothing: models and migrations agree
        migrate.upgrade(engine)  # a second upgrade is a no-op
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()


def test_check_refuses_an_unmigrated_database(catalog_url: str) -> None:
    engine = open_engine(catalog_url)
    try:
        with pytest.raises(CatalogError, match="catalog schema check failed: Target database is not up to date"):
            migrate.check(engine)
    finally:
        engine.dispose()


def test_check_reports_drift(catalog: Catalog) -> None:
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE app_user ADD COLUMN note TEXT")
    with pytest.raises(CatalogError, match=r"catalog schema check failed: New upgrade operations detected: .*note"):
        migrate.check(catalog.engine)


def test_the_spatial_objects_exist(catalog: Catalog) -> None:
    with catalog.engine.connect() as conn:
        if catalog.dialect == "sqlite":
            names = set(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name LIKE 'resource_rtree%'").scalars())
            assert names == {"resource_rtree", "resource_rtree_node", "resource_rtree_parent", "resource_rtree_rowid"}
            triggers = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").scalar()
            assert triggers == 0  # the writers keep the R*Tree (catalog/spatial.py)
        else:
            index = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_resource__point'").scalar_one()
            assert index == "CREATE INDEX ix_resource__point ON public.resource USING gist (point(lon, lat))"
            volatility, strict = conn.exec_driver_sql(
                "SELECT provolatile, proisstrict FROM pg_proc WHERE proname = 'gw_distance_m'").one()
            assert (volatility, strict) == ("i", True)


def test_the_rtree_follows_every_write_and_holds_only_located_resources(catalog: Catalog) -> None:
    if catalog.dialect != "sqlite":
        pytest.skip("the R*Tree is SQLite's")

    def rtree() -> list[tuple[int, float, float]]:
        with catalog.engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(
                "SELECT id, min_lat, min_lon FROM resource_rtree ORDER BY id")]

    catalog.apply([Resource(token="A:1", lat=10.0, lon=20.0), Resource(token="A:2")])
    assert rtree() == [(1, 10.0, 20.0)]
    catalog.apply([Resource(token="A:1", lat=11.0, lon=21.0), Resource(token="A:2", lat=1.0, lon=2.0)])
    assert rtree() == [(1, 11.0, 21.0), (2, 1.0, 2.0)]
    catalog.apply([Resource(token="A:1", name="moved away")])
    assert rtree() == [(2, 1.0, 2.0)]
    catalog.apply(deletes=["A:2"])
    assert rtree() == []
    catalog.import_resources([Resource(token="B:1", lat=5.0, lon=6.0), Resource(token="B:2", name="nowhere")],
                             replace=False)
    assert rtree() == [(3, 5.0, 6.0)]
    catalog.import_resources([Resource(token="B:1", lat=7.0, lon=8.0)], replace=True)
    assert rtree() == [(3, 7.0, 8.0)]  # moved by the import, and B:2 deleted by it (never indexed)
    catalog.import_resources([], replace=True)
    assert rtree() == []


def test_the_rtree_survives_the_move_from_triggers_to_writers_and_back(tmp_path: Path) -> None:
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'c.db'}")

    def state() -> tuple[list[tuple[int, float]], int]:
        with catalog.engine.connect() as conn:
            boxes = [tuple(r) for r in conn.exec_driver_sql("SELECT id, min_lat FROM resource_rtree ORDER BY id")]
            triggers = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").scalar()
        return boxes, triggers

    try:
        migrate.upgrade(catalog.engine, "ad274f8036d1")
        catalog.engine.dispose()
        with catalog.engine.begin() as conn:  # written through the triggers of the older revision
            conn.exec_driver_sql("INSERT INTO resource (token, kind, lat, lon, seq) VALUES ('old:1', 'MediaProfile', 1.0, 2.0, 1)")
        assert state() == ([(1, 1.0)], 3)
        catalog.upgrade()
        assert state() == ([(1, 1.0)], 0)
        catalog.apply([Resource(token="new:1", lat=3.0, lon=4.0)])
        assert state() == ([(1, 1.0), (2, 3.0)], 0)
        with catalog.engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "ad274f8036d1")
        assert state() == ([(1, 1.0), (2, 3.0)], 3)
        catalog.engine.dispose()
        with catalog.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM resource WHERE token = 'old:1'")
        assert state() == ([(2, 3.0)], 3)  # the restored triggers work again
    finally:
        catalog.close()


def test_a_gateway_refuses_a_catalog_migrated_past_its_code(tmp_path: Path) -> None:
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        catalog.upgrade()
        with catalog.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        with pytest.raises(CatalogError, match=r"cannot migrate the catalog: .*ffffffffffff"):
            catalog.upgrade()
    finally:
        catalog.close()


def test_sql_distance_is_the_python_distance_to_the_bit(catalog: Catalog) -> None:
    """The PostgreSQL function repeats geodesy.haversine_m operation for operation (same EARTH_RADIUS_M)."""
    rnd = random.Random(3)
    points = [(rnd.uniform(-90, 90), rnd.uniform(-180, 180), rnd.uniform(-90, 90), rnd.uniform(-180, 180))
              for _ in range(300)]
    points += [(90.0, 0.0, -90.0, 0.0), (0.0, 179.9999, 0.0, -179.9999), (52.0, 13.0, 52.0, 13.0),
               (0.0, 0.0, 0.0, 180.0), (45.0, 10.0, 45.0000001, 10.0000001)]
    # Tiny magnitudes, where a PostgreSQL float operation that underflows to 0 raises instead.
    tiny = [2.3754256833753714e-194, 1e-322, 5e-324, -1e-200, 1e-100, 1.0000000000000002e-100, 3e-162, 1e-150]
    points += [(t, 0.0, 0.0, 0.0) for t in tiny] + [(0.0, t, 0.0, 0.0) for t in tiny]
    points += [(t, -t, 1e-99, 2e-99) for t in tiny] + [(1.0, 1.0, 1.0 + 1e-15, 1.0 - 1e-15)]
    with catalog.engine.connect() as conn:
        for p in points:
            sql = conn.execute(text("SELECT gw_distance_m(:a, :b, :c, :d)"),
                               dict(zip("abcd", p, strict=True))).scalar_one()
            assert sql == haversine_m(*p), p


def test_the_first_revision_freezes_the_earth_radius_of_geo() -> None:
    (first,) = VERSIONS.glob("*_902e76286c4c_catalog.py")
    assert f"EARTH_RADIUS_M = {EARTH_RADIUS_M:_}" in first.read_text()
    (flush,) = VERSIONS.glob("*_3d5e8a1f0b27_distance_without_underflow.py")
    assert f"EARTH_RADIUS_M = {EARTH_RADIUS_M:_}" in flush.read_text() and f"TINY = {TINY!r}" in flush.read_text()


def test_a_location_query_survives_coordinates_that_underflow(catalog: Catalog) -> None:
    """One resource stored at latitude 1e-200 must not make location queries fail (PostgreSQL raised)."""
    from gateway.query.model import LocationFilter, ResourceQuery

    tiny = [Resource(token=f"T:{i}", lat=v, lon=w) for i, (v, w) in enumerate(
        [(2.3754256833753714e-194, 0.0), (1e-322, 5e-324), (0.0, -1e-200), (1e-5, 0.0)])]
    catalog.apply(tiny)
    for radius in (0.0, 1.0, 2000.0):
        query = ResourceQuery(location=LocationFilter(lat=0.0, lon=0.0, radius=radius))
        found = {r.token for _, r in catalog.snapshot_page(catalog.compile_filter(query), 0, 100)}
        expected = {r.token for r in tiny if haversine_m(r.lat, r.lon, 0.0, 0.0) <= radius}
        assert found == expected, radius
    assert {"T:0", "T:1", "T:2"} <= found and "T:3" in found


def test_concurrent_upgrades_queue_and_both_succeed(catalog_url: str) -> None:
    engines = [open_engine(catalog_url) for _ in range(3)]
    errors: list[BaseException] = []

    def run(engine: object) -> None:
        try:
            migrate.upgrade(engine)  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert migrate.current(engines[0]) == migrate.head()
        migrate.check(engines[0])
    finally:
        for e in engines:
            e.dispose()


def test_revision_files_follow_the_naming_convention_and_carry_the_compatibility_note() -> None:
    files = sorted(VERSIONS.glob("*.py"))
    assert files
    for f in files:
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_[0-9a-f]{12}_[a-z0-9_]+\.py", f.name), f.name
    template = (VERSIONS.parent / "script.py.mako").read_text()
    assert "compatible with that code" in template


def test_check_revision_says_which_way_a_catalog_is_off(catalog_url: str) -> None:
    engine = open_engine(catalog_url)
    try:
        with pytest.raises(migrate.NoCatalog) as missing:
            migrate.check_revision(engine)
        assert (missing.value.found, missing.value.wanted) == (None, migrate.head())
        older = migrate._scripts().get_revision(migrate.head()).down_revision
        assert isinstance(older, str)
        migrate.upgrade(engine, older)
        with pytest.raises(migrate.CatalogBehind) as behind:
            migrate.check_revision(engine)
        assert (behind.value.found, behind.value.wanted) == (older, migrate.head())
        migrate.upgrade(engine)
        migrate.check_revision(engine)  # at head: nothing to say
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
        with pytest.raises(migrate.CatalogAhead, match="newer than this code's"):
            migrate.check_revision(engine)
    finally:
        engine.dispose()


def test_open_with_require_current_creates_no_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'catalog.db'}"
    with pytest.raises(migrate.NoCatalog, match="no catalog at sqlite:///"):
        Catalog.open(url, require_current=True)
    assert not (tmp_path / "sub").exists()
    Catalog.open(url).close()  # without it the database may be empty: for upgrade() to create the schema
    with pytest.raises(migrate.NoCatalog):
        Catalog.open(url, require_current=True)
