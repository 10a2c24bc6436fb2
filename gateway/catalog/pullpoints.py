"""Persisted pull points: a subscription's filter, cursor and lifetime (docs/decisions.md §5).

Any gateway process sharing the database can serve any pull point, and pull
points survive restarts, because their whole state lives in this table.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.catalog import records
from gateway.catalog.db import write_transaction
from gateway.catalog.errors import CatalogError, PullPointLimitReached
from gateway.catalog.model import PullPointState
from gateway.catalog.schema import pull_point

#: pg_advisory_xact_lock key serialising pull point creation (ASCII "gw-pull").
CREATE_LOCK = 0x67772D70756C6C
PHASES = ("snapshot", "tail")


def _cursor(state: PullPointState) -> dict[str, Any]:
    if state.phase not in PHASES:
        raise CatalogError(f"pull point {state.id!r}: phase {state.phase!r} is not one of {PHASES}")
    return {
        "phase": state.phase, "snap_after_id": state.snap_after_id, "snap_seq": state.snap_seq,
        "tail_seq": state.tail_seq, "termination": records.aware(state.termination),
    }


def create(engine: Engine, state: PullPointState, *, max_count: int) -> None:
    """Store a new pull point, unless ``max_count`` live ones exist already.

    The count and the insert share one locked transaction, so concurrent
    creations cannot overshoot the limit.  Pull points past their
    termination time are not counted: they are dead, only not yet reaped.
    """
    row = {"id": state.id, "principal": state.principal, "query": state.query_json,
           "created": records.aware(state.created), **_cursor(state)}
    now = dt.datetime.now(dt.UTC)
    try:
        with write_transaction(engine, CREATE_LOCK) as conn:
            live = conn.execute(select(func.count()).where(pull_point.c.termination > now)).scalar_one()
            if live >= max_count:
                raise PullPointLimitReached(f"the gateway holds its maximum of {max_count} pull points")
            conn.execute(insert(pull_point).values(**row))
    except IntegrityError:
        raise CatalogError(f"pull point {state.id!r} exists") from None


def load(engine: Engine, pp_id: str) -> PullPointState | None:
    with engine.connect() as conn:
        row = conn.execute(select(pull_point).where(pull_point.c.id == pp_id)).first()
    if row is None:
        return None
    return PullPointState(
        id=row.id, principal=row.principal, query_json=row.query, phase=row.phase,
        snap_after_id=row.snap_after_id, snap_seq=row.snap_seq, tail_seq=row.tail_seq,
        termination=records.utc(row.termination), created=records.utc(row.created),
    )


def save(engine: Engine, state: PullPointState) -> bool:
    """Store the phase, cursors and termination; False if the pull point is gone."""
    with engine.begin() as conn:
        return conn.execute(update(pull_point).where(pull_point.c.id == state.id).values(**_cursor(state))).rowcount > 0


def remove(engine: Engine, pp_id: str) -> bool:
    with engine.begin() as conn:
        return conn.execute(delete(pull_point).where(pull_point.c.id == pp_id)).rowcount > 0


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(pull_point)).scalar_one()


def remove_expired(engine: Engine, now: dt.datetime) -> int:
    """Delete the pull points whose termination time is at or before ``now``."""
    with engine.begin() as conn:
        return conn.execute(delete(pull_point).where(pull_point.c.termination <= records.aware(now))).rowcount
