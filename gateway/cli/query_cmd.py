"""``vmsgw query``: ask any Resource Query server which resources match, and show them.

Options are checked here before anything is sent (exit 2); the exchange
itself is :mod:`gateway.cli.query_client`.  The events are folded into the
final set of matching resources (``Deleted`` removes, ``Changed`` updates the
items it carries), printed as a table or as JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging

from gateway.cli.args import lat_lon, non_negative, positive_seconds
from gateway.cli.output import EXIT_OK, Failure, UsageError, print_json, table
from gateway.cli.passwords import PASSWORD_ENV, client_password
from gateway.onvif.resource_event.read import Notification
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm, SelectPath
from gateway.vocabulary.resource import RESOURCE_KINDS, Operation, Resource

log = logging.getLogger("gateway.cli.query")

MATCH_RULES = {"rfc3986": RFC3986, "strcmp0": STRCMP0}
DEFAULT_WAIT = 1.0
URL_SCHEMES = ("http://", "https://")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "query", parents=[common], help="query a Resource Query server (this gateway or any other)",
        description="Subscribe to resource events on a Resource Query server, pull until the enumeration is "
        f"over, and print the matching resources. The password is read from ${PASSWORD_ENV}, else from "
        "standard input with --password-stdin, else asked for. An https:// server's certificate is checked "
        "against the system CAs, or the bundle named by $REQUESTS_CA_BUNDLE.",
    )  # fmt: skip
    p.add_argument(
        "--url", required=True, help="the device service URL, e.g. http://127.0.0.1:8080/onvif/device_service"
    )
    p.add_argument("--user", required=True, metavar="NAME")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.add_argument("--near", type=lat_lon, metavar="LAT,LON", help="centre of a location filter (WGS84 degrees)")
    p.add_argument("--radius", type=non_negative, metavar="M", help="radius of the location filter in metres")
    p.add_argument("--include-unknown", action="store_true", help="also match resources without a location")
    p.add_argument("--prefix", action="append", default=[], metavar="P", help="device prefix (repeatable: OR)")
    p.add_argument("--scope", action="append", default=[], metavar="URI", help="scope URI (repeatable: AND)")
    p.add_argument("--scope-match", choices=sorted(MATCH_RULES), default="rfc3986", help="scope matching rule")
    p.add_argument(
        "--topic", action="append", default=[], metavar="KIND",
        help=f"resource kind (repeatable), one of: {', '.join(RESOURCE_KINDS)}; default: all",
    )  # fmt: skip
    p.add_argument("--select", action="append", default=[], metavar="PATH", help="data item to keep, e.g. /Name")
    p.add_argument(
        "--wait", type=positive_seconds, default=DEFAULT_WAIT, metavar="SECONDS",
        help=f"PullMessages timeout; an empty pull after it ends the enumeration (default {DEFAULT_WAIT:g})",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print a JSON list of resources")
    p.set_defaults(handler=run, command="query")


def _select_path(text: str) -> SelectPath:
    steps = text.split("/")
    if len(steps) < 2 or steps[0] or not all(steps[1:]):
        raise UsageError(f"--select {text!r}: write a data item path such as /Name, /Location or /Scope/Location")
    return SelectPath(item=steps[1], sub=tuple(steps[2:]))


def build_query(args: argparse.Namespace) -> ResourceQuery:
    """The filter the options describe; a contradiction or an unknown name is a :class:`UsageError`."""
    if (args.near is None) != (args.radius is None):
        raise UsageError("--near and --radius go together: give both, or neither")
    if args.include_unknown and args.near is None:
        raise UsageError("--include-unknown only makes sense with --near and --radius")
    unknown = [k for k in args.topic if k not in RESOURCE_KINDS]
    if unknown:
        raise UsageError(f"unknown resource kind {unknown[0]!r}; known kinds: {', '.join(RESOURCE_KINDS)}")
    for prefix in args.prefix:
        if not prefix or any(ch.isspace() for ch in prefix):
            raise UsageError(f"--prefix {prefix!r}: a prefix is a non-empty string without spaces")
    if not args.url.startswith(URL_SCHEMES):
        raise UsageError(f"--url {args.url!r}: give an http:// or https:// URL of the device service")
    location = None
    if args.near is not None:
        lat, lon = args.near
        location = LocationFilter(lon=lon, lat=lat, radius=args.radius, include_unknown=args.include_unknown)
    rule = MATCH_RULES[args.scope_match]
    return ResourceQuery(
        kinds=frozenset(args.topic) if args.topic else None,
        location=location,
        prefixes=tuple(args.prefix),
        scopes=tuple(ScopeTerm(uri=uri, rule=rule) for uri in args.scope),
        select=tuple(_select_path(p) for p in args.select) if args.select else None,
    )


def _merge(old: Resource, new: Resource) -> Resource:
    """``new`` over ``old``, keeping the items a partial ``Changed`` event left out."""
    changes = {item: value for item in ("name", "scopes", "offline") if (value := getattr(new, item)) not in (None, ())}
    if new.has_location:
        changes |= {"lat": new.lat, "lon": new.lon, "elevation": new.elevation}
    return dataclasses.replace(old, **changes)


def fold(state: dict[str, Resource], batch: list[Notification]) -> None:
    """Apply one pull's events to ``state`` (token -> resource), in order."""
    for note in batch:
        token = note.resource.token
        if note.operation is Operation.DELETED:
            state.pop(token, None)
        elif note.operation is Operation.CHANGED and token in state:
            state[token] = _merge(state[token], note.resource)
        else:
            state[token] = note.resource


def show(resources: list[Resource], as_json: bool) -> None:
    if as_json:
        print_json([dataclasses.asdict(r) for r in resources])
        return
    rows = ((r.token, r.kind, r.name, r.lat, r.lon, r.offline, len(r.scopes)) for r in resources)
    table(("token", "kind", "name", "lat", "lon", "offline", "scopes"), rows)
    print(f"{len(resources)} resource{'' if len(resources) == 1 else 's'}")


def run(args: argparse.Namespace) -> int:
    from gateway.cli.query_client import QueryError, ResourceQueryClient  # zeep loads only when querying

    query = build_query(args)
    password = client_password(args.user, from_stdin=args.password_stdin)
    state: dict[str, Resource] = {}

    def on_batch(batch: list[Notification]) -> None:
        fold(state, batch)
        log.info("pulled %d events, %d resources so far", len(batch), len(state))

    try:
        ResourceQueryClient(args.url, args.user, password).run(query, args.wait, on_batch)
    except QueryError as err:
        raise Failure(str(err)) from None
    show(sorted(state.values(), key=lambda r: r.token), args.json)
    return EXIT_OK
