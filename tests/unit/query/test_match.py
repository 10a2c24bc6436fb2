"""The Python predicate of a ResourceQuery: each filter part alone, then together (docs/wire-format.md §5.1)."""
from __future__ import annotations

import pytest

from gateway.query.match import element_items, matches, simple_items
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm
from gateway.vocabulary.geodesy import haversine_m
from gateway.vocabulary.resource import Resource

NANJING = (32.0603, 118.7969)  # lat, lon
CITY = "onvif://www.onvif.org/location/city/nanjing"
CAM = Resource(
    token="32010001071321008015:Profile_1", kind="MediaProfile", name="Gate 8",
    lat=NANJING[0], lon=NANJING[1], elevation=12.5, scopes=(CITY, "onvif://www.onvif.org/hardware/D1-566"),
    offline=False,
)  # fmt: skip
NOWHERE = Resource(token="cam2:VS_1", kind="VideoSource")


def test_empty_query_matches_everything() -> None:
    assert matches(ResourceQuery(), CAM) and matches(ResourceQuery(), NOWHERE)


def test_kinds() -> None:
    assert matches(ResourceQuery(kinds=frozenset({"MediaProfile", "Recording"})), CAM)
    assert not matches(ResourceQuery(kinds=frozenset({"VideoSource"})), CAM)
    assert not matches(ResourceQuery(kinds=frozenset()), CAM)


@pytest.mark.parametrize(
    ("prefixes", "expected"),
    [
        (("32010001071321008015",), True),
        (("cam9", "32010001071321008015"), True),
        (("3201000107132100801",), False),  # a string prefix of the device prefix is not the device
        (("32010001071321008015:Profile",), False),
        (("cam9",), False),
    ],
)
def test_prefixes(prefixes: tuple[str, ...], expected: bool) -> None:
    assert matches(ResourceQuery(prefixes=prefixes), CAM) is expected


def test_location_radius_is_inclusive_great_circle_metres() -> None:
    # A point 0.001 degrees of latitude north: ~111.2 m away.
    north = Resource(token="c:1", lat=NANJING[0] + 0.001, lon=NANJING[1])
    distance = haversine_m(NANJING[0], NANJING[1], north.lat, north.lon)  # type: ignore[arg-type]
    assert 111.1 < distance < 111.3
    at = LocationFilter(lon=NANJING[1], lat=NANJING[0], radius=distance)
    assert matches(ResourceQuery(location=at), north)
    short = LocationFilter(lon=NANJING[1], lat=NANJING[0], radius=distance - 1e-6)
    assert not matches(ResourceQuery(location=short), north)
    assert matches(ResourceQuery(location=LocationFilter(lon=NANJING[1], lat=NANJING[0], radius=0.0)), CAM)


def test_location_across_the_antimeridian() -> None:
    east = Resource(token="c:1", lat=0.0, lon=179.9995)
    west = LocationFilter(lon=-179.9995, lat=0.0, radius=112.0)  # 0.001 degrees at the equator: ~111.2 m
    assert matches(ResourceQuery(location=west), east)


def test_height_is_ignored() -> None:
    high = LocationFilter(lon=NANJING[1], lat=NANJING[0], radius=1.0, height=10_000.0)
    assert matches(ResourceQuery(location=high), CAM)


def test_unknown_location_matches_only_with_include_unknown() -> None:
    here = LocationFilter(lon=NANJING[1], lat=NANJING[0], radius=100.0)
    assert not matches(ResourceQuery(location=here), NOWHERE)
    half = Resource(token="c:1", lat=32.0)  # lat without lon is no location
    assert not matches(ResourceQuery(location=here), half)
    with_unknown = LocationFilter(lon=NANJING[1], lat=NANJING[0], radius=100.0, include_unknown=True)
    assert matches(ResourceQuery(location=with_unknown), NOWHERE)
    assert matches(ResourceQuery(location=with_unknown), half)
    far = Resource(token="c:1", lat=0.0, lon=0.0)
    assert not matches(ResourceQuery(location=with_unknown), far)


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ((ScopeTerm(uri="onvif://www.onvif.org"),), True),
        ((ScopeTerm(uri="ONVIF://WWW.ONVIF.ORG/location/city"),), True),
        ((ScopeTerm(uri="onvif://www.onvif.org/location/City"),), False),  # path is case-sensitive
        ((ScopeTerm(uri="onvif://www.onvif.org/hardware/D1"),), False),  # whole segments (Core's example)
        ((ScopeTerm(uri="onvif://www.onvif.org/hardware/D1-566"),), True),
        ((ScopeTerm(uri=CITY), ScopeTerm(uri="onvif://www.onvif.org/hardware")), True),  # AND, different scopes
        ((ScopeTerm(uri=CITY), ScopeTerm(uri="onvif://www.onvif.org/name")), False),
        ((ScopeTerm(uri=CITY, rule=STRCMP0),), True),
        ((ScopeTerm(uri="onvif://www.onvif.org/location", rule=STRCMP0),), False),
        ((ScopeTerm(uri=CITY.upper(), rule=STRCMP0),), False),
    ],
)
def test_scopes(terms: tuple[ScopeTerm, ...], expected: bool) -> None:
    assert matches(ResourceQuery(scopes=terms), CAM) is expected


def test_resource_without_scopes_matches_no_scope_term() -> None:
    assert not matches(ResourceQuery(scopes=(ScopeTerm(uri="onvif://www.onvif.org", rule=RFC3986),)), NOWHERE)


def test_message_items() -> None:
    assert simple_items(CAM) == [
        ("Token", "32010001071321008015:Profile_1"),
        ("Name", "Gate 8"),
        ("Scope", CITY),
        ("Scope", "onvif://www.onvif.org/hardware/D1-566"),
        ("Offline", "false"),
    ]
    assert element_items(CAM) == ["Location"]
    assert simple_items(NOWHERE) == [("Token", "cam2:VS_1")]
    assert element_items(NOWHERE) == []
    assert simple_items(Resource(token="a:b", offline=True)) == [("Token", "a:b"), ("Offline", "true")]


@pytest.mark.parametrize(
    ("expression", "cam", "nowhere"),
    [
        ('boolean(//tt:SimpleItem[@Name="Offline" and @Value="false"])', True, False),
        ('boolean(//tt:ElementItem[@Name="Location"])', True, False),
        ('not(boolean(//tt:ElementItem[@Name="Location"]))', False, True),
        ('boolean(//tt:SimpleItem[@Name="Token" and @Value="cam2:VS_1"])', False, True),
        (f'boolean(//tt:SimpleItem[@Name="Scope" and @Value="{CITY}"])', True, False),
    ],
)
def test_item_filter(expression: str, cam: bool, nowhere: bool) -> None:
    query = ResourceQuery(item_filter=expression)
    assert (matches(query, CAM), matches(query, NOWHERE)) == (cam, nowhere)


def test_all_parts_must_hold() -> None:
    query = ResourceQuery(
        kinds=frozenset({"MediaProfile"}),
        prefixes=("32010001071321008015",),
        location=LocationFilter(lon=NANJING[1], lat=NANJING[0], radius=100.0),
        scopes=(ScopeTerm(uri=CITY),),
        item_filter='boolean(//tt:SimpleItem[@Name="Name" and @Value="Gate 8"])',
    )
    assert matches(query, CAM)
    for broken in (
        {"kinds": frozenset({"Recording"})},
        {"prefixes": ("x",)},
        {"location": LocationFilter(lon=0.0, lat=0.0, radius=100.0)},
        {"scopes": (ScopeTerm(uri="onvif://www.onvif.org/name"),)},
        {"item_filter": 'boolean(//tt:SimpleItem[@Name="Name" and @Value="Gate 9"])'},
    ):
        assert not matches(ResourceQuery(**{**query.__dict__, **broken}), CAM), broken
