"""The parsed form of a Resource Query subscription filter (docs/wire-format.md §5.1).

Produced by :mod:`gateway.query.filters` from the ``tev:Filter`` element,
persisted with each pull point as JSON, and evaluated by
:mod:`gateway.query.match` (in Python) and by the catalog (in SQL, catalog/where.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

RFC3986 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"
STRCMP0 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0"


@dataclass(frozen=True, kw_only=True)
class LocationFilter:
    lon: float
    lat: float
    radius: float  # metres, great-circle (docs/decisions.md §8.2)
    height: float | None = None  # accepted, not used for distance
    include_unknown: bool = False


@dataclass(frozen=True, kw_only=True)
class ScopeTerm:
    uri: str
    rule: str = RFC3986  # WS-Discovery MatchBy URI


@dataclass(frozen=True, kw_only=True)
class SelectPath:
    """``/<item>[/<sub>...]``: a data item name and an optional sub-path."""

    item: str
    sub: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ResourceQuery:
    """Everything a pull point needs to decide what a resource event looks like.

    ``kinds`` is ``None`` when the topic expression selects every resource
    topic (or there is no topic expression); an empty frozenset means it selects
    no resource topic at all.  ``prefixes`` combine with OR, ``scopes`` with AND,
    everything else with AND (docs/wire-format.md §5.1).  ``select`` is a projection, not a
    predicate; ``None`` keeps every data item.  ``item_filter`` is the
    normalised text of a ``MessageContent`` ItemFilter expression, if any.
    """

    kinds: frozenset[str] | None = None
    location: LocationFilter | None = None
    prefixes: tuple[str, ...] = ()
    scopes: tuple[ScopeTerm, ...] = ()
    select: tuple[SelectPath, ...] | None = None
    item_filter: str | None = None
    changed_only: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        data["kinds"] = sorted(self.kinds) if self.kinds is not None else None
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ResourceQuery:
        data = json.loads(text)
        return cls(
            kinds=frozenset(data["kinds"]) if data["kinds"] is not None else None,
            location=LocationFilter(**data["location"]) if data["location"] else None,
            prefixes=tuple(data["prefixes"]),
            scopes=tuple(ScopeTerm(**s) for s in data["scopes"]),
            select=(
                tuple(SelectPath(item=p["item"], sub=tuple(p["sub"])) for p in data["select"])
                if data["select"] is not None
                else None
            ),
            item_filter=data["item_filter"],
            changed_only=data["changed_only"],
        )
