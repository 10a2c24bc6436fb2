"""The change feed: what apply writes, in what order, what readers see, and what pruning keeps."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from gateway.catalog.db import write_transaction
from gateway.catalog.errors import CatalogError
from gateway.catalog.feed import FEED_LOCK, ApplyResult, FeedWriter, Write
from gateway.catalog.model import PullPointState
from gateway.catalog.schema import resource
from gateway.catalog.store import Catalog
from gateway.catalog.where import CompiledFilter
from gateway.vocabulary.resource import Resource

CAM = Resource(token="P1:cam", kind="VideoSource", name="Gate", lat=52.520008, lon=13.404954, elevation=34.5,
               scopes=("onvif://www.onvif.org/location/city/berlin", "onvif://www.onvif.org/name/gate"),
               offline=False)
FAR = 2 ** 40  # a seq past any in these tests


def stored_seq(catalog: Catalog, token: str) -> int:
    with catalog.engine.connect() as conn:
        return int(conn.execute(select(resource.c.seq).where(resource.c.token == token)).scalar_one())


def test_rows_written_through_the_driver_read_back_exactly(catalog: Catalog) -> None:
    """FeedWriter hands tuples to executemany itself (rows.py): times, floats and flags must survive as typed."""
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    odd = Resource(token="P1:odd", lat=-0.1 + 0.2, lon=1e-300, elevation=-8848.86, offline=True, scopes=("x:/é",))
    with write_transaction(catalog.engine, FEED_LOCK) as conn:
        FeedWriter(conn, at).write([Write(None, CAM), Write(None, odd)])
    changes = catalog.changes_after(0, 10)
    assert [c.at for c in changes] == [at.astimezone(dt.UTC)] * 2
    assert [c.new for c in changes] == [CAM, odd]
    assert (catalog.get("P1:cam"), catalog.get("P1:odd")) == (CAM, odd)


def test_creation_is_a_change_without_an_old_image(catalog: Catalog) -> None:
    assert catalog.apply([CAM]) == ApplyResult(created=1)
    (change,) = catalog.changes_after(0, 10)
    assert (change.seq, change.token, change.old, change.new) == (1, "P1:cam", None, CAM)
    assert change.at.tzinfo == dt.UTC and abs(dt.datetime.now(dt.UTC) - change.at).seconds < 60
    assert catalog.get("P1:cam") == CAM
    assert stored_seq(catalog, "P1:cam") == 1 == catalog.head_seq()


def test_an_identical_row_writes_nothing(catalog: Catalog) -> None:
    catalog.apply([CAM])
    assert catalog.apply([CAM, CAM]) == ApplyResult(unchanged=2)
    assert catalog.head_seq() == 1 and len(catalog.changes_after(0, 10)) == 1


@pytest.mark.parametrize("new", [
    Resource(token="P1:cam", kind="VideoSource", name="Gate", lat=52.520008, lon=13.404954, elevation=34.5,
             scopes=("onvif://www.onvif.org/name/gate", "onvif://www.onvif.org/location/city/berlin"),
             offline=False),  # the same scopes in another order
    Resource(token="P1:cam", kind="VideoSource", name="Gate", lat=52.520008, lon=13.404954, elevation=34.5,
             scopes=CAM.scopes, offline=None),
    Resource(token="P1:cam", kind="MediaProfile", name="Gate", lat=52.520008, lon=13.404954, elevation=34.5,
             scopes=CAM.scopes, offline=False),
    Resource(token="P1:cam", kind="VideoSource", name="Gate", lat=52.520008, lon=13.404955, elevation=34.5,
             scopes=CAM.scopes, offline=False),
    Resource(token="P1:cam"),
])
def test_an_update_records_both_images_and_sets_the_resource_seq(catalog: Catalog, new: Resource) -> None:
    catalog.apply([CAM, Resource(token="P1:other")])
    assert catalog.apply([new]) == ApplyResult(changed=1)
    (change,) = catalog.changes_after(2, 10)
    assert (change.seq, change.old, change.new) == (3, CAM, new)
    assert catalog.get("P1:cam") == new
    assert stored_seq(catalog, "P1:cam") == 3 and stored_seq(catalog, "P1:other") == 2


def test_a_delete_records_the_old_image_and_a_missing_token_is_ignored(catalog: Catalog) -> None:
    catalog.apply([CAM])
    assert catalog.apply(deletes=["P1:cam", "P1:cam", "P9:none"]) == ApplyResult(deleted=1)
    (change,) = catalog.changes_after(1, 10)
    assert (change.seq, change.token, change.old, change.new) == (2, "P1:cam", CAM, None)
    assert catalog.get("P1:cam") is None
    with catalog.engine.connect() as conn:  # the scopes went with it (ON DELETE CASCADE)
        assert conn.exec_driver_sql("SELECT count(*) FROM resource_scope").scalar_one() == 0


def test_one_call_upserts_in_order_then_deletes(catalog: Catalog) -> None:
    renamed = Resource(token="P1:cam", name="renamed")
    result = catalog.apply([CAM, renamed, Resource(token="P2:x")], deletes=["P2:x"])
    assert result == ApplyResult(created=2, changed=1, deleted=1)
    feed = catalog.changes_after(0, 10)
    assert [(c.seq, c.token, c.old, c.new) for c in feed] == [
        (1, "P1:cam", None, CAM), (2, "P1:cam", CAM, renamed),
        (3, "P2:x", None, Resource(token="P2:x")), (4, "P2:x", Resource(token="P2:x"), None),
    ]


def test_invalid_resources_are_refused_before_anything_is_written(catalog: Catalog) -> None:
    for bad, why in [
        (Resource(token="P1:a", lat=1.0), "lat and lon must both be given"),
        (Resource(token="P1:a", lat=91.0, lon=0.0), "outside WGS84"),
        (Resource(token="P1:a", lat=float("nan"), lon=0.0), "outside WGS84"),
        (Resource(token="P1:a", elevation=float("inf")), "elevation inf is not a finite number"),
        (Resource(token="P1:a", kind="Toaster"), "unknown kind 'Toaster'"),
        (Resource(token="x" * 65), "must be 1 to 64 characters"),
    ]:
        with pytest.raises(CatalogError, match=why):
            catalog.apply([CAM, bad])
    assert catalog.head_seq() == 0 and catalog.get("P1:cam") is None


def test_changes_after_pages_in_feed_order(catalog: Catalog) -> None:
    catalog.apply([Resource(token=f"P:{i}") for i in range(7)])
    assert [c.seq for c in catalog.changes_after(2, 3)] == [3, 4, 5]
    assert [c.seq for c in catalog.changes_after(5, 100)] == [6, 7]
    assert catalog.changes_after(7, 100) == []


def test_concurrent_writers_never_let_a_cursor_skip_a_change(catalog: Catalog) -> None:
    """Seq order is commit order: a reader advancing its cursor sees every change exactly once."""
    writers, rounds = 4, 25
    done = threading.Event()
    seen: list[int] = []

    def read() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            for change in catalog.changes_after(cursor, 1000):
                seen.append(change.seq)
                cursor = change.seq
            if finished:
                return

    def write(n: int) -> None:
        for i in range(rounds):
            catalog.apply([Resource(token=f"W{n}:{i}"), Resource(token=f"W{n}:x", name=str(i))])

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert seen == list(range(1, writers * rounds * 2 + 1))


def pull_point(pp_id: str, phase: str, snap_seq: int, tail_seq: int) -> PullPointState:
    return PullPointState(id=pp_id, principal="u", query_json="{}", phase=phase, snap_after_id=0,
                          snap_seq=snap_seq, tail_seq=tail_seq,
                          termination=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


def test_prune_keeps_what_pull_points_need_and_always_the_newest_row(catalog: Catalog) -> None:
    catalog.apply([Resource(token=f"P:{i}") for i in range(10)])
    catalog.create_pull_point(pull_point("tailing", "tail", snap_seq=1, tail_seq=6), max_count=10)
    catalog.create_pull_point(pull_point("snapshotting", "snapshot", snap_seq=4, tail_seq=FAR), max_count=10)
    assert catalog.prune_feed() == 4  # 1..4: the snapshot will tail from 4
    assert [c.seq for c in catalog.changes_after(0, 100)] == [5, 6, 7, 8, 9, 10]
    assert catalog.delete_pull_point("snapshotting")
    assert catalog.prune_feed() == 2  # 5, 6: the tail is at 6
    assert catalog.delete_pull_point("tailing")
    assert catalog.prune_feed() == 3  # 7..9: no pull point, but the newest row stays
    assert [c.seq for c in catalog.changes_after(0, 100)] == [10]
    assert catalog.head_seq() == 10
    catalog.apply([Resource(token="P:new")])
    assert [c.seq for c in catalog.changes_after(0, 100)] == [10, 11]  # seq never goes back


def test_prune_of_an_empty_feed_deletes_nothing(catalog: Catalog) -> None:
    assert catalog.prune_feed() == 0
    assert catalog.head_seq() == 0


def test_snapshot_pages_by_id_with_scopes_in_order(catalog: Catalog) -> None:
    catalog.apply([CAM, Resource(token="P2:a", scopes=("s://z", "s://a")), Resource(token="P3:b")])
    everything = CompiledFilter(resource.c.id > 0)
    assert catalog.snapshot_page(everything, 0, 2) == [(1, CAM), (2, Resource(token="P2:a", scopes=("s://z", "s://a")))]
    assert catalog.snapshot_page(everything, 2, 2) == [(3, Resource(token="P3:b"))]
    assert catalog.snapshot_page(CompiledFilter(resource.c.token == "P2:a"), 0, 10) == [
        (2, Resource(token="P2:a", scopes=("s://z", "s://a")))]
    catalog.apply(deletes=["P3:b"])
    catalog.apply([Resource(token="P3:b")])
    assert catalog.snapshot_page(everything, 2, 10) == [(4, Resource(token="P3:b"))]  # ids are never reused


@pytest.mark.parametrize("picked", [range(1, 41), range(1, 41, 2), range(3, 41, 3), [1, 40], [17]],
                         ids=["all", "every 2nd", "every 3rd", "ends", "one"])
def test_pages_get_their_own_scopes_whether_dense_or_scattered(catalog: Catalog, picked: range | list[int]) -> None:
    # Ids close together are read as a range of scope rows, others by IN: neither may leak a neighbour's.
    made = [Resource(token=f"P:{i:02d}", scopes=tuple(f"s://{i}/{n}" for n in range(i % 4))) for i in range(1, 41)]
    catalog.apply(made)
    wanted = [made[i - 1] for i in picked]
    page = catalog.snapshot_page(CompiledFilter(resource.c.id.in_(list(picked))), 0, 100)
    assert page == [(i, r) for i, r in zip(picked, wanted, strict=True)]


def test_iter_resources_is_by_token_across_batches(catalog: Catalog) -> None:
    tokens = [f"P{i % 3}:{i:03d}" for i in range(25)]
    catalog.apply([Resource(token=t) for t in tokens])
    assert [r.token for r in catalog.iter_resources(batch=4)] == sorted(tokens)


def test_stats_count_everything(catalog: Catalog) -> None:
    catalog.apply([CAM, Resource(token="P2:a", offline=True), Resource(token="P2:b", kind="Recording")])
    catalog.add_user("admin", "Administrator", "pw")
    catalog.create_pull_point(pull_point("pp", "tail", 0, 0), max_count=1)
    assert catalog.stats() == {
        "resources": 3, "by_kind": {"MediaProfile": 1, "Recording": 1, "VideoSource": 1},
        "with_location": 1, "offline": 1, "scopes": 2, "head_seq": 3, "feed_rows": 3,
        "pull_points": 1, "users": 1,
    }
