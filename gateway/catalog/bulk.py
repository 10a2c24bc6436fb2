"""Bulk loading: a whole resource set staged in temporary tables, then diffed set-wise.

Theory of operation.  :meth:`BulkLoad.add` streams resources into a temporary
table of the load's own connection, in batches, so memory stays bounded
whatever the input size and the feed's writer lock is not held meanwhile.
:meth:`BulkLoad.commit` then takes the lock (feed.py) and, in one transaction:

1. creations — staged tokens not in ``resource`` — are written with three
   ``INSERT ... SELECT``: change rows numbered head + row_number(), resource
   rows carrying those seqs, and their scopes;
2. changes — staged rows whose columns or scope list differ (found by one
   SQL comparison) — go, a page at a time, through the same FeedWriter as
   ``Catalog.apply``, which needs the old image;
3. with ``replace``, every stored local resource (not a segment's) that is
   not staged is deleted, likewise.

Before that, :meth:`BulkLoad.duplicates` and :meth:`BulkLoad.claimed` drop
(and report) staged rows repeating a token, or whose prefix a segment has
claimed (prefixes.py): such a token is the segment's, never a local one.
A row staged identical to the stored one writes nothing, so re-importing the
same data is a no-op.  Until commit nothing is visible; leaving the ``with``
block without committing drops the stage and leaves the catalog untouched.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.sql.expression import Executable

from gateway.addressing.tokens import SEPARATOR
from gateway.catalog import records, spatial
from gateway.catalog.db import immediate
from gateway.catalog.feed import FEED_LOCK, ApplyResult, FeedWriter, Write, head
from gateway.catalog.schema import TOKEN, change, prefix_map, resource, resource_scope
from gateway.vocabulary.resource import Resource
from gateway.vocabulary.scopes import scope_key

#: Rows per staging INSERT and per page of changed or deleted resources.
DEFAULT_BATCH = 20_000
#: Distinct scope URIs whose keys are remembered during one load: the scopes
#: of a resource are its device's discovery scopes, shared by all its profiles
#: and, for location or hardware scopes, by many devices.
SCOPE_KEY_CACHE = 65_536

_temp = MetaData()
stage = Table(
    "gw_stage", _temp,
    Column("tag", Integer, primary_key=True),  # the caller's row number: a CSV line, an input position
    Column("token", TOKEN, nullable=False),
    Column("kind", String(64)), Column("name", Text), Column("lat", Float), Column("lon", Float),
    Column("elevation", Float), Column("offline", Boolean),
    Column("image", Text),  # feed.encode(resource); NULL for a kept token
    Column("keep", Boolean, nullable=False),  # True: token present but left as stored
    Column("prefix", TOKEN),  # the token's prefix; NULL without one, and for a kept token
    prefixes=["TEMPORARY"],
)
stage_scope = Table(
    "gw_stage_scope", _temp,
    Column("tag", Integer, primary_key=True), Column("pos", Integer, primary_key=True),
    Column("uri", Text, nullable=False), Column("key", resource_scope.c.key.type),
    prefixes=["TEMPORARY"],
)
#: Resources to work through a page at a time: changed (with their staged tag) or to delete (tag NULL).
work = Table(
    "gw_stage_work", _temp,
    Column("rid", Integer, primary_key=True), Column("tag", Integer),
    prefixes=["TEMPORARY"],
)
stage_token = stage.c.token


def _rowcount(conn: Connection, stmt: Executable) -> int:
    """Rows an INSERT ... SELECT wrote (psycopg reports -1 unless asked to keep the count)."""
    return conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount


@dataclass(frozen=True)
class Duplicate:
    tag: int
    first: int
    token: str


@dataclass(frozen=True)
class Claimed:
    """A staged token whose prefix ``segment`` has claimed."""

    tag: int
    token: str
    segment: str


class BulkLoad:
    """One staged import; use as a context manager, call :meth:`commit` to write it."""

    def __init__(self, engine: Engine, *, replace: bool, batch: int = DEFAULT_BATCH,
                 progress: Callable[[int], None] | None = None) -> None:
        self.replace, self.batch, self.progress = replace, batch, progress
        self._conn: Connection = engine.connect()
        self._rows: list[tuple[Any, ...]] = []
        self._scopes: list[tuple[Any, ...]] = []
        self._key = lru_cache(maxsize=SCOPE_KEY_CACHE)(scope_key)
        self._count = 0
        self._indexed = False
        _temp.drop_all(self._conn)  # a pooled connection may carry a stage left by a crash
        _temp.create_all(self._conn)
        self._conn.commit()

    def __enter__(self) -> BulkLoad:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        try:
            self._conn.rollback()
            _temp.drop_all(self._conn)
            self._conn.commit()
        finally:
            self._conn.close()

    def add(self, r: Resource, tag: int) -> None:
        """Stage ``r``; ``tag`` (unique, increasing) names it in duplicate reports."""
        records.check(r)
        prefix, colon, _ = r.token.partition(SEPARATOR)
        self._rows.append((tag, r.token, r.kind, r.name, r.lat, r.lon, r.elevation, r.offline, records.encode(r),
                           False, prefix if colon else None))
        self._scopes.extend((tag, pos, uri, self._key(uri)) for pos, uri in enumerate(r.scopes))
        self._count_row()

    def keep(self, token: str, tag: int) -> None:
        """Stage ``token`` as present but unchanged: replace will not delete it."""
        self._rows.append((tag, token, None, None, None, None, None, None, None, True, None))
        self._count_row()

    def _count_row(self) -> None:
        self._count += 1
        if len(self._rows) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        with self._conn.begin():
            for table, rows in ((stage, self._rows), (stage_scope, self._scopes)):
                if rows:
                    self._send(table, rows)
        self._rows, self._scopes = [], []
        if self.progress is not None:
            self.progress(self._count)

    def _send(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (in column order) through the driver: SQLAlchemy's per-row work is most of the cost."""
        columns = ", ".join(c.name for c in table.c)
        if self._conn.dialect.name == "postgresql":
            with self._conn.connection.cursor().copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in table.c)
            self._conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", rows)

    def _staged(self) -> None:
        """Flush what is buffered; index and analyse the stage once."""
        self._flush()
        if not self._indexed:
            self._conn.execute(text("CREATE INDEX gw_stage__token ON gw_stage (token)"))
            # Nothing analyses temporary tables by itself; without statistics PostgreSQL
            # plans the diff as nested loops over the whole stage.
            self._conn.execute(text("ANALYZE gw_stage"))
            self._conn.execute(text("ANALYZE gw_stage_scope"))
            self._indexed = True

    def _drop(self, tags: list[int]) -> None:
        for chunk in records.chunks(tags, records.IN_CHUNK):
            self._conn.execute(delete(stage_scope).where(stage_scope.c.tag.in_(chunk)))
            self._conn.execute(delete(stage).where(stage.c.tag.in_(chunk)))
        self._conn.commit()

    def duplicates(self) -> list[Duplicate]:
        """Staged rows repeating an earlier token, now dropped from the stage (first wins)."""
        self._staged()
        first = select(stage.c.token, func.min(stage.c.tag).label("first")).group_by(stage.c.token) \
            .having(func.count() > 1).subquery()
        later = select(stage.c.tag, first.c.first, stage.c.token, stage.c.keep) \
            .join(first, first.c.token == stage.c.token).where(stage.c.tag > first.c.first).order_by(stage.c.tag)
        rows = self._conn.execute(later).all()
        self._drop([row.tag for row in rows])
        # A repeated token on a kept (invalid) row was reported by the caller already.
        return [Duplicate(tag=row.tag, first=row.first, token=row.token) for row in rows if not row.keep]

    def claimed(self) -> list[Claimed]:
        """Staged rows whose token prefix a segment has claimed, now dropped from the stage."""
        self._staged()
        rows = self._conn.execute(
            select(stage.c.tag, stage.c.token, prefix_map.c.segment)
            .join(prefix_map, prefix_map.c.local_prefix == stage.c.prefix).order_by(stage.c.tag)
        ).all()
        self._drop([row.tag for row in rows])
        return [Claimed(tag=row.tag, token=row.token, segment=row.segment) for row in rows]

    def commit(self) -> ApplyResult:
        """Write the staged set as described in the module docstring; one transaction."""
        self.duplicates()
        self.claimed()
        at = dt.datetime.now(dt.UTC)
        conn = immediate(self._conn)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK})
            last_id = conn.execute(select(func.coalesce(func.max(resource.c.id), 0))).scalar_one()
            created = self._create(conn, at, last_id)
            writer = FeedWriter(conn, at)
            old = resource.c.id <= last_id  # rows stored before this load; the created ones need no diff
            changed = self._mark(conn, self._changed(old))
            for page in records.chunks(self._marked(conn), self.batch):
                writer.write([Write(was, now, rid) for rid, was, now in page])  # changed: staged, so `now` is set
            deleted = self._mark(conn, self._gone(old)) if self.replace else 0
            for page in records.chunks(self._marked(conn) if self.replace else (), self.batch):
                writer.write([Write(was, None, rid) for rid, was, _ in page])
            staged = conn.execute(select(func.count()).where(not_(stage.c.keep))).scalar_one()
        return ApplyResult(created=created, changed=changed, deleted=deleted, unchanged=staged - created - changed)

    def _create(self, conn: Connection, at: dt.datetime, last_id: int) -> int:
        base = head(conn)
        new = and_(not_(stage.c.keep), ~exists().where(resource.c.token == stage_token))
        numbered = select(
            literal(base) + func.row_number().over(order_by=stage.c.tag), stage_token, literal(at, change.c.at.type),
            literal(None, Text), stage.c.image,
        ).where(new)
        created = _rowcount(conn, insert(change).from_select(["seq", "token", "at", "old", "new"], numbered))
        cols = ["token", "kind", "name", "lat", "lon", "elevation", "offline"]
        rows = select(*(stage.c[c] for c in cols), change.c.seq).join(stage, stage_token == change.c.token) \
            .where(change.c.seq > base).order_by(change.c.seq)
        conn.execute(insert(resource).from_select([*cols, "seq"], rows))
        spatial.index_after(conn, last_id)
        scopes = select(resource.c.id, stage_scope.c.pos, stage_scope.c.uri, stage_scope.c.key) \
            .join(stage, stage_token == resource.c.token).join(stage_scope, stage_scope.c.tag == stage.c.tag) \
            .where(resource.c.id > last_id)
        conn.execute(insert(resource_scope).from_select(["resource_id", "pos", "uri", "key"], scopes))
        return created

    @staticmethod
    def _changed(old: ColumnElement[bool]) -> Select[Any]:
        """(rid, tag) of staged rows that differ from the stored resource."""
        stored_n = select(func.count()).where(resource_scope.c.resource_id == resource.c.id).scalar_subquery()
        staged_n = select(func.count()).where(stage_scope.c.tag == stage.c.tag).scalar_subquery()
        same_scope = exists().where(and_(
            resource_scope.c.resource_id == resource.c.id, resource_scope.c.pos == stage_scope.c.pos,
            resource_scope.c.uri == stage_scope.c.uri,
        )).correlate_except(resource_scope)  # two levels down: name what it correlates to
        scope_moved = exists().where(and_(stage_scope.c.tag == stage.c.tag, ~same_scope))
        differs = or_(*(resource.c[c].is_distinct_from(stage.c[c])
                        for c in ("kind", "name", "lat", "lon", "elevation", "offline")),
                      stored_n != staged_n, scope_moved)
        return select(resource.c.id, stage.c.tag).join(stage, stage_token == resource.c.token) \
            .where(old, not_(stage.c.keep), differs)

    @staticmethod
    def _gone(old: ColumnElement[bool]) -> Select[Any]:
        """Local resources not staged; a segment's resources are its sync's to delete."""
        unstaged = ~exists().where(stage_token == resource.c.token)
        return select(resource.c.id, literal(None, Integer)).where(old, resource.c.segment.is_(None), unstaged)

    @staticmethod
    def _mark(conn: Connection, pairs: Select[Any]) -> int:
        """Put ``pairs`` (rid, tag) in the work table; how many."""
        conn.execute(delete(work))
        return _rowcount(conn, insert(work).from_select(["rid", "tag"], pairs))

    def _marked(self, conn: Connection) -> Iterator[tuple[int, Resource, Resource | None]]:
        """(rid, stored resource, staged resource or None) for the work table, a page at a time."""
        after = 0
        while True:
            page = conn.execute(
                select(work.c.rid, stage.c.image).outerjoin(stage, stage.c.tag == work.c.tag)
                .where(work.c.rid > after).order_by(work.c.rid).limit(self.batch)
            ).all()
            if not page:
                return
            in_page = select(work.c.rid).where(work.c.rid > after, work.c.rid <= page[-1].rid)
            olds = dict(records.fetch(conn, select(*records.COLUMNS).where(resource.c.id.in_(in_page))))
            for row in page:
                yield row.rid, olds[row.rid], records.decode(row.image) if row.image is not None else None
            after = page[-1].rid
