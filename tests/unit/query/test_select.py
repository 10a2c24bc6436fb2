"""SelectFilter projection (docs/wire-format.md §5.6)."""
from __future__ import annotations

from gateway.query.model import SelectPath
from gateway.query.select import project, scope_category
from gateway.vocabulary.resource import Resource

CITY = "onvif://www.onvif.org/location/city/nanjing"
NAME = "onvif://www.onvif.org/name/Gate8"
UPPER = "onvif://www.onvif.org/Location/country/china"
FULL = Resource(
    token="cam1:P1", kind="VideoSource", name="Gate 8", lat=32.06, lon=118.79, elevation=12.5,
    scopes=(CITY, NAME, UPPER, "urn:x"), offline=False,
)  # fmt: skip
BARE = Resource(token="cam1:P1", kind="VideoSource")


def test_no_select_keeps_everything() -> None:
    assert project(None, FULL) is FULL


def test_each_item() -> None:
    assert project((SelectPath(item="Name"),), FULL) == Resource(token="cam1:P1", kind="VideoSource", name="Gate 8")
    assert project((SelectPath(item="Location"),), FULL) == Resource(
        token="cam1:P1", kind="VideoSource", lat=32.06, lon=118.79, elevation=12.5
    )
    assert project((SelectPath(item="Scope"),), FULL) == Resource(
        token="cam1:P1", kind="VideoSource", scopes=FULL.scopes
    )
    assert project((SelectPath(item="Offline"),), FULL) == Resource(token="cam1:P1", kind="VideoSource", offline=False)
    assert project((SelectPath(item="Token"),), FULL) == BARE


def test_scope_category_is_case_insensitive() -> None:
    assert project((SelectPath(item="Scope", sub=("Location",)),), FULL).scopes == (CITY, UPPER)
    assert project((SelectPath(item="Scope", sub=("name",)),), FULL).scopes == (NAME,)
    assert project((SelectPath(item="Scope", sub=("hardware",)),), FULL).scopes == ()


def test_spec_example_name_and_location_scopes() -> None:
    select = (SelectPath(item="Name"), SelectPath(item="Scope", sub=("Location",)))
    assert project(select, FULL) == Resource(
        token="cam1:P1", kind="VideoSource", name="Gate 8", scopes=(CITY, UPPER)
    )


def test_whole_scope_wins_over_a_category() -> None:
    select = (SelectPath(item="Scope", sub=("name",)), SelectPath(item="Scope"))
    assert project(select, FULL).scopes == FULL.scopes


def test_projections_equal_when_only_projected_away_items_differ() -> None:
    select = (SelectPath(item="Name"),)
    moved = Resource(token="cam1:P1", kind="VideoSource", name="Gate 8", lat=0.0, lon=0.0, offline=True)
    assert project(select, FULL) == project(select, moved)
    renamed = Resource(token="cam1:P1", kind="VideoSource", name="Gate 9")
    assert project(select, FULL) != project(select, renamed)


def test_scope_category() -> None:
    assert scope_category(CITY) == "location"
    assert scope_category("onvif://www.onvif.org/%6Cocation/x") == "location"
    assert scope_category("onvif://www.onvif.org") is None
    assert scope_category("onvif://www.onvif.org/") is None
    assert scope_category("urn:x") is None
    assert scope_category("http://[::1") is None
