"""Batches of rows through the driver's own ``executemany``.

SQLAlchemy Core builds, checks and converts every row's parameters in
Python; for the change feed's batches (about ten rows per synced resource)
that cost more than SQLite's own work.  These statements are plain INSERT and
UPDATE texts, made once per dialect and column list, and each row goes to
the driver as a tuple — through the column type's bind processor only where
the dialect has one (SQLite's DATETIME, Booleans, Floats), so what is stored
is exactly what SQLAlchemy would have stored.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

Processors = tuple[tuple[int, Callable[[Any], Any]], ...]


def placeholder(dialect: Dialect) -> str:
    """The driver's positional parameter marker, for SQL texts sent with tuples."""
    if dialect.paramstyle == "qmark":
        return "?"
    if dialect.paramstyle in ("format", "pyformat"):  # psycopg takes positional %s with tuples
        return "%s"
    raise NotImplementedError(f"paramstyle {dialect.paramstyle!r}")


def _processors(dialect: Dialect, table: Table, columns: Sequence[str]) -> Processors:
    found = ((i, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for i, name in enumerate(columns))
    return tuple((i, p) for i, p in found if p is not None)


@lru_cache(maxsize=64)
def _insert(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[str, Processors]:
    quote = dialect.identifier_preparer.quote
    marks = ", ".join([placeholder(dialect)] * len(columns))
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES ({marks})"
    return sql, _processors(dialect, table, columns)


@lru_cache(maxsize=64)
def _update(dialect: Dialect, table: Table, columns: tuple[str, ...], key: str) -> tuple[str, Processors]:
    quote, mark = dialect.identifier_preparer.quote, placeholder(dialect)
    assignments = ", ".join(f"{quote(c)} = {mark}" for c in columns)
    sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote(key)} = {mark}"
    return sql, _processors(dialect, table, (*columns, key))


def _run(conn: Connection, statement: tuple[str, Processors], rows: Iterable[Sequence[Any]]) -> None:
    sql, processors = statement
    if processors:
        converted = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                values[i] = process(values[i])
            converted.append(tuple(values))
        rows = converted
    else:
        rows = [tuple(row) for row in rows]
    if rows:
        conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]  # a list of tuples is executemany


def insert(conn: Connection, table: Table, columns: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> None:
    """INSERT ``rows``, each a tuple of values for ``columns``."""
    _run(conn, _insert(conn.dialect, table, columns), rows)


def update(conn: Connection, table: Table, columns: tuple[str, ...], key: str, rows: Iterable[Sequence[Any]]) -> None:
    """UPDATE ``columns`` of the row whose ``key`` is the last value of each of ``rows``."""
    _run(conn, _update(conn.dialect, table, columns, key), rows)
