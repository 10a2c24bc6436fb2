"""The change feed: every change to a resource, numbered in commit order (DESIGN decision 5).

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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, select, update

from gateway.catalog import records
from gateway.catalog.db import write_transaction
from gateway.catalog.model import Change, Resource
from gateway.catalog.schema import change, pull_point, resource, resource_scope

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


class FeedWriter:
    """Writes resources and their change rows inside one locked transaction."""

    def __init__(self, conn: Connection, at: dt.datetime) -> None:
        self.conn = conn
        self.at = records.aware(at)
        self.seq = head(conn)

    def _append(self, token: str, old: Resource | None, new: Resource | None) -> int:
        self.seq += 1
        self.conn.execute(insert(change).values(
            seq=self.seq, token=token, at=self.at,
            old=records.encode(old) if old is not None else None,
            new=records.encode(new) if new is not None else None,
        ))
        return self.seq

    def create(self, new: Resource, **columns: Any) -> int:
        """Insert ``new``; ``columns`` fills the resource's federation columns (segments.py)."""
        seq = self._append(new.token, None, new)
        rid: int = self.conn.execute(
            insert(resource).values(**records.values(new), **columns, seq=seq).returning(resource.c.id)
        ).scalar_one()
        if new.scopes:
            self.conn.execute(insert(resource_scope), records.scope_rows(rid, new))
        return rid

    def update(self, rid: int, old: Resource, new: Resource, **columns: Any) -> None:
        seq = self._append(new.token, old, new)
        self.conn.execute(
            update(resource).where(resource.c.id == rid).values(**records.values(new), **columns, seq=seq))
        if old.scopes != new.scopes:
            self.conn.execute(delete(resource_scope).where(resource_scope.c.resource_id == rid))
            if new.scopes:
                self.conn.execute(insert(resource_scope), records.scope_rows(rid, new))

    def delete(self, rid: int, old: Resource) -> None:
        self._append(old.token, old, None)
        self.conn.execute(delete(resource).where(resource.c.id == rid))  # scopes cascade


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
        writer = FeedWriter(conn, dt.datetime.now(dt.timezone.utc))
        for chunk in records.chunks(wanted, APPLY_CHUNK):
            current = records.by_tokens(conn, {r.token for r in chunk})
            for new in chunk:
                found = current.get(new.token)
                if found is None:
                    current[new.token] = (writer.create(new), new)
                    created += 1
                elif found[1] == new:
                    unchanged += 1
                else:
                    writer.update(found[0], found[1], new)
                    current[new.token] = (found[0], new)
                    changed += 1
        for tokens in records.chunks(gone, APPLY_CHUNK):
            for rid, old in records.by_tokens(conn, tokens).values():
                writer.delete(rid, old)
                deleted += 1
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
