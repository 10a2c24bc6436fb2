"""A ResourceQuery as a SQL condition over the catalog's ``resource`` table.

:func:`where_clause` selects exactly the resources :func:`gateway.query.match.matches`
accepts — except the ItemFilter, which has no SQL form: the event service
applies it in Python to the rows this condition selects.  Each part is shaped
for an index:

- prefixes: ``token >= p ":" AND token < p ";"`` — a range on the unique token
  index (``;`` follows ``:``; the column compares byte-wise on both backends);
- location: the exact great-circle test ``gw_distance_m(...) <= radius``
  (the same code as geo.haversine_m on SQLite, the same formula on
  PostgreSQL), behind a prefilter by :func:`geo.bounding_boxes` through the
  R*Tree (SQLite) or the GiST point index (PostgreSQL);
- scopes: per term, the ids of resources with a matching scope row — rfc3986
  by the canonical key (equal, or ``key/...`` as the range ``[key "/", key "0")``
  on the (key, resource_id) index), strcmp0 by the exact URI.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true

from gateway.catalog.geo import bounding_boxes
from gateway.catalog.schema import resource, resource_rtree, resource_scope
from gateway.catalog.scopes import scope_key
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm


def where_clause(query: ResourceQuery, dialect: str) -> ColumnElement[bool]:
    """The condition over ``resource`` for ``query`` on ``dialect`` ("sqlite" | "postgresql")."""
    parts: list[ColumnElement[bool]] = []
    if query.kinds is not None:
        parts.append(resource.c.kind.in_(sorted(query.kinds)))  # empty: SQLAlchemy's always-false IN
    if query.prefixes:
        parts.append(or_(*(_starts_with(p + ":") for p in query.prefixes)))
    if query.location is not None:
        parts.append(_location(query.location, dialect))
    parts.extend(_scope(term) for term in query.scopes)
    return and_(true(), *parts)


def _starts_with(start: str) -> ColumnElement[bool]:
    """``token`` begins with ``start`` (which ends in ":"), as an index range."""
    return and_(resource.c.token >= start, resource.c.token < start[:-1] + chr(ord(start[-1]) + 1))


def _location(loc: LocationFilter, dialect: str) -> ColumnElement[bool]:
    lat, lon = resource.c.lat, resource.c.lon
    boxes = bounding_boxes(loc.lat, loc.lon, loc.radius)
    if dialect == "sqlite":
        rt = resource_rtree.c
        in_boxes: ColumnElement[bool] = resource.c.id.in_(select(rt.id).where(or_(*(
            and_(rt.max_lat >= s, rt.min_lat <= n, rt.max_lon >= w, rt.min_lon <= e) for s, n, w, e in boxes
        ))))
    elif dialect == "postgresql":
        point = func.point(lon, lat)  # the expression of the GiST index ix_resource__point
        in_boxes = or_(*(point.op("<@")(func.box(func.point(w, s), func.point(e, n))) for s, n, w, e in boxes))
    else:
        raise ValueError(f"no spatial index for dialect {dialect!r}")
    near = and_(in_boxes, func.gw_distance_m(lat, lon, loc.lat, loc.lon) <= loc.radius)
    return or_(lat.is_(None), lon.is_(None), near) if loc.include_unknown else near


def _scope(term: ScopeTerm) -> ColumnElement[bool]:
    rs = resource_scope.c
    if term.rule == STRCMP0:
        hit: ColumnElement[bool] = rs.uri == term.uri
    elif term.rule == RFC3986:
        key = scope_key(term.uri)
        if key is None:
            return false()  # a filter URI that can never match (scopes.scope_key)
        hit = or_(rs.key == key, and_(rs.key >= key + "/", rs.key < key + "0"))
    else:
        raise ValueError(f"unsupported scope matching rule {term.rule!r}")
    return resource.c.id.in_(select(rs.resource_id).where(hit))
