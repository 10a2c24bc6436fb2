"""How a Resource is stored: its row, its scope rows, and its JSON image in the change feed.

Every path that reads resources back (snapshot pages, single lookups, export,
the old image of a change) goes through :func:`fetch`, so a resource always
comes back identical to what was written — floats included, since JSON and
both backends' double precision round-trip them exactly.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, bindparam, select

from gateway.catalog.errors import CatalogError
from gateway.catalog.schema import resource, resource_scope
from gateway.vocabulary.resource import RESOURCE_KINDS, Resource
from gateway.vocabulary.scopes import scope_key

#: ids per ``IN (...)`` when loading scopes: far below SQLite's 32766 bound variables.
IN_CHUNK = 500
#: The longest token the ``resource.token`` column holds (tt:ReferenceToken, docs/wire-format.md §3.2).
MAX_TOKEN = 64

COLUMNS = (
    resource.c.id, resource.c.token, resource.c.kind, resource.c.name,
    resource.c.lat, resource.c.lon, resource.c.elevation, resource.c.offline,
)

T = TypeVar("T")

#: One encoder for every image: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def distinct_runs(items: Iterable[T], key: Callable[[T], object], size: int) -> Iterator[list[T]]:
    """``items`` in order, cut into runs of at most ``size`` whose keys are distinct.

    A batch write reads the stored rows once and writes once, so an item
    touching a key already in its run must see that write: it starts the next run.
    """
    run: list[T] = []
    seen: set[object] = set()
    for item in items:
        k = key(item)
        if k in seen or len(run) == size:
            yield run
            run, seen = [], set()
        run.append(item)
        seen.add(k)
    if run:
        yield run


def check(r: Resource) -> None:
    """CatalogError unless ``r`` fits the schema and the Resource contract."""
    if not isinstance(r.token, str) or not 0 < len(r.token) <= MAX_TOKEN:
        raise CatalogError(f"resource token {r.token!r} must be 1 to {MAX_TOKEN} characters")
    if r.kind not in RESOURCE_KINDS:
        raise CatalogError(f"resource {r.token!r}: unknown kind {r.kind!r}")
    if (r.lat is None) != (r.lon is None):
        raise CatalogError(f"resource {r.token!r}: lat and lon must both be given or both be absent")
    if r.lat is not None and r.lon is not None and not (
        math.isfinite(r.lat) and math.isfinite(r.lon) and -90.0 <= r.lat <= 90.0 and -180.0 <= r.lon <= 180.0
    ):
        raise CatalogError(f"resource {r.token!r}: location ({r.lat}, {r.lon}) is outside WGS84 degrees")
    if r.elevation is not None and not math.isfinite(r.elevation):
        raise CatalogError(f"resource {r.token!r}: elevation {r.elevation} is not a finite number")


#: The ``resource`` columns a Resource fills, in the order :func:`row` gives them.
ROW_COLUMNS = ("token", "kind", "name", "lat", "lon", "elevation", "offline")
#: The ``resource_scope`` columns, in the order :func:`scope_rows` gives them.
SCOPE_COLUMNS = ("resource_id", "pos", "uri", "key")


def row(r: Resource) -> tuple[Any, ...]:
    """The values of :data:`ROW_COLUMNS` for ``r``."""
    return (r.token, r.kind, r.name, r.lat, r.lon, r.elevation, r.offline)


def scope_rows(resource_id: int, r: Resource) -> list[tuple[Any, ...]]:
    """The ``resource_scope`` rows of ``r`` stored as ``resource_id``, in :data:`SCOPE_COLUMNS` order."""
    return [(resource_id, pos, uri, scope_key(uri)) for pos, uri in enumerate(r.scopes)]


def encode(r: Resource) -> str:
    """The compact JSON image of ``r`` stored in the feed; absent items are left out."""
    image: dict[str, Any] = {"token": r.token, "kind": r.kind}
    for name in ("name", "lat", "lon", "elevation", "offline"):
        if getattr(r, name) is not None:
            image[name] = getattr(r, name)
    if r.scopes:
        image["scopes"] = list(r.scopes)
    return _JSON.encode(image)


def decode(text: str) -> Resource:
    image = json.loads(text)
    image["scopes"] = tuple(image.get("scopes", ()))
    return Resource(**image)


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC; naive values (SQLite gives those back) are UTC already."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def aware(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC for storing; a naive datetime is a caller's bug, not UTC by guess."""
    if moment.tzinfo is None:
        raise CatalogError(f"timestamp {moment.isoformat()} has no time zone")
    return moment.astimezone(dt.UTC)


def fetch(conn: Connection, stmt: Select[Any]) -> list[tuple[int, Resource]]:
    """Run ``stmt`` (selecting :data:`COLUMNS`) and attach each row's scopes in order."""
    rows = conn.execute(stmt).all()
    scopes = load_scopes(conn, [row[0] for row in rows])
    return [
        (rid, Resource(token=token, kind=kind, name=name, lat=lat, lon=lon, elevation=elevation, offline=offline,
                       scopes=scopes.get(rid, ())))
        for rid, token, kind, name, lat, lon, elevation, offline in rows
    ]


_SCOPE_COLUMNS = (resource_scope.c.resource_id, resource_scope.c.uri)
_SCOPE_ORDER = (resource_scope.c.resource_id, resource_scope.c.pos)
#: Compiled once each by SQLAlchemy: the ids are parameters, not literals.
_SCOPES_IN = select(*_SCOPE_COLUMNS).where(
    resource_scope.c.resource_id.in_(bindparam("ids", expanding=True))).order_by(*_SCOPE_ORDER)
_SCOPES_BETWEEN = select(*_SCOPE_COLUMNS).where(
    resource_scope.c.resource_id.between(bindparam("low"), bindparam("high"))).order_by(*_SCOPE_ORDER)


def load_scopes(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The scope URIs of each of ``ids`` that has any, in their stored order.

    The ids of an enumeration's page are (nearly) consecutive: they are read as
    one range, and the few others in it dropped; scattered ids go by ``IN``.
    """
    out: dict[int, list[str]] = {}
    if ids and max(ids) - min(ids) < 2 * len(ids):
        wanted = set(ids)
        rows = conn.execute(_SCOPES_BETWEEN, {"low": min(ids), "high": max(ids)}).all()
        for rid, uri in rows:
            if rid in wanted:
                out.setdefault(rid, []).append(uri)
    else:
        for chunk in chunks(ids, IN_CHUNK):
            for rid, uri in conn.execute(_SCOPES_IN, {"ids": chunk}).all():
                out.setdefault(rid, []).append(uri)
    return {rid: tuple(uris) for rid, uris in out.items()}


def by_tokens(conn: Connection, tokens: Iterable[str]) -> dict[str, tuple[int, Resource]]:
    """The stored resources among ``tokens``: token -> (id, resource)."""
    out: dict[str, tuple[int, Resource]] = {}
    for chunk in chunks(tokens, IN_CHUNK):
        for rid, r in fetch(conn, select(*COLUMNS).where(resource.c.token.in_(chunk))):
            out[r.token] = (rid, r)
    return out
