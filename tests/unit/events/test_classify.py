"""What one change means for one subscription (events/cursor.classify)."""
from __future__ import annotations

import datetime as dt

from gateway.events.cursor import classify
from gateway.query.model import LocationFilter, ResourceQuery, SelectPath
from gateway.vocabulary.resource import Change, Operation, Resource

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NEAR = Resource(token="p:1", name="cam", lat=32.0, lon=118.0, scopes=("onvif://www.onvif.org/name/a",), offline=False)
FAR = Resource(token="p:1", name="cam", lat=33.0, lon=118.0, scopes=("onvif://www.onvif.org/name/a",), offline=False)
AROUND = ResourceQuery(location=LocationFilter(lat=32.0, lon=118.0, radius=100.0))


def change(old: Resource | None, new: Resource | None) -> Change:
    return Change(seq=1, token="p:1", old=old, new=new, at=AT)


def ops(query: ResourceQuery, old: Resource | None, new: Resource | None) -> list[tuple[str, str]]:
    return [(op.value, r.token) for r, op in classify(query, change(old, new))]


def test_creation_inside_is_initialized_and_outside_is_nothing() -> None:
    assert ops(AROUND, None, NEAR) == [("Initialized", "p:1")]
    assert ops(AROUND, None, FAR) == []


def test_moving_in_and_out_of_the_matching_set() -> None:
    assert ops(AROUND, FAR, NEAR) == [("Initialized", "p:1")]
    assert ops(AROUND, NEAR, FAR) == [("Deleted", "p:1")]
    assert ops(AROUND, FAR, FAR.__class__(**{**FAR.__dict__, "name": "x"})) == []


def test_deletion_inside_carries_identity_only() -> None:
    [(resource, op)] = classify(AROUND, change(NEAR, None))
    assert op is Operation.DELETED and resource == Resource(token="p:1", kind="MediaProfile")


def test_change_inside_sends_the_full_new_state() -> None:
    renamed = Resource(**{**NEAR.__dict__, "name": "renamed"})
    [(resource, op)] = classify(AROUND, change(NEAR, renamed))
    assert op is Operation.CHANGED and resource == renamed


def test_changes_only_in_projected_away_items_are_not_sent() -> None:
    names = ResourceQuery(select=(SelectPath(item="Name"),))
    offline = Resource(**{**NEAR.__dict__, "offline": True})
    assert ops(names, NEAR, offline) == []
    [(resource, op)] = classify(names, change(NEAR, Resource(**{**NEAR.__dict__, "name": "n2"})))
    assert op is Operation.CHANGED and resource.name == "n2" and resource.lat is None and resource.offline is None


def test_a_kind_change_is_a_new_property() -> None:
    source = Resource(**{**NEAR.__dict__, "kind": "VideoSource"})
    assert [(r.kind, op.value) for r, op in classify(ResourceQuery(), change(NEAR, source))] == [
        ("MediaProfile", "Deleted"), ("VideoSource", "Initialized")]
    only_profiles = ResourceQuery(kinds=frozenset({"MediaProfile"}))
    assert ops(only_profiles, NEAR, source) == [("Deleted", "p:1")]
