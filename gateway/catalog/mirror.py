"""A segment's resources in the catalog: its events applied, reconciled, and its health published.

Theory of operation.  A resource of a segment is stored under this
gateway's token — the segment's device prefix mapped through prefixes.py,
then ``:`` and the local part of context.local_part — and keyed by (segment,
segment token).  Every write goes through the feed's FeedWriter inside the
writer lock, so pull points above see each real change as a change row.

Rules.  (1) Initialized replaces the stored resource (an absent item is
unknown); Changed merges the items present into it, and is an Initialized
when nothing is stored; Deleted deletes, and deleting nothing is no change.
(2) The published ``offline`` is True while the segment is down, else what
the segment reports (``reported_offline``); both are stored, so either side
can change without losing the other.  (3) Re-applying an update writes no
change row; it only marks the resource as announced in the current sync
generation (``sync_gen``), which reconcile() relies on.  (4) An update that
cannot be applied — a token refused by the context rules, an item outside
the schema, a token held by a local resource or by another of the segment's
tokens — is skipped and counted, never written.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from sqlalchemy import ColumnElement, Connection, select

from gateway.addressing.context import local_part, parse_segment_token
from gateway.addressing.tokens import SEPARATOR, TokenError
from gateway.catalog import records, rows
from gateway.catalog.errors import CatalogError
from gateway.catalog.feed import ApplyResult, FeedWriter, Write
from gateway.catalog.prefixes import PrefixClaims
from gateway.catalog.schema import resource
from gateway.vocabulary.resource import Operation, Resource, SegmentUpdate

#: Updates handled per lookup of the stored resources.
APPLY_CHUNK = 500
#: Resources loaded per page when a whole segment is rewritten or deleted.
PAGE = records.IN_CHUNK

_FEDERATION = (resource.c.id, resource.c.segment, resource.c.segment_token, resource.c.reported_offline,
               resource.c.sync_gen)


@dataclasses.dataclass
class Stored:
    """A stored resource with its federation columns."""

    id: int
    resource: Resource
    segment: str | None
    segment_token: str | None
    reported: bool | None
    sync_gen: int | None


def load(conn: Connection, where: ColumnElement[bool], limit: int | None = None) -> list[Stored]:
    """The resources matching ``where``, by id (at most ``limit``)."""
    stmt = select(*records.COLUMNS).where(where).order_by(resource.c.id).limit(limit)
    found = records.fetch(conn, stmt)
    if not found:
        return []
    extra = {row.id: row for row in conn.execute(select(*_FEDERATION).where(resource.c.id.in_([i for i, _ in found])))}
    return [Stored(id=i, resource=r, segment=extra[i].segment, segment_token=extra[i].segment_token,
                   reported=extra[i].reported_offline, sync_gen=extra[i].sync_gen) for i, r in found]


def pages(conn: Connection, where: ColumnElement[bool]) -> Iterator[list[Stored]]:
    """``load`` a page at a time, by id; the caller may change or delete each page's rows."""
    after = 0
    while page := load(conn, where & (resource.c.id > after), PAGE):
        yield page
        after = page[-1].id


def merged(token: str, update_: SegmentUpdate, base: Resource | None, offline: bool | None) -> Resource:
    """The resource ``update_`` describes: over ``base`` for a Changed (Rule 1)."""
    if base is None:
        base = Resource(token=token, kind=update_.kind)
    lat, lon, elevation = update_.location if update_.location is not None else (base.lat, base.lon, base.elevation)
    return Resource(
        token=token, kind=update_.kind, name=update_.name if update_.name is not None else base.name,
        lat=lat, lon=lon, elevation=elevation,
        scopes=update_.scopes if update_.scopes is not None else base.scopes, offline=offline,
    )


class Mirror:
    """Applies one batch of a segment's updates inside the writer's transaction."""

    def __init__(self, writer: FeedWriter, segment: str, generation: int, down: bool) -> None:
        self.writer, self.segment, self.generation, self.down = writer, segment, generation, down
        self.claims = PrefixClaims(writer.conn, segment)
        self.counts = dict.fromkeys(("created", "changed", "deleted", "unchanged", "refused"), 0)
        self.example: str | None = None  # why the first refused update was refused

    def result(self) -> ApplyResult:
        return ApplyResult(**self.counts)

    def apply(self, updates: Sequence[SegmentUpdate]) -> None:
        for chunk in records.chunks(updates, APPLY_CHUNK):
            parsed: list[tuple[SegmentUpdate, str, str]] = []
            for u in chunk:
                try:
                    parsed.append((u, *parse_segment_token(u.token)))
                except TokenError as err:
                    self._refuse(f"token {u.token[:80]!r} refused: {err}")
            self.claims.load(remote_prefix for _, remote_prefix, _ in parsed)
            self.claims.claim(remote_prefix for u, remote_prefix, _ in parsed if u.operation is not Operation.DELETED)
            targets: list[tuple[SegmentUpdate, str]] = []
            for u, remote_prefix, local in parsed:
                token = self._token(u, remote_prefix, local)
                if token is None:
                    self.counts["unchanged"] += 1  # a Deleted for a device never seen: nothing to delete
                else:
                    targets.append((u, token))
            for run in records.distinct_runs(targets, lambda target: target[1], APPLY_CHUNK):
                self._run(run)

    def _token(self, u: SegmentUpdate, remote_prefix: str, local: str) -> str | None:
        """This gateway's token for ``u``; None for a Deleted of a device prefix never claimed (nor claimed now)."""
        prefix = self.claims.local(remote_prefix, claim=u.operation is not Operation.DELETED)
        return prefix + SEPARATOR + local_part(local, u.token) if prefix is not None else None

    def _refuse(self, why: str) -> None:
        self.counts["refused"] += 1
        self.example = self.example or why

    def _run(self, run: list[tuple[SegmentUpdate, str]]) -> None:
        """Updates of distinct tokens: one lookup of what is stored, diffs here, one batch of writes."""
        stored = {s.resource.token: s for s in load(self.writer.conn, resource.c.token.in_([t for _, t in run]))}
        writes: list[Write] = []
        marks: list[tuple[bool | None, int, int]] = []
        for u, token in run:
            self._one(u, token, stored.get(token), writes, marks)
        self.writer.write(writes)
        rows.update(self.writer.conn, resource, ("reported_offline", "sync_gen"), "id", marks)

    def _one(self, u: SegmentUpdate, token: str, found: Stored | None, writes: list[Write],
             marks: list[tuple[bool | None, int, int]]) -> None:
        if found is not None and (found.segment, found.segment_token) != (self.segment, u.token):
            self._refuse(f"token {u.token!r} maps to {token!r}, which another resource holds")
            return
        if u.operation is Operation.DELETED:
            if found is None:
                self.counts["unchanged"] += 1
            else:
                writes.append(Write(found.resource, None, found.id))
                self.counts["deleted"] += 1
            return
        base = found if u.operation is Operation.CHANGED else None
        reported = base.reported if base is not None and u.offline is None else u.offline
        new = merged(token, u, base.resource if base is not None else None, True if self.down else reported)
        try:
            records.check(new)
        except CatalogError as err:
            self._refuse(str(err))
            return
        columns = {"reported_offline": reported, "sync_gen": self.generation}
        if found is None:
            writes.append(Write(None, new, columns={**columns, "segment": self.segment, "segment_token": u.token}))
            self.counts["created"] += 1
        elif new != found.resource:
            writes.append(Write(found.resource, new, found.id, columns))  # this write sets both columns
            self.counts["changed"] += 1
        else:
            self.counts["unchanged"] += 1
            if (found.reported, found.sync_gen) != (reported, self.generation):
                marks.append((reported, self.generation, found.id))


def publish_offline(writer: FeedWriter, segment: str, down: bool) -> int:
    """Rewrite the published ``offline`` of the segment's resources for its new health (Rule 2); how many."""
    desired = resource.c.offline.is_not(True) if down else resource.c.offline.is_distinct_from(
        resource.c.reported_offline)
    changed = 0
    for page in pages(writer.conn, (resource.c.segment == segment) & desired):
        writer.write([Write(s.resource, dataclasses.replace(s.resource, offline=True if down else s.reported), s.id)
                      for s in page])
        changed += len(page)
    return changed


def delete_where(writer: FeedWriter, where: ColumnElement[bool]) -> int:
    """Delete the resources matching ``where``, each with its change row; how many."""
    deleted = 0
    for page in pages(writer.conn, where):
        writer.write([Write(s.resource, None, s.id) for s in page])
        deleted += len(page)
    return deleted
