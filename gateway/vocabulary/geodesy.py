"""Great-circle distance and the bounding boxes that make radius queries indexable.

One definition serves the SQL side (registered as an SQLite function, mirrored
by a PostgreSQL function in the first migration) and the Python matcher, so
the snapshot (SQL) and the tail (Python) of a subscription agree.  It sits
at the bottom, importing nothing of the gateway, because both the catalog and
the filter semantics (query) use it and neither may depend on the other.
"""
from __future__ import annotations

import math

#: IUGG mean Earth radius; the location filter's radius is metres on this sphere.
EARTH_RADIUS_M = 6_371_008.8
#: Magnitudes below this count as 0 in :func:`haversine_m` (1e-100 degrees is 1e-94 m).  PostgreSQL
#: raises an error where a float operation underflows to 0, so the SQL twin of this function
#: (revision 3d5e8a1f0b27) flushes the same values first, and both stay equal to the bit.
TINY = 1e-100

Box = tuple[float, float, float, float]  # (min_lat, max_lat, min_lon, max_lon)


def _flush(x: float) -> float:
    return 0.0 if abs(x) < TINY else x


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (degrees)."""
    lat1, lon1, lat2, lon2 = _flush(lat1), _flush(lon1), _flush(lat2), _flush(lon2)
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = _flush(math.sin(dp / 2)) ** 2 + math.cos(p1) * math.cos(p2) * _flush(math.sin(dl / 2)) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_boxes(lat: float, lon: float, radius_m: float) -> list[Box]:
    """Boxes that together contain every point within ``radius_m`` of (lat, lon).

    Conservative by a small margin so float rounding never excludes a true
    match; the exact test is :func:`haversine_m`.  Splits at the antimeridian
    and widens to all longitudes when the circle reaches a pole.
    """
    margin = 1e-9 + radius_m * 1e-9
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) + margin
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90.0 or max_lat >= 90.0 or radius_m >= math.pi * EARTH_RADIUS_M / 2:
        return [(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)]
    # Widest longitude span of the circle (at the latitude of tangency).
    ratio = math.sin(radius_m / EARTH_RADIUS_M) / math.cos(math.radians(lat))
    if ratio >= 1.0:
        return [(min_lat, max_lat, -180.0, 180.0)]
    dlon = math.degrees(math.asin(ratio)) + margin
    west, east = lon - dlon, lon + dlon
    if west < -180.0:
        return [(min_lat, max_lat, west + 360.0, 180.0), (min_lat, max_lat, -180.0, east)]
    if east > 180.0:
        return [(min_lat, max_lat, west, 180.0), (min_lat, max_lat, -180.0, east - 360.0)]
    return [(min_lat, max_lat, west, east)]
