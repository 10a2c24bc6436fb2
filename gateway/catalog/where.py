"""A ResourceQuery as a SQL condition over the catalog's ``resource`` table.

It lives in the catalog, not in query, because only the catalog knows its
tables and its backend: the layers above hand it a ResourceQuery
(:meth:`Catalog.compile_filter <gateway.catalog.store.Catalog.compile_filter>`)
and get back an opaque :class:`CompiledFilter` to page with.

:func:`where_clause` selects exactly the resources :func:`gateway.query.match.matches`
accepts — except the ItemFilter, which has no SQL form: the event service
applies it in Python to the rows this condition selects.  Each part is shaped
for an index:

- prefixes: ``token >= p ":" AND token < p ";"`` — a range on the unique token
  index (``;`` follows ``:``; the column compares byte-wise on both backends);
- location: the exact great-circle test ``gw_distance_m(...) <= radius``
  (the same code as geodesy.haversine_m on SQLite, the same formula on
  PostgreSQL), behind a prefilter by :func:`geodesy.bounding_boxes` through the
  R*Tree (SQLite) or the GiST point index (PostgreSQL);
- scopes: per term, a scope row of the resource that matches — rfc3986 by
  the canonical key (equal, or ``key/...`` as the range ``[key "/", key "0")``),
  strcmp0 by the exact URI.

Why prefixes and locations are ``IN`` lists and scopes ``EXISTS`` probes on
SQLite (PostgreSQL plans all three from its statistics): a snapshot page is
``... AND id > :after ORDER BY id LIMIT :n``, and SQLite, having no range
statistics, prefers walking the ids in order and testing each row.  That is
right for a broad condition and a full scan for a narrow one, so the narrow
ones — a device prefix, a small circle, the common queries — are handed over
as ``IN`` lists, which SQLite reads first: the 4 resources of one prefix
come back in about 1 ms instead of 200 ms from 1 M resources.  But the list is built in full for
every page, so a broad condition must not be one: a scope such as
``…/location/city/nanjing`` can hold a whole city gateway's catalog, and as a
probe on the rows read in id order a snapshot costs at most one pass over
the table however wide or narrow the scope.  A circle holding a large share
of the catalog still pays its R*Tree box search on every page, but tests only the
rows after the page cursor (:data:`~gateway.catalog.schema.AFTER_ID`).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true

from gateway.catalog.schema import AFTER_ID, resource, resource_rtree, resource_scope
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm
from gateway.vocabulary.geodesy import bounding_boxes
from gateway.vocabulary.scopes import scope_key


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A ResourceQuery compiled for one catalog's backend; opaque outside the catalog.

    Built once per stored filter (:meth:`Catalog.compile_filter
    <gateway.catalog.store.Catalog.compile_filter>`) and passed back to every
    :meth:`~gateway.catalog.store.Catalog.snapshot_page` of the subscription.
    """

    where: ColumnElement[bool]


def where_clause(query: ResourceQuery, dialect: str) -> ColumnElement[bool]:
    """The condition over ``resource`` for ``query`` on ``dialect`` ("sqlite" | "postgresql")."""
    parts: list[ColumnElement[bool]] = []
    if query.kinds is not None:
        parts.append(resource.c.kind.in_(sorted(query.kinds)))  # empty: SQLAlchemy's always-false IN
    if query.prefixes:
        parts.append(_prefixes(query.prefixes, dialect))
    if query.location is not None:
        parts.append(_location(query.location, dialect))
    parts.extend(_scope(term) for term in query.scopes)
    return and_(true(), *parts)


def _prefixes(prefixes: tuple[str, ...], dialect: str) -> ColumnElement[bool]:
    """The token starts with one of ``p ":"``, as ranges on the token index (an ``IN`` list on SQLite)."""
    if dialect == "sqlite":
        by_token = resource.alias("by_token")
        return resource.c.id.in_(select(by_token.c.id).where(or_(*(_starts_with(by_token.c.token, p + ":")
                                                                  for p in prefixes))))
    return or_(*(_starts_with(resource.c.token, p + ":") for p in prefixes))


def _starts_with(token: ColumnElement[str], start: str) -> ColumnElement[bool]:
    """``token`` begins with ``start`` (which ends in ":"), as an index range."""
    return and_(token >= start, token < start[:-1] + chr(ord(start[-1]) + 1))


def _location(loc: LocationFilter, dialect: str) -> ColumnElement[bool]:
    lat, lon = resource.c.lat, resource.c.lon
    boxes = bounding_boxes(loc.lat, loc.lon, loc.radius)
    if dialect == "sqlite":
        rt = resource_rtree.c
        # The page cursor inside the list: later pages do not re-test rows earlier ones sent.
        in_boxes: ColumnElement[bool] = resource.c.id.in_(select(rt.id).where(rt.id > AFTER_ID, or_(*(
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
    return exists().where(rs.resource_id == resource.c.id, hit)
