"""Downstream segments: their configuration, their sync state, and what ``vmsgw segment status`` shows.

Theory of operation.  ``vmsgw segment`` writes the configuration; the
supervisor of a running gateway reads it and runs one sync task per segment
(gateway.federation), which drives the state through the calls below.  The
resource side of each call is mirror.py's, inside the feed writer's lock.

States.  ``new`` until the first subscription; ``syncing`` from a
(re)subscription (:func:`begin_sync`, which bumps the generation) to the
first pull that succeeds; ``up`` while pulls succeed; ``down`` when one
fails.  A ``down`` segment stays down through :func:`begin_sync`: its
resources stay offline until a pull succeeds, so a segment that accepts a
subscription and then fails its pulls does not flap them.  Crossing into or
out of ``down`` rewrites the published ``offline`` of its resources.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.addressing.context import MAX_KEPT_PREFIX
from gateway.addressing.tokens import TokenError, validate_prefix
from gateway.catalog import mirror, records
from gateway.catalog.db import write_transaction
from gateway.catalog.errors import CatalogError, DuplicateSegment, UnknownSegment
from gateway.catalog.feed import FEED_LOCK, ApplyResult, FeedWriter
from gateway.catalog.model import DEVICE, KINDS, Segment
from gateway.catalog.prefixes import has_prefix
from gateway.catalog.schema import prefix_map, resource, segment
from gateway.vocabulary.resource import SegmentUpdate

#: Segment names: what fits the column and reads well in logs, URLs and file names.
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: The longest heartbeat (PullMessages Timeout) accepted, in seconds.
MAX_HEARTBEAT = 300.0
#: The longest error text kept for ``segment status``.
MAX_ERROR = 500
NEW, SYNCING, UP, DOWN = "new", "syncing", "up", "down"
#: The columns ``add_segment(replace=True)`` overwrites; the sync state is kept.
CONFIG = ("url", "user", "password", "verify_tls", "ca_file", "heartbeat", "kind", "device_prefix")


def check(s: Segment) -> None:
    """CatalogError unless ``s`` is a configuration the sync can use."""
    if not NAME.fullmatch(s.name):
        raise CatalogError(f"segment name {s.name!r} must be 1 to 64 of the characters A-Z a-z 0-9 . _ -")
    if not (math.isfinite(s.heartbeat) and 0 < s.heartbeat <= MAX_HEARTBEAT):
        raise CatalogError(f"segment {s.name!r}: heartbeat {s.heartbeat} must be more than 0 and at most "
                           f"{MAX_HEARTBEAT:g} seconds")
    if s.kind not in KINDS:
        raise CatalogError(f"segment {s.name!r}: kind {s.kind!r} is not one of {', '.join(KINDS)}")
    if s.kind != DEVICE and (s.device_prefix is not None or s.location is not None):
        raise CatalogError(f"segment {s.name!r}: only a device segment takes a device prefix or a location")
    if s.device_prefix is not None:
        try:
            validate_prefix(s.device_prefix)
        except TokenError as err:
            raise CatalogError(f"segment {s.name!r}: device prefix {s.device_prefix!r}: {err}") from None
        if len(s.device_prefix) > MAX_KEPT_PREFIX:
            raise CatalogError(f"segment {s.name!r}: device prefix {s.device_prefix!r} is longer than "
                               f"{MAX_KEPT_PREFIX} characters")
    if s.location is not None and not _valid_location(*s.location):
        raise CatalogError(f"segment {s.name!r}: location {s.location} is not WGS84 degrees (and metres)")
    # An uplink may grant the level itself: then the segment has no login, neither user nor password.
    for what in ("url",) if s.uplinked and not (s.user or s.password) else ("url", "user", "password"):
        if not getattr(s, what):
            raise CatalogError(f"segment {s.name!r} needs a non-empty {what}")


def _valid_location(lat: float, lon: float, elevation: float | None) -> bool:
    finite = all(math.isfinite(v) for v in (lat, lon, *(() if elevation is None else (elevation,))))
    return finite and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0


def _segment(row: Row[Any]) -> Segment:
    return Segment(
        name=row.name, url=row.url, user=row.user, password=row.password, verify_tls=row.verify_tls,
        ca_file=row.ca_file, heartbeat=row.heartbeat, state=row.state,
        last_seen=records.utc(row.last_seen) if row.last_seen is not None else None,
        last_error=row.last_error, generation=row.generation, rejected=row.rejected,
        uplink_identity=row.uplink_identity, uplink_token=row.uplink_token_sha256 is not None,
        kind=row.kind, device_prefix=row.device_prefix,
        location=(row.lat, row.lon, row.elevation) if row.lat is not None and row.lon is not None else None,
    )


def add(engine: Engine, s: Segment, *, replace: bool) -> None:
    check(s)
    lat, lon, elevation = s.location if s.location is not None else (None, None, None)
    config = {**{c: getattr(s, c) for c in CONFIG}, "lat": lat, "lon": lon, "elevation": elevation}
    try:
        with engine.begin() as conn:
            if replace and conn.execute(update(segment).where(segment.c.name == s.name).values(**config)).rowcount:
                return
            conn.execute(insert(segment).values(
                name=s.name, **config, state=NEW, generation=0, rejected=0,
                created=dt.datetime.now(dt.UTC)))
    except IntegrityError:  # the primary key: a segment of that name exists
        raise DuplicateSegment(f"segment {s.name!r} exists; replace it explicitly") from None


def get(engine: Engine, name: str) -> Segment | None:
    with engine.connect() as conn:
        row = conn.execute(select(segment).where(segment.c.name == name)).first()
    return _segment(row) if row is not None else None


def list_all(engine: Engine) -> list[Segment]:
    with engine.connect() as conn:
        return [_segment(row) for row in conn.execute(select(segment).order_by(segment.c.name))]


def _current(conn: Connection, name: str, generation: int | None = None) -> Row[Any]:
    """The segment's row; UnknownSegment if gone, CatalogError if ``generation`` is not the current one."""
    row = conn.execute(select(segment).where(segment.c.name == name)).first()
    if row is None:
        raise UnknownSegment(f"no segment named {name!r}")
    if generation is not None and generation != row.generation:
        raise CatalogError(f"segment {name!r}: sync generation {generation} was superseded by {row.generation}")
    return row


def remove(engine: Engine, name: str) -> int:
    """Delete the segment and its resources (Deleted change rows); its prefix mapping stays."""
    with write_transaction(engine, FEED_LOCK) as conn:
        _current(conn, name)
        deleted = mirror.delete_where(FeedWriter(conn, dt.datetime.now(dt.UTC)), resource.c.segment == name)
        conn.execute(delete(segment).where(segment.c.name == name))
    return deleted


def begin_sync(engine: Engine, name: str) -> int:
    """A (re)subscription: the next generation; a ``down`` segment stays down (module docstring)."""
    with write_transaction(engine, FEED_LOCK) as conn:
        row = _current(conn, name)
        generation = int(row.generation) + 1
        state = DOWN if row.state == DOWN else SYNCING
        conn.execute(update(segment).where(segment.c.name == name).values(generation=generation, state=state))
    return generation


def apply(engine: Engine, name: str, generation: int, updates: Sequence[SegmentUpdate]) -> ApplyResult:
    with write_transaction(engine, FEED_LOCK) as conn:
        row = _current(conn, name, generation)
        batch = mirror.Mirror(FeedWriter(conn, dt.datetime.now(dt.UTC)), name, generation, row.state == DOWN)
        batch.apply(updates)
        if batch.example is not None:
            conn.execute(update(segment).where(segment.c.name == name).values(
                rejected=segment.c.rejected + batch.counts["refused"], last_error=batch.example[:MAX_ERROR]))
    return batch.result()


def reconcile(engine: Engine, name: str, generation: int) -> int:
    """Delete the segment's resources not announced since ``generation`` began; how many."""
    with write_transaction(engine, FEED_LOCK) as conn:
        _current(conn, name, generation)
        stale = resource.c.sync_gen.is_(None) | (resource.c.sync_gen < generation)
        return mirror.delete_where(FeedWriter(conn, dt.datetime.now(dt.UTC)),
                                   (resource.c.segment == name) & stale)


def set_reachable(engine: Engine, name: str, reachable: bool, *, error: str | None, now: dt.datetime) -> int:
    """Record a pull's outcome; when the segment enters or leaves ``down``, republish ``offline``."""
    now = records.aware(now)
    if reachable:  # the common case, after every pull: one UPDATE, no writer lock
        with engine.begin() as conn:
            seen = update(segment).where(segment.c.name == name, segment.c.state == UP)
            if conn.execute(seen.values(last_seen=now, last_error=None)).rowcount:
                return 0
    with write_transaction(engine, FEED_LOCK) as conn:
        state = _current(conn, name).state
        if reachable and state == NEW:
            # Only a sync task of an earlier segment of this name (removed and re-added
            # meanwhile) can report a pull before this one subscribed: make it start over.
            raise CatalogError(f"segment {name!r} has no subscription yet; a pull cannot have succeeded")
        was_down = state == DOWN
        values = {"state": UP, "last_seen": now, "last_error": None} if reachable else \
            {"state": DOWN, "last_error": (error or "unreachable")[:MAX_ERROR]}
        conn.execute(update(segment).where(segment.c.name == name).values(**values))
        if was_down == (not reachable):
            return 0
        return mirror.publish_offline(FeedWriter(conn, now), name, down=not reachable)


def rejected(engine: Engine, name: str, count: int, example: str) -> None:
    with engine.begin() as conn:
        refused = update(segment).where(segment.c.name == name).values(
            rejected=segment.c.rejected + count, last_error=example[:MAX_ERROR])
        if not conn.execute(refused).rowcount:
            raise UnknownSegment(f"no segment named {name!r}")


def status(engine: Engine, now: dt.datetime) -> list[dict[str, Any]]:
    """Per segment, by name: its state and health, and the prefixes it presents that were remapped or collide."""
    in_use = exists().where(resource.c.segment == prefix_map.c.segment,
                            has_prefix(resource.c.token, prefix_map.c.local_prefix))
    with engine.connect() as conn, conn.begin():
        segments = [_segment(row) for row in conn.execute(select(segment).order_by(segment.c.name))]
        counted = select(resource.c.segment, func.count()).where(resource.c.segment.is_not(None)) \
            .group_by(resource.c.segment)
        counts: dict[str, int] = {row[0]: row[1] for row in conn.execute(counted)}
        mappings = conn.execute(
            select(prefix_map).join(segment, segment.c.name == prefix_map.c.segment).where(in_use)
            .order_by(prefix_map.c.segment, prefix_map.c.remote_prefix)).all()
    presenters: dict[str, list[str]] = {}
    by_segment: dict[str, list[Row[Any]]] = {}
    for m in mappings:
        by_segment.setdefault(m.segment, []).append(m)
        if m.remote_prefix:  # unprefixed tokens of two segments are no collision: each gets its own prefix
            presenters.setdefault(m.remote_prefix, []).append(m.segment)
    out = []
    for s in segments:
        mine = by_segment.get(s.name, [])
        out.append({
            "name": s.name, "kind": s.kind, "url": s.url, "user": s.user or None, "state": s.state,
            "resources": counts.get(s.name, 0),
            "last_seen": s.last_seen,
            "lag_seconds": (records.aware(now) - s.last_seen).total_seconds() if s.last_seen is not None else None,
            "last_error": s.last_error, "rejected": s.rejected, "generation": s.generation,
            # A device segment's prefix as configured, and the one its tokens carry (with what it is served as).
            "device_prefix": s.device_prefix, "location": list(s.location) if s.location is not None else None,
            "prefixes": [{"remote_prefix": m.remote_prefix, "local_prefix": m.local_prefix} for m in mine]
            if s.kind == DEVICE else [],
            "remapped_prefixes": [{"remote_prefix": m.remote_prefix, "local_prefix": m.local_prefix}
                                  for m in mine if m.remote_prefix != m.local_prefix],
            "collisions": [{"remote_prefix": m.remote_prefix, "segments": [n for n in presenters[m.remote_prefix]
                                                                           if n != s.name]}
                           for m in mine if len(presenters.get(m.remote_prefix, ())) > 1],
        })
    return out
