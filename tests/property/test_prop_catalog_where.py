"""Catalog.compile_filter (catalog.where) selects exactly what query.match.matches accepts, on SQLite and PostgreSQL.

Small generated catalogs (points near the poles and the antimeridian, unknown
locations, byte-wise token prefixes, scopes in case and escape variants)
against generated queries, compared with the Python reference predicate
:func:`gateway.query.match.matches` by brute force.  Radii are drawn partly as
the exact distance to a resource, so the boundary ``<=`` is exercised, which
also holds the PostgreSQL ``gw_distance_m`` to the bit against geodesy.haversine_m.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalog.store import Catalog
from gateway.query.match import matches
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm
from gateway.vocabulary.geodesy import haversine_m
from gateway.vocabulary.resource import Resource

PREFIXES = ["12010000001320000001", "P", "PA", "p", "P;", "Ä", "P9"]
KINDS = ["MediaProfile", "VideoSource", "Recording"]
SCOPES = [
    "onvif://www.onvif.org/location/city/berlin",
    "ONVIF://WWW.ONVIF.ORG/location/city/berlin/",
    "onvif://www.onvif.org/location/city/Berlin",
    "onvif://www.onvif.org/location/city/berlin-mitte",
    "onvif://www.onvif.org/%6Cocation/city",
    "onvif://www.onvif.org/location/a%2Fb",
    "onvif://www.onvif.org/location/a%2fb/c",
    "onvif://www.onvif.org/location/./x",
    "onvif://www.onvif.org/hardware/D1-566?x=1#f",
    "onvif://www.onvif.org/hardware/D1",
    "onvif://www.onvif.org",
    "onvif://www.onvif.org/",
    "onvif://bad%zz/x",
    "http://example.com/location",
    "urn:x-gateway:zone/7",
    "not a uri",
]
LATS = st.one_of(st.floats(-90, 90), st.floats(84, 90), st.floats(-90, -84), st.sampled_from([-90.0, 0.0, 90.0]))
LONS = st.one_of(st.floats(-180, 180), st.floats(175, 180), st.floats(-180, -175), st.sampled_from([-180.0, 180.0]))
LOCATIONS = st.one_of(st.none(), st.tuples(LATS, LONS))


@st.composite
def resources(draw: st.DrawFn) -> list[Resource]:
    out = []
    for i, (prefix, kind, where, scopes) in enumerate(draw(st.lists(st.tuples(
        st.sampled_from(PREFIXES), st.sampled_from(KINDS), LOCATIONS,
        st.lists(st.sampled_from(SCOPES), max_size=3, unique=True),
    ), max_size=20))):
        lat, lon = where if where is not None else (None, None)
        out.append(Resource(token=f"{prefix}:r{i}", kind=kind, lat=lat, lon=lon, scopes=tuple(scopes)))
    return out


@st.composite
def queries(draw: st.DrawFn, catalog: list[Resource]) -> ResourceQuery:
    location = None
    if draw(st.booleans()):
        lat, lon = draw(st.tuples(LATS, LONS))
        located = [r for r in catalog if r.lat is not None and r.lon is not None]
        radii = [st.floats(0, 1_000), st.floats(0, 800_000), st.floats(0, 2.1e7)]
        if located:  # exactly on the circle: the boundary case of "<= radius"
            radii.append(st.sampled_from([haversine_m(lat, lon, r.lat, r.lon) for r in located]))  # type: ignore[arg-type]
        radius = draw(st.one_of(*radii))
        location = LocationFilter(lat=lat, lon=lon, radius=radius, include_unknown=draw(st.booleans()))
    return ResourceQuery(
        kinds=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(KINDS)))),
        prefixes=tuple(draw(st.lists(st.sampled_from([*PREFIXES, "P:", ""]), max_size=2))),
        location=location,
        scopes=tuple(draw(st.lists(st.builds(ScopeTerm, uri=st.sampled_from(SCOPES),
                                             rule=st.sampled_from([RFC3986, STRCMP0])), max_size=2))),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_where_clause_selects_exactly_what_matches_accepts(catalog: Catalog, data: st.DataObject) -> None:
    content = data.draw(resources(), label="catalog")
    catalog.import_resources(content, replace=True)  # the same database serves every example
    for query in data.draw(st.lists(queries(content), min_size=1, max_size=6), label="queries"):
        rows = catalog.snapshot_page(catalog.compile_filter(query), 0, 1000)
        expected = sorted(r.token for r in content if matches(query, r))
        assert sorted(r.token for _, r in rows) == expected, query
        assert all(r == next(c for c in content if c.token == r.token) for _, r in rows)
