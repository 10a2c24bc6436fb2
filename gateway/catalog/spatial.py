"""The SQLite R*Tree of resource locations, written beside the resource rows.

PostgreSQL keeps its GiST point index by itself; SQLite's R*Tree is a virtual
table that must be told of every change.  Row triggers did that, one R*Tree
statement per resource, and that cost more than everything else a segment
sync writes (24 of 40 µs of SQLite time per resource).  So since revision
6c03a78ed9da the writers of resource rows — feed.FeedWriter and the bulk
import — send the R*Tree their changes a batch at a time through this module,
and nothing else may insert, move or delete resources.

Rules.  (1) A resource is in the R*Tree exactly when it has both lat and lon,
under its id, as a point box.  (2) Call :func:`unindex` before the rows go
(or move) and :func:`index` after they exist (or moved).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, insert, select

from gateway.catalog import records, rows
from gateway.catalog.schema import resource, resource_rtree

_RTREE_COLUMNS = ("id", "min_lat", "max_lat", "min_lon", "max_lon")


def _applies(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def index(conn: Connection, located: Iterable[tuple[int, float | None, float | None]]) -> None:
    """Add the resources given as (id, lat, lon); those without a location are left out (Rule 1)."""
    if _applies(conn):
        rows.insert(conn, resource_rtree, _RTREE_COLUMNS, [
            (rid, lat, lat, lon, lon) for rid, lat, lon in located if lat is not None and lon is not None])


def unindex(conn: Connection, ids: Sequence[int]) -> None:
    """Remove the resources ``ids`` (whether indexed or not)."""
    if _applies(conn):
        for chunk in records.chunks(ids, records.IN_CHUNK):
            conn.execute(delete(resource_rtree).where(resource_rtree.c.id.in_(chunk)))


def index_after(conn: Connection, last_id: int) -> None:
    """Add every resource with an id above ``last_id``: the rows a bulk import just inserted."""
    if _applies(conn):
        located = select(resource.c.id, resource.c.lat, resource.c.lat, resource.c.lon, resource.c.lon).where(
            resource.c.id > last_id, resource.c.lat.is_not(None), resource.c.lon.is_not(None))
        conn.execute(insert(resource_rtree).from_select(list(_RTREE_COLUMNS), located))
