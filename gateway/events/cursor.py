"""A pull point is a cursor over the catalog (docs/decisions.md §5).

Theory of operation.  A subscription has two phases:

* ``snapshot`` pages through the current resources in id order, sending each
  matching one as ``Initialized``.  Before it starts, the feed position
  ``snap_seq`` is recorded.
* ``tail`` then follows the change feed from ``snap_seq``.  Every change row
  carries the resource before and after, so the subscription decides alone
  what the change means *for its filter*: staying inside the matching set is
  ``Changed`` (unless only projected-away items differ), entering it is
  ``Initialized``, leaving it is ``Deleted`` (docs/decisions.md §8.8).

Rules.  (1) The cursor only moves past a message that is returned, so nothing
is ever discarded (docs/wire-format.md §6.4 rule 2).  (2) The tail replays every change
after ``snap_seq`` in feed order, so the last message about a resource always
carries its current state, even when it changed while the snapshot was being
paged (it may then be reported more than once, never wrongly).  (3) Catalog
writers are serialised, so feed order is commit order and a cursor never
skips a late commit.

Nothing here does network I/O; :func:`collect` runs in a worker thread.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gateway.catalog.model import PullPointState
from gateway.catalog.store import Catalog, CompiledFilter
from gateway.query.match import matches
from gateway.query.model import ResourceQuery
from gateway.query.select import project
from gateway.vocabulary.resource import Change, Operation, Resource

#: Change rows read per catalog round trip while tailing; bounds memory per pull.
FEED_BATCH = 2000

Event = tuple[Resource, Operation]


@dataclass(frozen=True)
class Subscription:
    """What a pull point filters on, with the catalog's form of it compiled once."""

    query: ResourceQuery
    compiled: CompiledFilter

    @property
    def residual(self) -> bool:
        """Whether rows the catalog selects still need the Python test (ItemFilter)."""
        return self.query.item_filter is not None


def classify(query: ResourceQuery, change: Change) -> list[Event]:
    """The messages ``change`` produces for a subscription with ``query``."""
    was = change.old is not None and matches(query, change.old)
    now = change.new is not None and matches(query, change.new)
    if was and now:
        assert change.old is not None and change.new is not None
        if change.old.kind != change.new.kind:
            # The property identity is topic + token: a new kind is a new property.
            return [(_identity(change.old), Operation.DELETED),
                    (project(query.select, change.new), Operation.INITIALIZED)]
        before, after = project(query.select, change.old), project(query.select, change.new)
        return [] if before == after else [(after, Operation.CHANGED)]
    if now:
        assert change.new is not None
        return [(project(query.select, change.new), Operation.INITIALIZED)]
    if was:
        assert change.old is not None
        return [(_identity(change.old), Operation.DELETED)]
    return []


def _identity(resource: Resource) -> Resource:
    return Resource(token=resource.token, kind=resource.kind)


def _wanted(query: ResourceQuery, operation: Operation) -> bool:
    # tev:ChangedOnly: no Initialized or Deleted for properties (event.wsdl annotation).
    return not query.changed_only or operation is Operation.CHANGED


def collect(catalog: Catalog, state: PullPointState, sub: Subscription,
            limit: int) -> tuple[list[Event], PullPointState]:
    """Up to ``limit`` pending messages and the cursor just past them."""
    state = dataclasses.replace(state)
    out: list[Event] = []
    if state.phase == "snapshot":
        _collect_snapshot(catalog, state, sub, limit, out)
    if state.phase == "tail" and len(out) < limit:
        _collect_tail(catalog, state, sub.query, limit, out)
    return out, state


def _collect_snapshot(catalog: Catalog, state: PullPointState, sub: Subscription, limit: int, out: list[Event]) -> None:
    while len(out) < limit:
        want = limit - len(out)
        rows = catalog.snapshot_page(sub.compiled, state.snap_after_id, want)
        for row_id, resource in rows:
            state.snap_after_id = row_id
            if not sub.residual or matches(sub.query, resource):
                out.append((project(sub.query.select, resource), Operation.INITIALIZED))
        if len(rows) < want:
            state.phase, state.tail_seq = "tail", state.snap_seq
            return


def _collect_tail(catalog: Catalog, state: PullPointState, query: ResourceQuery, limit: int, out: list[Event]) -> None:
    while len(out) < limit:
        changes = catalog.changes_after(state.tail_seq, FEED_BATCH)
        for change in changes:
            events = [e for e in classify(query, change) if _wanted(query, e[1])]
            if events and out and len(out) + len(events) > limit:
                # Rule 1: leave this change for the next pull.  (A kind change gives two
                # events; with MessageLimit 1 they travel together rather than never.)
                return
            out.extend(events)
            state.tail_seq = change.seq
        if len(changes) < FEED_BATCH:
            return
