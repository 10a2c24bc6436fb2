"""Brute-force expectations, written independently of the gateway's matchers."""
from __future__ import annotations

import math
from urllib.parse import unquote, urlsplit


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def within(row: dict[str, str], lat: float, lon: float, radius: float, include_unknown: bool = False) -> bool:
    if not row["lat"]:
        return include_unknown
    return distance_m(float(row["lat"]), float(row["lon"]), lat, lon) <= radius


def scope_matches(probe: str, scope: str) -> bool:
    """WS-Discovery rfc3986: scheme/authority case-insensitive, path a whole-segment prefix."""
    p, s = urlsplit(probe), urlsplit(scope)
    if (p.scheme.lower(), p.netloc.lower()) != (s.scheme.lower(), s.netloc.lower()):
        return False
    ps = [unquote(x) for x in p.path.split("/") if x]
    ss = [unquote(x) for x in s.path.split("/") if x]
    return ss[: len(ps)] == ps


def tokens(rows: list[dict[str, str]], pred) -> set[str]:  # type: ignore[no-untyped-def]
    return {r["token"] for r in rows if pred(r)}
