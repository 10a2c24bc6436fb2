"""The change feed: every change to a resource, numbered in commit order (docs/decisions.md §5).

Theory of operation.  A pull point is a cursor: it reads "changes with seq >
n".  That is only sound if no change can ever commit later with a seq at or
below a position some cursor has already passed.  So writers are serialised:
every transaction that appends to the feed first takes the writer lock
(:func:`gateway.catalog.db.write_transaction`: SQLite ``BEGIN IMMEDIATE``,
PostgreSQL ``pg_advisory_xact_lock(FEED_LOCK)``), then numbers its changes
from the current head.  Seq order therefore equals commit order, and MVCC
readers see a prefix of the feed, never a feed with holes that fill later.

Rules.  (1) seq is assigned here, as head + 1, while holding the lock — not
by a database sequence, whose values are handed out at insert time rather
than at commit.  (2) A write that changes nothing appends nothing.  (3)
:func:`prune` always keeps the newest row, so ``max(seq)`` stays the true
head and seq never goes back after pruning.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, select

from gateway.catalog import records, rows, spatial
from gateway.catalog.db import write_transaction
from gateway.catalog.schema import change, pull_point, resource, resource_scope
from gateway.vocabulary.resource import Change, Resource

#: pg_advisory_xact_lock key of feed writers (ASCII "gw-feed").
FEED_LOCK = 0x67772D66656564
#: Resources looked up per query while applying a batch of upserts or deletes.
APPLY_CHUNK = 500


@dataclass(frozen=True)
class ApplyResult:
    created: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    refused: int = 0  # segment updates that could not be applied (segments.py counts them as rejected)


def head(conn: Connection) -> int:
    """The seq of the newest change; 0 for an empty feed."""
    return int(conn.execute(select(func.coalesce(func.max(change.c.seq), 0))).scalar_one())


@dataclass(frozen=True)
class Write:
    """One change of a batch: a create (no ``old``), an update (both), or a delete (no ``new``).

    ``rid`` is the stored row of an update or a delete; ``columns`` fills the
    resource's federation columns (segments.py) on a create or an update.
    """

    old: Resource | None
    new: Resource | None
    rid: int | None = None
    columns: Mapping[str, Any] = field(default_factory=dict)

    @property
    def token(self) -> str:
        r = self.new if self.new is not None else self.old
        assert r is not None, "a write creates, updates or deletes"
        return r.token


_CHANGE_COLUMNS = ("seq", "token", "at", "old", "new")
#: A resource row as FeedWriter writes it: the Resource, then its feed position.
_RESOURCE_COLUMNS = (*records.ROW_COLUMNS, "seq")
#: What ``Write.columns`` may set (segments.py); a created row leaves the ones not given NULL.
_FEDERATION_COLUMNS = ("segment", "segment_token", "reported_offline", "sync_gen")


def _ids(conn: Connection, tokens: Sequence[str]) -> dict[str, int]:
    """token -> id of the stored ``tokens``: executemany cannot RETURNING on SQLite."""
    out: dict[str, int] = {}
    for chunk in records.chunks(tokens, records.IN_CHUNK):
        out.update((token, rid) for token, rid in conn.execute(
            select(resource.c.token, resource.c.id).where(resource.c.token.in_(chunk))))
    return out


def _scope_rows(stored: Iterable[tuple[int, Resource]]) -> list[tuple[Any, ...]]:
    return [row for rid, r in stored for row in records.scope_rows(rid, r)]


class FeedWriter:
    """Writes resources and their change rows inside one locked transaction, a batch at a time.

    A batch is a handful of executemany statements whatever its size, sent
    through rows.py: per-row work in SQLAlchemy was most of a sync's cost.
    """

    def __init__(self, conn: Connection, at: dt.datetime) -> None:
        self.conn = conn
        self.at = records.aware(at)
        self._at_stored = rows.stored(conn, change.c.at, self.at)
        self.seq = head(conn)

    def write(self, writes: Sequence[Write]) -> None:
        """Apply ``writes``, numbered in their order; a token may appear once per call (no write reads another)."""
        if not writes:
            return
        first, self.seq = self.seq + 1, self.seq + len(writes)
        numbered = list(enumerate(writes, first))
        at, encode = self._at_stored, records.encode
        rows.insert(self.conn, change, _CHANGE_COLUMNS, [
            (seq, w.token, at, encode(w.old) if w.old is not None else None,
             encode(w.new) if w.new is not None else None)
            for seq, w in numbered
        ])
        gone = [w.rid for w in writes if w.new is None and w.rid is not None]
        spatial.unindex(self.conn, gone)
        for chunk in records.chunks(gone, records.IN_CHUNK):
            self.conn.execute(delete(resource).where(resource.c.id.in_(chunk)))  # scopes cascade
        self._create([(seq, w) for seq, w in numbered if w.old is None])
        self._update([(seq, w) for seq, w in numbered if w.old is not None and w.new is not None])

    def _create(self, items: list[tuple[int, Write]]) -> None:
        if not items:
            return
        rows.insert(self.conn, resource, _RESOURCE_COLUMNS + _FEDERATION_COLUMNS, [
            records.row(w.new) + (seq, *(w.columns.get(c) for c in _FEDERATION_COLUMNS))
            for seq, w in items if w.new is not None])
        ids = _ids(self.conn, [w.token for _, w in items])
        created = [(ids[w.new.token], w.new) for _, w in items if w.new is not None]
        spatial.index(self.conn, [(rid, r.lat, r.lon) for rid, r in created])
        rows.insert(self.conn, resource_scope, records.SCOPE_COLUMNS, _scope_rows(created))

    def _update(self, items: list[tuple[int, Write]]) -> None:
        if not items:
            return
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for seq, w in items:  # one statement per set of federation columns the writes set
            if w.new is not None and w.rid is not None:
                keys = tuple(sorted(w.columns))
                groups.setdefault(keys, []).append(records.row(w.new) + (seq, *(w.columns[k] for k in keys), w.rid))
        for keys, group in groups.items():
            rows.update(self.conn, resource, _RESOURCE_COLUMNS + keys, "id", group)
        moved = [(w.rid, w.new) for _, w in items if w.rid is not None and w.new is not None and w.old is not None
                 and (w.old.lat, w.old.lon) != (w.new.lat, w.new.lon)]
        spatial.unindex(self.conn, [rid for rid, _ in moved])
        spatial.index(self.conn, [(rid, r.lat, r.lon) for rid, r in moved])
        rescoped = [(w.rid, w.new) for _, w in items
                    if w.rid is not None and w.new is not None and w.old is not None and w.old.scopes != w.new.scopes]
        for chunk in records.chunks([rid for rid, _ in rescoped], records.IN_CHUNK):
            self.conn.execute(delete(resource_scope).where(resource_scope.c.resource_id.in_(chunk)))
        rows.insert(self.conn, resource_scope, records.SCOPE_COLUMNS, _scope_rows(rescoped))


def apply(engine: Engine, upserts: Iterable[Resource], deletes: Iterable[str]) -> ApplyResult:
    """Upsert then delete, in one locked transaction; one change row per real change.

    A token repeated in ``upserts`` is applied in order; deleting an absent
    token does nothing.  Invalid resources raise CatalogError before any write.
    """
    wanted, gone = list(upserts), list(dict.fromkeys(deletes))
    for r in wanted:
        records.check(r)
    created = changed = deleted = unchanged = 0
    with write_transaction(engine, FEED_LOCK) as conn:
        writer = FeedWriter(conn, dt.datetime.now(dt.UTC))
        for run in records.distinct_runs(wanted, lambda r: r.token, APPLY_CHUNK):
            current = records.by_tokens(conn, [r.token for r in run])
            writes = []
            for new in run:
                found = current.get(new.token)
                if found is None:
                    writes.append(Write(None, new))
                    created += 1
                elif found[1] == new:
                    unchanged += 1
                else:
                    writes.append(Write(found[1], new, found[0]))
                    changed += 1
            writer.write(writes)
        for tokens in records.chunks(gone, APPLY_CHUNK):
            stored = records.by_tokens(conn, tokens).values()
            writer.write([Write(old, None, rid) for rid, old in stored])
            deleted += len(stored)
    return ApplyResult(created=created, changed=changed, deleted=deleted, unchanged=unchanged)


def changes_after(conn: Connection, seq: int, limit: int) -> list[Change]:
    stmt = select(change).where(change.c.seq > seq).order_by(change.c.seq).limit(limit)
    return [
        Change(
            seq=row.seq, token=row.token, at=records.utc(row.at),
            old=records.decode(row.old) if row.old is not None else None,
            new=records.decode(row.new) if row.new is not None else None,
        )
        for row in conn.execute(stmt)
    ]


def prune(engine: Engine) -> int:
    """Delete the change rows no pull point still needs; how many went.

    A pull point in its snapshot phase will tail from ``snap_seq``, one in its
    tail phase from ``tail_seq``; rows at or below the smallest of those are
    never read again.  The newest row stays (rule 3).
    """
    needed = func.min(case((pull_point.c.phase == "snapshot", pull_point.c.snap_seq), else_=pull_point.c.tail_seq))
    with write_transaction(engine, FEED_LOCK) as conn:
        newest = head(conn)
        floor = conn.execute(select(needed)).scalar_one()
        bound = newest - 1 if floor is None else min(floor, newest - 1)
        return int(conn.execute(delete(change).where(change.c.seq <= bound)).rowcount)
