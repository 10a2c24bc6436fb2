"""The catalog: the gateway's resources, their change feed, users, pull points, segments and uplinks, in SQL.

:class:`Catalog` is the one object the rest of the gateway holds.  It is
synchronous — the CLI calls it directly, the asyncio server through
``asyncio.to_thread`` — and thread-safe: each call takes a pooled connection
for one short transaction.  Writers to the feed are serialised (feed.py), so
a pull point's cursor never misses a change that commits late.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Engine, func, select

from gateway.catalog import adaption, feed, keystore, migrate, pullpoints, records, segments, uplinks, users
from gateway.catalog.bulk import DEFAULT_BATCH, BulkLoad
from gateway.catalog.db import checkpoint, open_engine
from gateway.catalog.errors import CatalogError, DuplicateUser, PullPointLimitReached
from gateway.catalog.feed import ApplyResult
from gateway.catalog.model import KeyEntry, PullPointState, Segment, UplinkConfig, User
from gateway.catalog.schema import AFTER_ID, app_user, change, pull_point, resource, resource_scope
from gateway.catalog.where import CompiledFilter, where_clause
from gateway.query.model import ResourceQuery
from gateway.vocabulary.resource import Change, Resource, SegmentUpdate

__all__ = ["ApplyResult", "Catalog", "CatalogError", "CompiledFilter", "DuplicateUser", "PullPointLimitReached"]

#: Resources per query while iterating for export.
EXPORT_BATCH = 5_000


class Catalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Reads of several statements (rows, then their scopes) see one snapshot.  SQLite's
        # transactions always do; PostgreSQL's READ COMMITTED would not.  Writers keep READ
        # COMMITTED: their snapshot must start after they hold the feed lock (feed.py).
        self._reader = engine.execution_options(isolation_level="REPEATABLE READ") \
            if engine.dialect.name == "postgresql" else engine

    @classmethod
    def open(cls, url: str, *, autocheckpoint: bool = True, require_current: bool = False) -> Catalog:
        """Connect to ``url`` (see db.open_engine); CatalogError with a one-line reason if that fails.

        ``require_current``: the catalog must exist at this code's schema revision,
        else a :class:`~gateway.catalog.migrate.RevisionMismatch` is raised and
        nothing is written (a missing SQLite file is not created).  Without it the
        database may be empty, for :meth:`upgrade` to create the schema.
        """
        if require_current and migrate.missing_file(url):
            raise migrate.NoCatalog(migrate.shown_url(url), migrate.head())
        catalog = cls(open_engine(url, autocheckpoint=autocheckpoint))
        if require_current:
            try:
                migrate.check_revision(catalog.engine)
            except BaseException:
                catalog.close()
                raise
        return catalog

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``: what where.where_clause compiles for."""
        return self.engine.dialect.name

    def compile_filter(self, query: ResourceQuery) -> CompiledFilter:
        """``query`` (all but its ItemFilter, which has no SQL form) as a filter for :meth:`snapshot_page`."""
        return CompiledFilter(where_clause(query, self.engine.dialect.name))

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision (a no-op when it is there).

        The only call that migrates: opening with ``require_current`` only checks.
        """
        migrate.upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def checkpoint(self) -> tuple[int, int]:
        """See db.checkpoint: for a catalog opened with ``autocheckpoint=False``."""
        return checkpoint(self.engine)

    # -- resources and the change feed -------------------------------------------------

    def apply(self, upserts: Iterable[Resource] = (), deletes: Iterable[str] = ()) -> ApplyResult:
        """Upsert then delete, in one transaction, appending a change row per real change."""
        return feed.apply(self.engine, upserts, deletes)

    def bulk_load(self, *, replace: bool, batch: int = DEFAULT_BATCH,
                  progress: Callable[[int], None] | None = None) -> BulkLoad:
        """A staged import to fill with add()/keep() and write with commit() (bulk.py)."""
        return BulkLoad(self.engine, replace=replace, batch=batch, progress=progress)

    def import_resources(self, resources: Iterable[Resource], *, replace: bool, batch: int = DEFAULT_BATCH,
                         progress: Callable[[int], None] | None = None) -> ApplyResult:
        """Make the catalog's local resources ``resources`` (with ``replace``, and no others).

        The bulk path: memory stays bounded whatever the input size, identical
        rows write nothing, and every real change gets its change row.  A
        token given twice, or one with a prefix a segment has claimed, raises
        CatalogError and nothing is written.
        """
        with self.bulk_load(replace=replace, batch=batch, progress=progress) as load:
            for position, r in enumerate(resources, start=1):
                load.add(r, position)
            repeated = load.duplicates()
            if repeated:
                shown = ", ".join(f"{d.token!r} (items {d.first} and {d.tag})" for d in repeated[:3])
                raise CatalogError(f"{len(repeated)} repeated tokens, e.g. {shown}; nothing imported")
            claimed = load.claimed()
            if claimed:
                shown = ", ".join(f"{c.token!r} (item {c.tag}, segment {c.segment!r})" for c in claimed[:3])
                raise CatalogError(f"{len(claimed)} tokens with a prefix a segment has claimed, e.g. {shown}; "
                                   "nothing imported")
            return load.commit()

    def get(self, token: str) -> Resource | None:
        with self._reader.connect() as conn:
            found = records.by_tokens(conn, [token])
        return found[token][1] if found else None

    def head_seq(self) -> int:
        """The feed position of the newest change (0 for an empty feed)."""
        with self.engine.connect() as conn:
            return feed.head(conn)

    def snapshot_page(self, compiled: CompiledFilter, after_id: int, limit: int) -> list[tuple[int, Resource]]:
        """Resources ``compiled`` selects with id > ``after_id``, by id: (id, resource)."""
        where = compiled.where
        stmt = select(*records.COLUMNS).where(where, resource.c.id > AFTER_ID).order_by(resource.c.id).limit(limit)
        with self._reader.connect() as conn:
            return records.fetch(conn, stmt.params(after_id=after_id))

    def changes_after(self, seq: int, limit: int) -> list[Change]:
        """Up to ``limit`` change rows with seq > ``seq``, in feed order."""
        with self.engine.connect() as conn:
            return feed.changes_after(conn, seq, limit)

    def iter_resources(self, batch: int = EXPORT_BATCH) -> Iterator[Resource]:
        """Every resource, by token, from one consistent snapshot of the catalog."""
        with self._reader.connect() as conn, conn.begin():
            after: str | None = None
            while True:
                stmt = select(*records.COLUMNS).order_by(resource.c.token).limit(batch)
                if after is not None:
                    stmt = stmt.where(resource.c.token > after)
                page = records.fetch(conn, stmt)
                yield from (r for _, r in page)
                if len(page) < batch:
                    return
                after = page[-1][1].token

    def stats(self) -> dict[str, Any]:
        """Counts for ``vmsgw catalog stats``, from one snapshot."""
        count = func.count()
        with self._reader.connect() as conn, conn.begin():
            by_kind: dict[str, int] = dict(conn.execute(select(resource.c.kind, count).group_by(resource.c.kind)).all())
            return {
                "resources": sum(by_kind.values()),
                "by_kind": dict(sorted(by_kind.items())),
                "with_location": conn.execute(select(count).where(resource.c.lat.is_not(None))).scalar_one(),
                "offline": conn.execute(select(count).where(resource.c.offline.is_(True))).scalar_one(),
                "scopes": conn.execute(select(count).select_from(resource_scope)).scalar_one(),
                "head_seq": feed.head(conn),
                "feed_rows": conn.execute(select(count).select_from(change)).scalar_one(),
                "pull_points": conn.execute(select(count).select_from(pull_point)).scalar_one(),
                "users": conn.execute(select(count).select_from(app_user)).scalar_one(),
            }

    def prune_feed(self) -> int:
        """Delete change rows no pull point needs any more; how many."""
        return feed.prune(self.engine)

    # -- users ----------------------------------------------------------------------------

    def add_user(self, name: str, level: str, password: str, *, replace: bool = False) -> None:
        """Level is Administrator, Operator or User; an existing name needs ``replace``."""
        users.add_user(self.engine, name, level, password, replace=replace)

    def get_user(self, name: str) -> User | None:
        return users.get_user(self.engine, name)

    def list_users(self) -> list[User]:
        return users.list_users(self.engine)

    def delete_user(self, name: str) -> bool:
        return users.delete_user(self.engine, name)

    # -- pull points ----------------------------------------------------------------------

    def create_pull_point(self, state: PullPointState, *, max_count: int) -> None:
        """Store a new pull point; PullPointLimitReached when ``max_count`` live ones exist."""
        pullpoints.create(self.engine, state, max_count=max_count)

    def load_pull_point(self, pp_id: str) -> PullPointState | None:
        return pullpoints.load(self.engine, pp_id)

    def save_pull_point(self, state: PullPointState) -> bool:
        """Store phase, cursors and termination; False when the pull point is gone."""
        return pullpoints.save(self.engine, state)

    def delete_pull_point(self, pp_id: str) -> bool:
        return pullpoints.remove(self.engine, pp_id)

    def count_pull_points(self) -> int:
        return pullpoints.count(self.engine)

    def delete_expired_pull_points(self, now: dt.datetime) -> int:
        """Remove pull points whose termination time is at or before ``now``; how many."""
        return pullpoints.remove_expired(self.engine, now)

    # -- segments (segments.py, mirror.py) --------------------------------------------------

    def add_segment(self, segment: Segment, *, replace: bool = False) -> None:
        """Store a segment's configuration; an existing name needs ``replace`` (its sync state is kept)."""
        segments.add(self.engine, segment, replace=replace)

    def get_segment(self, name: str) -> Segment | None:
        return segments.get(self.engine, name)

    def list_segments(self) -> list[Segment]:
        """Every segment, by name."""
        return segments.list_all(self.engine)

    def remove_segment(self, name: str) -> int:
        """Delete a segment and its resources (Deleted change rows); how many resources went."""
        return segments.remove(self.engine, name)

    def segment_begin_sync(self, name: str) -> int:
        """A (re)subscription begins: the new sync generation."""
        return segments.begin_sync(self.engine, name)

    def segment_apply(self, name: str, generation: int, updates: list[SegmentUpdate]) -> ApplyResult:
        """Apply a batch of the segment's resource events under this gateway's tokens."""
        return segments.apply(self.engine, name, generation, updates)

    def segment_reconcile(self, name: str, generation: int) -> int:
        """Delete the segment's resources not re-announced in ``generation``; how many."""
        return segments.reconcile(self.engine, name, generation)

    def segment_set_reachable(self, name: str, reachable: bool, *, error: str | None, now: dt.datetime) -> int:
        """Record a pull's outcome; how many resources changed their published ``offline``."""
        return segments.set_reachable(self.engine, name, reachable, error=error, now=now)

    def segment_rejected(self, name: str, count: int, example: str) -> None:
        """Count items the segment sent that could not be read; ``example`` becomes its last error."""
        segments.rejected(self.engine, name, count, example)

    def segment_status(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Per segment, by name: state, resources, last_seen, lag_seconds, last_error, rejected,
        generation, remapped_prefixes and collisions."""
        return segments.status(self.engine, now or dt.datetime.now(dt.UTC))

    # -- token adaption for the media and PTZ proxies (adaption.py) -------------------------

    def resolve_tokens(self, tokens: Iterable[str]) -> dict[str, adaption.Target]:
        """Where each remote token leads; ForeignToken or LocalToken for the first that leads nowhere."""
        return adaption.resolve(self.engine, tokens)

    def device_prefix(self, segment: str) -> str | None:
        """The prefix a device segment's sync gave its tokens; None before its first sync."""
        return adaption.device_prefix(self.engine, segment)

    def adapt_tokens(self, segment: str, segment_tokens: Iterable[str]) -> dict[str, str]:
        """This gateway's token for each of a segment's tokens (BadSegmentToken for an invalid one)."""
        return adaption.adapt(self.engine, segment, segment_tokens)

    # -- uplinks and their keystore (uplinks.py, keystore.py) ------------------------------

    def set_uplink(self, cfg: UplinkConfig, *, max_uplinks: int) -> None:
        """Create or update the configuration at its remote address; UplinkRefused names a broken rule."""
        uplinks.set_uplink(self.engine, cfg, max_uplinks=max_uplinks)

    def get_uplinks(self) -> list[UplinkConfig]:
        """Every uplink configuration with its status, by remote address."""
        return uplinks.get_uplinks(self.engine)

    def delete_uplink(self, remote_address: str) -> bool:
        return uplinks.delete_uplink(self.engine, remote_address)

    def set_uplink_status(self, remote_address: str, status: str, error: str | None) -> None:
        """Offline, Connecting or Connected, with a readable error or None."""
        uplinks.set_uplink_status(self.engine, remote_address, status, error)

    def add_key(self, entry: KeyEntry, *, replace: bool = False) -> None:
        """Store a checked keystore entry; an existing id needs ``replace``."""
        keystore.add(self.engine, entry, replace=replace)

    def get_key(self, key_id: str) -> KeyEntry | None:
        return keystore.get(self.engine, key_id)

    def list_keys(self) -> list[KeyEntry]:
        """Every keystore entry, by id, secrets included: never print them."""
        return keystore.list_all(self.engine)

    def delete_key(self, key_id: str) -> bool:
        """Remove an entry; KeyInUse while an uplink references it."""
        return keystore.remove(self.engine, key_id)

    def find_segment_by_uplink_identity(self, identity: str) -> Segment | None:
        return uplinks.find_segment_by_uplink_identity(self.engine, identity)

    def find_segment_by_uplink_token(self, token: str) -> Segment | None:
        return uplinks.find_segment_by_uplink_token(self.engine, token)

    def set_segment_uplink(self, name: str, identity: str | None, token: str | None) -> None:
        """How segment ``name`` is recognised when it connects through an uplink (None: not that way)."""
        uplinks.set_segment_uplink(self.engine, name, identity, token)
