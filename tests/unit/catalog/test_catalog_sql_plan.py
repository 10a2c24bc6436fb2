"""The query plans of a snapshot page: prefixes, circles and scopes use the indexes meant for them.

Plans are read for the statement as it runs (bound parameters, the
``id > :after ORDER BY id LIMIT`` of Catalog.snapshot_page), because SQLite
plans a parameterised range differently from the same range with literals.
"""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ColumnElement, select

from gateway.catalog import records
from gateway.catalog.schema import resource
from gateway.catalog.store import Catalog
from gateway.catalog.where import where_clause
from gateway.query.model import LocationFilter, ResourceQuery, ScopeTerm
from gateway.vocabulary.resource import Resource

CIRCLE = ResourceQuery(location=LocationFilter(lat=52.52, lon=13.40, radius=100.0))
PREFIX = ResourceQuery(prefixes=("P7",))
SCOPE = ResourceQuery(scopes=(ScopeTerm(uri="onvif://www.onvif.org/location/city/berlin"),))


def plan(catalog: Catalog, where: ColumnElement[bool]) -> str:
    stmt = select(*records.COLUMNS).where(where, resource.c.id > 0).order_by(resource.c.id).limit(100)
    compiled = stmt.compile(dialect=catalog.engine.dialect)
    with catalog.engine.connect() as conn:
        if catalog.dialect == "sqlite":
            params: Any = tuple(compiled.params[name] for name in compiled.positiontup or ())
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params)
            return "\n".join(row[-1] for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: ask whether the index *can* serve
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))


def seed(catalog: Catalog) -> None:
    catalog.apply([Resource(token=f"P{i}:r", lat=52.0 + i / 100, lon=13.0, scopes=(f"s://x/{i}",))
                   for i in range(50)])


def test_sqlite_plans_drive_narrow_conditions_from_their_indexes(catalog: Catalog) -> None:
    if catalog.dialect != "sqlite":
        pytest.skip("SQLite's planner")
    seed(catalog)
    assert plan(catalog, where_clause(CIRCLE, "sqlite")) == (
        "SEARCH resource USING INTEGER PRIMARY KEY (rowid=?)\n"
        "LIST SUBQUERY 1\n"
        "SCAN resource_rtree VIRTUAL TABLE INDEX 2:D1B0D3B2"
    )
    assert plan(catalog, where_clause(PREFIX, "sqlite")) == (
        "SEARCH resource USING INTEGER PRIMARY KEY (rowid=?)\n"
        "LIST SUBQUERY 1\n"
        "SEARCH by_token USING COVERING INDEX sqlite_autoindex_resource_1 (token>? AND token<?)"
    )
    # A scope is a probe on the rows read in id order (module docstring of catalog.where).
    assert plan(catalog, where_clause(SCOPE, "sqlite")) == (
        "SEARCH resource USING INTEGER PRIMARY KEY (rowid>?)\n"
        "CORRELATED SCALAR SUBQUERY 1\n"
        "SEARCH resource_scope USING INDEX sqlite_autoindex_resource_scope_1 (resource_id=?)"
    )


def test_postgres_plans_can_use_the_gist_and_token_indexes(catalog: Catalog) -> None:
    if catalog.dialect != "postgresql":
        pytest.skip("PostgreSQL's planner")
    seed(catalog)
    assert "Index Cond: (point(lon, lat) <@ " in plan(catalog, where_clause(CIRCLE, "postgresql"))
    assert "ix_resource__point" in plan(catalog, where_clause(CIRCLE, "postgresql"))
    prefix = plan(catalog, where_clause(PREFIX, "postgresql"))
    assert "uq_resource__token" in prefix and "Index Cond: (((token)::text >= 'P7:'::text)" in prefix
    assert "ix_resource_scope__key_resource_id" in plan(catalog, where_clause(SCOPE, "postgresql"))
