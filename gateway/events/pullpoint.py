"""Each pull point's own endpoint: PullMessages, Renew, Unsubscribe, SetSynchronizationPoint
(docs/wire-format.md §6.4-6.8).

PullMessages is the Resource Query live check (docs/wire-format.md §6.5): pending
messages are answered at once; with nothing pending the request waits — on a
future, not a thread — until the feed moves or the client's Timeout elapses,
and an empty answer is never sent before the Timeout.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from lxml import etree

from gateway.catalog.model import PullPointState
from gateway.events.context import EventContext
from gateway.events.cursor import collect
from gateway.events.service import termination_time
from gateway.onvif import faults
from gateway.onvif.access import READ_MEDIA
from gateway.onvif.ns import TEV, WSNT
from gateway.onvif.resource_event.write import pull_messages_response
from gateway.onvif.services import PULL_POINT
from gateway.onvif.time import TimeFormatError, format_utc, parse_duration
from gateway.onvif.xml import child, element, sub, utcnow
from gateway.soap.build import SerializedBody
from gateway.soap.dispatch import Request


async def _load(req: Request) -> PullPointState:
    """The pull point addressed by the URL, if it exists, is alive and belongs to the caller."""
    ctx: EventContext = req.state.events
    pp_id = req.path_params["id"]
    state = await ctx.db(ctx.catalog.load_pull_point, pp_id)
    # Another principal's pull point is reported as unknown: its address must not be probed.
    if state is None or state.principal != (req.principal.name or ""):
        raise faults.resource_unknown("no such subscription")
    if state.termination <= utcnow():
        await ctx.db(ctx.catalog.delete_pull_point, pp_id)
        raise faults.resource_unknown("the subscription has expired")
    return state


def _pull_arguments(req: Request, ctx: EventContext) -> tuple[float, int]:
    timeout_el, limit_el = child(req.body, "Timeout"), child(req.body, "MessageLimit")
    if timeout_el is None or limit_el is None:
        raise faults.sender("PullMessages requires Timeout and MessageLimit", faults.INVALID_ARGS)
    try:
        timeout = parse_duration((timeout_el.text or "").strip())
    except TimeFormatError as exc:
        raise faults.invalid_arg_val(None, f"Timeout is not an xs:duration: {exc}") from None
    try:
        limit = int((limit_el.text or "").strip())
    except ValueError:
        raise faults.invalid_arg_val(None, f"MessageLimit {limit_el.text!r} is not an xs:int") from None
    if timeout < 0 or limit < 0 or limit > 2**31 - 1:
        raise faults.invalid_arg_val(None, "Timeout and MessageLimit must not be negative")
    if timeout > ctx.limits.max_timeout:
        raise faults.pull_messages_fault(ctx.limits.max_timeout, ctx.limits.max_message_limit)
    return timeout, min(limit, ctx.limits.max_message_limit)


_CURSOR = ("phase", "snap_after_id", "snap_seq", "tail_seq")


def merge_after_pull(loaded: PullPointState, pulled: PullPointState, stored: PullPointState) -> PullPointState:
    """The state to save after a pull, keeping what Renew or SetSynchronizationPoint did meanwhile.

    A long poll may run for minutes while the same client renews or resets the
    subscription from another connection: the longer termination wins, and a
    cursor moved by someone else (a synchronization point) is kept.
    """
    moved = any(getattr(stored, f) != getattr(loaded, f) for f in _CURSOR)
    base = stored if moved else pulled
    return dataclasses.replace(base, termination=max(stored.termination, pulled.termination))


async def pull_messages(req: Request) -> SerializedBody:
    ctx: EventContext = req.state.events
    timeout, limit = _pull_arguments(req, ctx)
    state = loaded = await _load(req)
    if state.id in ctx.busy:
        raise faults.unable_to_get_messages("another PullMessages on this subscription is in progress")
    ctx.busy.add(state.id)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        subscription = ctx.subscription(state.query_json)
        while True:
            events, state = await ctx.db(collect, ctx.catalog, state, subscription, limit)
            # Rule 4 of docs/wire-format.md §6.4: an empty answer only once the Timeout has fully elapsed.
            if events or limit == 0 or loop.time() >= deadline or ctx.watcher.stopping.is_set():
                break
            await ctx.watcher.wait(deadline)
        now = utcnow()
        # Each pull keeps the subscription alive for at least its Timeout (docs/wire-format.md §6.4 rule 9).
        state.termination = max(state.termination, now + dt.timedelta(seconds=timeout))
        stored = await ctx.db(ctx.catalog.load_pull_point, state.id)
        if stored is None:
            raise faults.resource_unknown("the subscription was removed while pulling")
        state = merge_after_pull(loaded, state, stored)
        if not await ctx.db(ctx.catalog.save_pull_point, state):
            raise faults.resource_unknown("the subscription was removed while pulling")
    finally:
        ctx.busy.discard(state.id)
    return pull_messages_response(format_utc(now), format_utc(state.termination), events)


async def renew(req: Request) -> etree._Element:
    ctx: EventContext = req.state.events
    state = await _load(req)
    requested = child(req.body, "TerminationTime")
    if requested is None:
        raise faults.sender("Renew requires TerminationTime", faults.INVALID_ARGS)
    now = utcnow()
    nil = requested.get("{http://www.w3.org/2001/XMLSchema-instance}nil") in ("true", "1")
    state.termination = termination_time(
        None if nil else (requested.text or ""), now,
        default=ctx.limits.default_termination, maximum=ctx.limits.max_termination, initial=False,
    )
    if not await ctx.db(ctx.catalog.save_pull_point, state):
        raise faults.resource_unknown("no such subscription")
    resp = element(f"{{{WSNT}}}RenewResponse")
    # Renew answers TerminationTime first, then CurrentTime (docs/wire-format.md §6.6).
    sub(resp, f"{{{WSNT}}}TerminationTime", format_utc(state.termination))
    sub(resp, f"{{{WSNT}}}CurrentTime", format_utc(now))
    return resp


async def unsubscribe(req: Request) -> etree._Element:
    ctx: EventContext = req.state.events
    state = await _load(req)
    if not await ctx.db(ctx.catalog.delete_pull_point, state.id):
        raise faults.resource_unknown("no such subscription")
    return element(f"{{{WSNT}}}UnsubscribeResponse")


async def set_synchronization_point(req: Request) -> etree._Element:
    """Re-send every matching resource as Initialized (docs/wire-format.md §6.8).

    The tail keeps its position, so deletions already queued are still
    delivered after the new snapshot; only the snapshot restarts.
    """
    ctx: EventContext = req.state.events
    state = await _load(req)
    if state.phase == "tail":
        state = dataclasses.replace(state, phase="snapshot", snap_after_id=0, snap_seq=state.tail_seq)
    else:
        state = dataclasses.replace(state, snap_after_id=0)
    if not await ctx.db(ctx.catalog.save_pull_point, state):
        raise faults.resource_unknown("no such subscription")
    ctx.watcher.notify()
    return element(f"{{{TEV}}}SetSynchronizationPointResponse")


PULL_POINT_SERVICE = PULL_POINT.service({
    "PullMessages": (pull_messages, READ_MEDIA),
    "SetSynchronizationPoint": (set_synchronization_point, READ_MEDIA),
    "Renew": (renew, READ_MEDIA),
    "Unsubscribe": (unsubscribe, READ_MEDIA),
})
