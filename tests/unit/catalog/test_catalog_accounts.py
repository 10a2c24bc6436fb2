"""Users and persisted pull points: validation, replacement, the pull point limit, expiry."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest

from gateway.catalog.errors import CatalogError, DuplicateUser, PullPointLimitReached
from gateway.catalog.model import PullPointState, User
from gateway.catalog.store import Catalog

UTC = dt.UTC
T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # in the future: live for the limit's count


def test_users_are_added_listed_replaced_and_deleted(catalog: Catalog) -> None:
    catalog.add_user("zoe", "User", "pw1")
    catalog.add_user("adam", "Administrator", "s3cret:ü")
    assert catalog.get_user("adam") == User(name="adam", level="Administrator", password="s3cret:ü")
    assert catalog.list_users() == [User(name="adam", level="Administrator", password="s3cret:ü"),
                                    User(name="zoe", level="User", password="pw1")]
    with pytest.raises(DuplicateUser, match="user 'zoe' exists"):
        catalog.add_user("zoe", "Operator", "pw2")
    assert catalog.get_user("zoe") == User(name="zoe", level="User", password="pw1")
    catalog.add_user("zoe", "Operator", "pw2", replace=True)
    assert catalog.get_user("zoe") == User(name="zoe", level="Operator", password="pw2")
    catalog.add_user("new", "User", "pw", replace=True)  # replace also creates
    assert catalog.delete_user("zoe") is True
    assert catalog.delete_user("zoe") is False
    assert [u.name for u in catalog.list_users()] == ["adam", "new"]
    assert catalog.get_user("nobody") is None


@pytest.mark.parametrize(("name", "level", "password", "why"), [
    ("u", "Root", "pw", "user level 'Root' is not one of Administrator, Operator, User"),
    ("", "User", "pw", "user name must be 1 to 64 characters"),
    ("x" * 65, "User", "pw", "user name must be 1 to 64 characters"),
    ("u", "User", "", "needs a non-empty password"),
])
def test_invalid_users_are_refused(catalog: Catalog, name: str, level: str, password: str, why: str) -> None:
    with pytest.raises(CatalogError, match=why):
        catalog.add_user(name, level, password)
    assert catalog.list_users() == []


def state(pp_id: str, termination: dt.datetime = T0, **changes: object) -> PullPointState:
    pp = PullPointState(id=pp_id, principal="alice", query_json='{"kinds":null}', phase="snapshot",
                        snap_after_id=0, snap_seq=7, tail_seq=7, termination=termination,
                        created=T0 - dt.timedelta(minutes=1))
    return dataclasses.replace(pp, **changes)


def test_a_pull_point_round_trips_and_saves_its_cursor(catalog: Catalog) -> None:
    catalog.create_pull_point(state("pp1"), max_count=5)
    assert catalog.load_pull_point("pp1") == state("pp1")
    moved = state("pp1", phase="tail", snap_after_id=42, snap_seq=7, tail_seq=19,
                  termination=(T0 + dt.timedelta(minutes=5)).astimezone(dt.timezone(dt.timedelta(hours=2))))
    assert catalog.save_pull_point(moved) is True
    loaded = catalog.load_pull_point("pp1")
    assert loaded == dataclasses.replace(moved, termination=T0 + dt.timedelta(minutes=5))
    assert loaded is not None and loaded.termination.tzinfo == UTC
    assert catalog.load_pull_point("nope") is None
    assert catalog.save_pull_point(state("nope")) is False


def test_the_limit_counts_live_pull_points_only(catalog: Catalog) -> None:
    past = dt.datetime.now(UTC) - dt.timedelta(seconds=1)
    catalog.create_pull_point(state("dead", termination=past), max_count=2)
    catalog.create_pull_point(state("a"), max_count=2)
    catalog.create_pull_point(state("b"), max_count=2)
    with pytest.raises(PullPointLimitReached, match="maximum of 2 pull points"):
        catalog.create_pull_point(state("c"), max_count=2)
    assert catalog.count_pull_points() == 3
    with pytest.raises(CatalogError, match="pull point 'a' exists"):
        catalog.create_pull_point(state("a"), max_count=10)


def test_concurrent_creations_cannot_overshoot_the_limit(catalog: Catalog) -> None:
    refused: list[str] = []

    def create(n: int) -> None:
        try:
            catalog.create_pull_point(state(f"pp{n}"), max_count=5)
        except PullPointLimitReached:
            refused.append(f"pp{n}")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert catalog.count_pull_points() == 5 and len(refused) == 7


def test_expired_pull_points_are_deleted(catalog: Catalog) -> None:
    for n, minutes in enumerate((-10, 0, 10)):
        catalog.create_pull_point(state(f"pp{n}", termination=T0 + dt.timedelta(minutes=minutes)), max_count=10)
    assert catalog.delete_expired_pull_points(T0) == 2  # termination at or before now
    assert catalog.load_pull_point("pp2") is not None and catalog.count_pull_points() == 1
    assert catalog.delete_pull_point("pp2") is True
    assert catalog.delete_pull_point("pp2") is False


def test_naive_times_and_unknown_phases_are_refused(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="has no time zone"):
        catalog.create_pull_point(state("pp", termination=dt.datetime(2030, 1, 1)), max_count=1)
    with pytest.raises(CatalogError, match="phase 'paused' is not one of"):
        catalog.create_pull_point(state("pp", phase="paused"), max_count=1)
    with pytest.raises(CatalogError, match="has no time zone"):
        catalog.delete_expired_pull_points(dt.datetime(2030, 1, 1))
    assert catalog.count_pull_points() == 0
