"""Radius queries: the index boxes never lose a match, and matching is great-circle distance
(docs/wire-format.md §5.3)."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.query.match import matches
from gateway.query.model import LocationFilter, ResourceQuery
from gateway.vocabulary.geodesy import EARTH_RADIUS_M, bounding_boxes, haversine_m
from gateway.vocabulary.resource import Resource

# Centres anywhere, with extra weight near the poles and the antimeridian.
LATS = st.one_of(st.floats(-90, 90), st.floats(80, 90), st.floats(-90, -80), st.sampled_from([-90.0, 0.0, 90.0]))
LONS = st.one_of(st.floats(-180, 180), st.floats(170, 180), st.floats(-180, -170), st.sampled_from([-180.0, 180.0]))
RADII = st.one_of(st.floats(0, 1_000), st.floats(0, 500_000), st.floats(0, 2.1e7))


def destination(lat: float, lon: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lat, lon) along ``bearing_deg`` on the sphere, lon in [-180, 180]."""
    phi, lam, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = distance_m / EARTH_RADIUS_M
    sin_phi2 = math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta)
    phi2 = math.asin(max(-1.0, min(1.0, sin_phi2)))
    lam2 = lam + math.atan2(math.sin(theta) * math.sin(delta) * math.cos(phi), math.cos(delta) - math.sin(phi) * sin_phi2)
    lon2 = (math.degrees(lam2) + 180.0) % 360.0 - 180.0
    return math.degrees(phi2), lon2


@settings(max_examples=400, deadline=None)
@given(LATS, LONS, RADII, st.floats(0, 1), st.floats(0, 360, exclude_max=True))
def test_boxes_contain_every_point_within_the_radius(
    lat: float, lon: float, radius: float, fraction: float, bearing: float
) -> None:
    plat, plon = destination(lat, lon, bearing, radius * fraction)
    if haversine_m(lat, lon, plat, plon) > radius:
        return  # rounding put the generated point just outside the circle
    boxes = bounding_boxes(lat, lon, radius)
    assert any(b[0] <= plat <= b[1] and b[2] <= plon <= b[3] for b in boxes), (boxes, plat, plon)
    for min_lat, max_lat, min_lon, max_lon in boxes:
        assert -90.0 <= min_lat <= max_lat <= 90.0 and -180.0 <= min_lon <= max_lon <= 180.0


def chord_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the chord between unit vectors: an independent formula."""

    def unit(lat: float, lon: float) -> tuple[float, float, float]:
        p, lam = math.radians(lat), math.radians(lon)
        return math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)

    chord = math.dist(unit(lat1, lon1), unit(lat2, lon2))
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, chord / 2))


#: Distances closer to the radius than this are left out: the two formulas differ by
#: rounding there (up to ~0.1 m near antipodes), and the property is about semantics.
BOUNDARY_M = 1.0


@settings(max_examples=400, deadline=None)
@given(
    LATS, LONS, RADII, st.booleans(),
    st.one_of(st.none(), st.tuples(LATS, LONS)),
    st.one_of(st.none(), st.floats(0.5, 1.5)),
)  # fmt: skip
def test_location_match_is_brute_force_great_circle(
    lat: float, lon: float, radius: float, include_unknown: bool,
    where: tuple[float, float] | None, near: float | None,
) -> None:  # fmt: skip
    resource = Resource(token="p:1", lat=where[0], lon=where[1]) if where else Resource(token="p:1")
    if where is not None and near is not None:
        radius = chord_distance_m(lat, lon, *where) * near  # put the radius near the resource
    query = ResourceQuery(location=LocationFilter(lon=lon, lat=lat, radius=radius, include_unknown=include_unknown))
    if where is None:
        assert matches(query, resource) is include_unknown
        return
    distance = chord_distance_m(lat, lon, *where)
    if abs(distance - radius) < BOUNDARY_M:
        return
    assert matches(query, resource) is (distance <= radius)
