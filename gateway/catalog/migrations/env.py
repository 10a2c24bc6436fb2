"""Alembic environment: runs the catalog revisions on the connection it is handed.

Migrations are driven by :mod:`gateway.catalog.migrate` (``vmsgw db ...``),
which passes its connection in ``config.attributes["connection"]`` after
taking the migration lock; there is no ini file and no offline mode, because
the revisions choose their dialect-specific DDL from the live connection.
"""
from __future__ import annotations

from typing import Any

from alembic import context

from gateway.catalog.schema import GIST_INDEX, RTREE_PREFIX, metadata

#: Tables the database keeps for itself: SQLite's AUTOINCREMENT counters.
INTERNAL_TABLES = frozenset({"sqlite_sequence"})


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Hide what the revisions create with op.execute (R*Tree, GiST) from autogenerate.

    Without it, ``alembic check`` proposes dropping ``resource_rtree`` and its
    shadow tables (docs/pitfalls.md §7).
    """
    if type_ == "table":
        return not (name is None or name.startswith(RTREE_PREFIX) or name in INTERNAL_TABLES)
    if type_ == "index":
        return name != GIST_INDEX
    return True


def run_migrations_online() -> None:
    """Run the pending revisions, each in its own transaction."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER = copy and move
        transaction_per_migration=True,
        include_name=include_name,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
