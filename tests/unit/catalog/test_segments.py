"""Segments in the catalog: token context, applying segment events, reconcile, health, removal, migration.

Every test runs on SQLite and, when VMSGW_TEST_POSTGRES_URL is set, on a fresh
PostgreSQL database (the catalog fixtures of tests/conftest.py).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.catalog import migrate
from gateway.catalog.csvio import import_csv
from gateway.catalog.errors import CatalogError, DuplicateSegment, UnknownSegment
from gateway.catalog.model import Segment
from gateway.catalog.store import Catalog
from gateway.vocabulary.resource import Operation, Resource, SegmentUpdate

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
FIRST_REVISION = "902e76286c4c"


@pytest.fixture
def catalog(catalog: Catalog) -> Catalog:
    """The shared fresh catalog (tests/conftest.py) with segments a and b."""
    for name in ("a", "b"):
        catalog.add_segment(Segment(name=name, url=f"http://{name}/onvif/device_service", user="u", password="p"))
    return catalog


def init(token: str, **items: object) -> SegmentUpdate:
    return SegmentUpdate(operation=Operation.INITIALIZED, kind="MediaProfile", token=token, **items)  # type: ignore[arg-type]


def changed(token: str, **items: object) -> SegmentUpdate:
    return SegmentUpdate(operation=Operation.CHANGED, kind="MediaProfile", token=token, **items)  # type: ignore[arg-type]


def deleted(token: str) -> SegmentUpdate:
    return SegmentUpdate(operation=Operation.DELETED, kind="MediaProfile", token=token)


def sync(c: Catalog, name: str, *updates: SegmentUpdate) -> int:
    """A new subscription that announces ``updates``; the generation."""
    generation = c.segment_begin_sync(name)
    c.segment_apply(name, generation, list(updates))
    return generation


def tokens(c: Catalog) -> set[str]:
    return {r.token for r in c.iter_resources()}


def test_a_unique_prefix_is_kept_and_a_second_segment_presenting_it_is_remapped(catalog: Catalog) -> None:
    sync(catalog, "a", init("dup:P1", name="in a"), init("32010001071320000001:P1"))
    sync(catalog, "b", init("dup:P1", name="in b"))
    assert tokens(catalog) == {"dup:P1", "dup~2:P1", "32010001071320000001:P1"}
    assert catalog.get("dup:P1").name == "in a"  # type: ignore[union-attr]
    assert catalog.get("dup~2:P1").name == "in b"  # type: ignore[union-attr]
    status = {s["name"]: s for s in catalog.segment_status(NOW)}
    assert status["b"]["remapped_prefixes"] == [{"remote_prefix": "dup", "local_prefix": "dup~2"}]
    assert status["a"]["remapped_prefixes"] == []
    assert status["a"]["collisions"] == [{"remote_prefix": "dup", "segments": ["b"]}]
    assert status["b"]["collisions"] == [{"remote_prefix": "dup", "segments": ["a"]}]
    assert (status["a"]["resources"], status["b"]["resources"]) == (2, 1)


def test_the_mapping_survives_removing_and_re_adding_a_segment(catalog: Catalog) -> None:
    sync(catalog, "a", init("dup:P1"))
    sync(catalog, "b", init("dup:P1"), init("plain"))
    before = tokens(catalog)
    assert catalog.remove_segment("b") == 2
    assert catalog.remove_segment("a") == 1
    assert tokens(catalog) == set()
    for name in ("b", "a"):  # re-created in the other order: still the same tokens
        catalog.add_segment(Segment(name=name, url="http://x/", user="u", password="p"))
    sync(catalog, "b", init("dup:P1"), init("plain"))
    sync(catalog, "a", init("dup:P1"))
    assert tokens(catalog) == before == {"dup:P1", "dup~2:P1", "b:plain"}


def test_a_prefix_of_local_resources_is_not_claimed(catalog: Catalog) -> None:
    catalog.apply([Resource(token="cam:local")])
    sync(catalog, "a", init("cam:remote"))
    assert tokens(catalog) == {"cam:local", "cam~2:remote"}


def test_invalid_local_parts_are_digested_stably(catalog: Catalog) -> None:
    long_local, with_colon = "P:" + "x" * 40, "P:a:b"
    sync(catalog, "a", init(long_local), init(with_colon), init("no-prefix"))
    got = tokens(catalog)
    assert "a:no-prefix" in got
    digested = sorted(t for t in got if t.startswith("P:"))
    assert len(digested) == 2 and all(len(t.split(":", 1)[1]) <= 36 and t.count(":") == 1 for t in digested)
    sync(catalog, "a", init(long_local), init(with_colon), init("no-prefix"))
    assert tokens(catalog) == got


def test_initialized_replaces_changed_merges_deleted_deletes(catalog: Catalog) -> None:
    generation = sync(catalog, "a", init("P:1", name="one", location=(1.0, 2.0, 3.0), scopes=("s:a",), offline=False))
    catalog.segment_set_reachable("a", True, error=None, now=NOW)
    r = catalog.segment_apply("a", generation, [changed("P:1", offline=True)])
    assert (r.changed, r.created) == (1, 0)
    assert catalog.get("P:1") == Resource(token="P:1", name="one", lat=1.0, lon=2.0, elevation=3.0,
                                          scopes=("s:a",), offline=True)
    catalog.segment_apply("a", generation, [init("P:1", name="renamed")])
    assert catalog.get("P:1") == Resource(token="P:1", name="renamed")
    r = catalog.segment_apply("a", generation, [changed("P:2", name="new by Changed")])
    assert r.created == 1 and catalog.get("P:2") == Resource(token="P:2", name="new by Changed")
    seq = catalog.head_seq()
    r = catalog.segment_apply("a", generation, [deleted("P:1"), deleted("P:1"), deleted("P:never")])
    assert (r.deleted, r.unchanged) == (1, 2)
    assert catalog.get("P:1") is None
    [row] = catalog.changes_after(seq, 10)
    assert row.token == "P:1" and row.new is None and row.old == Resource(token="P:1", name="renamed")


def test_reapplying_the_same_update_writes_no_change_row(catalog: Catalog) -> None:
    update = init("P:1", name="one", location=(1.0, 2.0, None), offline=False)
    generation = sync(catalog, "a", update)
    seq = catalog.head_seq()
    r = catalog.segment_apply("a", generation, [update, changed("P:1", name="one")])
    assert (r.created, r.changed, r.unchanged) == (0, 0, 2)
    assert catalog.head_seq() == seq


def test_reconcile_deletes_exactly_the_resources_not_re_announced(catalog: Catalog) -> None:
    sync(catalog, "a", init("P:1"), init("P:2"), init("P:3"))
    sync(catalog, "b", init("Q:1"))
    generation = sync(catalog, "a", init("P:1"), init("P:3"))
    seq = catalog.head_seq()
    assert catalog.segment_reconcile("a", generation) == 1
    assert tokens(catalog) == {"P:1", "P:3", "Q:1"}
    assert [(c.token, c.new) for c in catalog.changes_after(seq, 10)] == [("P:2", None)]
    assert catalog.segment_reconcile("a", generation) == 0


def test_a_superseded_generation_or_a_removed_segment_writes_nothing(catalog: Catalog) -> None:
    old = sync(catalog, "a", init("P:1"))
    catalog.segment_begin_sync("a")
    with pytest.raises(CatalogError, match="superseded"):
        catalog.segment_apply("a", old, [init("P:2")])
    with pytest.raises(CatalogError, match="superseded"):
        catalog.segment_reconcile("a", old)
    catalog.remove_segment("a")
    with pytest.raises(UnknownSegment):
        catalog.segment_apply("a", old + 1, [init("P:2")])
    with pytest.raises(UnknownSegment):
        catalog.segment_set_reachable("a", True, error=None, now=NOW)
    assert tokens(catalog) == set()


def test_down_publishes_offline_and_up_restores_what_the_segment_reports(catalog: Catalog) -> None:
    generation = sync(catalog, "a", init("P:1", offline=False), init("P:2", offline=True), init("P:3"))
    sync(catalog, "b", init("Q:1", offline=False))
    assert catalog.segment_set_reachable("a", True, error=None, now=NOW) == 0  # syncing -> up: nothing to republish
    seq = catalog.head_seq()
    assert catalog.segment_set_reachable("a", False, error="no answer", now=NOW) == 2
    assert {c.token: c.new.offline for c in catalog.changes_after(seq, 10)} == {"P:1": True, "P:3": True}  # type: ignore[union-attr]
    assert {r.token: r.offline for r in catalog.iter_resources()} == {"P:1": True, "P:2": True, "P:3": True, "Q:1": False}
    assert catalog.get_segment("a").state == "down"  # type: ignore[union-attr]
    assert catalog.segment_status(NOW)[0]["last_error"] == "no answer"

    # Reported while down: stored, but the published value stays True; combined again once up.
    r = catalog.segment_apply("a", generation, [changed("P:2", offline=False)])
    assert (r.changed, r.unchanged) == (0, 1)
    assert catalog.segment_begin_sync("a") == generation + 1
    assert catalog.get_segment("a").state == "down"  # type: ignore[union-attr]  # stays down until a pull succeeds
    assert catalog.segment_set_reachable("a", True, error=None, now=NOW + dt.timedelta(seconds=5)) == 3
    assert {r.token: r.offline for r in catalog.iter_resources()} == {"P:1": False, "P:2": False, "P:3": None,
                                                                       "Q:1": False}
    seq = catalog.head_seq()
    assert catalog.segment_set_reachable("a", True, error=None, now=NOW + dt.timedelta(seconds=9)) == 0
    assert catalog.head_seq() == seq
    [a, _] = catalog.segment_status(NOW + dt.timedelta(seconds=10))
    assert (a["state"], a["lag_seconds"], a["last_error"]) == ("up", 1.0, None)
    assert a["last_seen"] == NOW + dt.timedelta(seconds=9)


def test_remove_segment_emits_deleted_rows_and_keeps_local_resources(catalog: Catalog) -> None:
    catalog.apply([Resource(token="L:1")])
    sync(catalog, "a", init("P:1"), init("P:2"))
    seq = catalog.head_seq()
    assert catalog.remove_segment("a") == 2
    assert sorted((c.token, c.new) for c in catalog.changes_after(seq, 10)) == [("P:1", None), ("P:2", None)]
    assert tokens(catalog) == {"L:1"} and catalog.get_segment("a") is None
    with pytest.raises(UnknownSegment):
        catalog.remove_segment("a")


def test_unusable_updates_are_skipped_and_counted(catalog: Catalog) -> None:
    generation = sync(catalog, "a", init("P:1"))
    catalog.apply([Resource(token="P:held", name="local")])  # written past the claim (not by catalog import)
    r = catalog.segment_apply("a", generation, [
        init("bad token"), init("P:2", location=(91.0, 0.0, None)), init("P:held"), init("P:3"),
    ])
    assert (r.created, r.refused) == (1, 3)
    assert catalog.get("P:held") == Resource(token="P:held", name="local")
    a = catalog.get_segment("a")
    assert a is not None and a.rejected == 3 and "bad token" in (a.last_error or "")
    catalog.segment_rejected("a", 3, "unreadable item")
    a = catalog.get_segment("a")
    assert a is not None and (a.rejected, a.last_error) == (6, "unreadable item")


def test_segment_configuration(catalog: Catalog) -> None:
    with pytest.raises(DuplicateSegment):
        catalog.add_segment(Segment(name="a", url="http://other/", user="u", password="p"))
    for bad in (Segment(name="bad name", url="http://x/", user="u", password="p"),
                Segment(name="c", url="http://x/", user="u", password="p", heartbeat=0),
                Segment(name="c", url="http://x/", user="u", password="")):
        with pytest.raises(CatalogError):
            catalog.add_segment(bad)
    sync(catalog, "a", init("P:1"))
    catalog.segment_set_reachable("a", False, error="gone", now=NOW)
    catalog.add_segment(Segment(name="a", url="https://new/", user="v", password="q", verify_tls=False,
                                heartbeat=3.0), replace=True)
    a = catalog.get_segment("a")
    assert a is not None
    assert (a.url, a.user, a.password, a.verify_tls, a.heartbeat) == ("https://new/", "v", "q", False, 3.0)
    assert (a.state, a.generation, a.last_error) == ("down", 1, "gone")  # the sync state is kept
    assert [s.name for s in catalog.list_segments()] == ["a", "b"]


def test_the_migration_chain_upgrades_an_existing_catalog_without_drift(catalog_url: str) -> None:
    c = Catalog.open(catalog_url)
    try:
        migrate.upgrade(c.engine, FIRST_REVISION)
        c.engine.dispose()  # the first revision has no federation columns: no cached statement may assume them
        with c.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO resource (token, kind, lat, lon, seq) VALUES ('old:1', 'MediaProfile', 1.0, 2.0, 0)")
        c.upgrade()
        migrate.check(c.engine)
        assert migrate.current(c.engine) == migrate.head()
        assert c.get("old:1") == Resource(token="old:1", lat=1.0, lon=2.0)
        if c.dialect == "sqlite":  # resource was altered in place: the old resource is still in the R*Tree
            with c.engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT id FROM resource_rtree").scalars().all() == [1]
        c.add_segment(Segment(name="a", url="http://a/", user="u", password="p"))
        sync(c, "a", init("P:1", location=(1.0, 2.0, None)))
        assert tokens(c) == {"old:1", "P:1"}
    finally:
        c.close()


def test_a_deleted_for_an_unknown_device_claims_no_prefix(catalog: Catalog) -> None:
    generation = sync(catalog, "a", init("P:1"))
    r = catalog.segment_apply("a", generation, [deleted("ghost:1")])
    assert (r.deleted, r.unchanged) == (0, 1)
    sync(catalog, "b", init("ghost:1"))
    assert "ghost:1" in tokens(catalog)  # b keeps the prefix: a never claimed it


def test_a_refused_repeat_does_not_undo_the_announcement_before_it(catalog: Catalog) -> None:
    sync(catalog, "a", init("P:1", name="one"))
    generation = sync(catalog, "a", init("P:1", name="one"), init("P:1", location=(91.0, 0.0, None)))
    assert catalog.segment_reconcile("a", generation) == 0
    assert catalog.get("P:1") == Resource(token="P:1", name="one")


def test_a_local_import_never_touches_segment_resources(catalog: Catalog) -> None:
    catalog.import_resources([Resource(token="L:1"), Resource(token="L:2")], replace=True)
    sync(catalog, "a", init("P:1"), init("L:9"))  # L is local: the segment's L is remapped
    result = catalog.import_resources([Resource(token="L:1", name="renamed")], replace=True)
    assert (result.changed, result.deleted) == (1, 1)
    assert tokens(catalog) == {"L:1", "P:1", "L~2:9"}
    with pytest.raises(CatalogError, match="segment 'a'"):
        catalog.import_resources([Resource(token="L:1"), Resource(token="P:2")], replace=True)
    assert tokens(catalog) == {"L:1", "P:1", "L~2:9"}


def test_a_csv_row_with_a_segment_prefix_is_refused_with_its_line(catalog: Catalog, tmp_path: Path) -> None:
    sync(catalog, "a", init("P:1"))
    path = tmp_path / "local.csv"
    path.write_text("token,name\nL:1,local\nP:2,stolen\nL:2,local too\n", encoding="utf-8")
    report = import_csv(catalog, path, skip_invalid=False)
    assert report.errors == [(3, "token 'P:2' belongs to segment 'a' (its prefix)")] and report.created == 0
    report = import_csv(catalog, path, skip_invalid=True)
    assert (report.created, report.skipped, report.deleted) == (2, 1, 0)
    assert tokens(catalog) == {"L:1", "L:2", "P:1"}


def test_a_sync_task_of_a_removed_segment_cannot_revive_its_successor(catalog: Catalog) -> None:
    sync(catalog, "a", init("P:1"))
    catalog.remove_segment("a")
    catalog.add_segment(Segment(name="a", url="http://a/onvif/device_service", user="u", password="p"))
    with pytest.raises(CatalogError, match="no subscription"):
        catalog.segment_set_reachable("a", True, error=None, now=NOW)
    assert catalog.segment_set_reachable("a", False, error="refused", now=NOW) == 0  # before any subscription
