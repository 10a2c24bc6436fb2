"""Batches of rows through the driver's own ``executemany``.

SQLAlchemy Core builds, checks and converts every row's parameters in
Python; for the change feed's batches (about ten rows per synced resource)
that cost more than SQLite's own work.  These statements are plain INSERT and
UPDATE texts, made once per dialect and column list, and each row goes to the
driver as it is.  So the values must be ones the driver stores exactly as
SQLAlchemy would: str, int, float, bool and None are; a value of a type with
a bind processor on the dialect (a DATETIME on SQLite) goes through
:func:`stored` first.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Connection, Table
from sqlalchemy.engine import Dialect


def placeholder(dialect: Dialect) -> str:
    """The driver's positional parameter marker, for SQL texts sent with tuples."""
    if dialect.paramstyle == "qmark":
        return "?"
    if dialect.paramstyle in ("format", "pyformat"):  # psycopg takes positional %s with tuples
        return "%s"
    raise NotImplementedError(f"paramstyle {dialect.paramstyle!r}")


def stored(conn: Connection, column: Column[Any], value: Any) -> Any:
    """``value`` as SQLAlchemy would hand it to the driver for ``column``."""
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(value) if process is not None else value


@lru_cache(maxsize=64)
def _insert(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    quote = dialect.identifier_preparer.quote
    marks = ", ".join([placeholder(dialect)] * len(columns))
    return f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES ({marks})"


@lru_cache(maxsize=64)
def _update(dialect: Dialect, table: Table, columns: tuple[str, ...], key: str) -> str:
    quote, mark = dialect.identifier_preparer.quote, placeholder(dialect)
    assignments = ", ".join(f"{quote(c)} = {mark}" for c in columns)
    return f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote(key)} = {mark}"


def insert(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    """INSERT ``rows``, each a tuple of values for ``columns``."""
    if rows:
        conn.exec_driver_sql(_insert(conn.dialect, table, columns), rows)


def update(conn: Connection, table: Table, columns: tuple[str, ...], key: str,
           rows: Sequence[tuple[Any, ...]]) -> None:
    """UPDATE ``columns`` of the row whose ``key`` is the last value of each of ``rows``."""
    if rows:
        conn.exec_driver_sql(_update(conn.dialect, table, columns, key), rows)
