"""``vmsgw segment add|list|remove|status``: the downstream systems this gateway federates.

A running gateway picks changes to the segment table up within seconds (its
supervisor re-reads it), so these commands only edit the catalog.  The
segment's password is read from standard input (one line) or, on a
terminal, asked twice without echo; it is never printed or listed.

A segment behind a firewall connects to us instead (``serve
--uplink-listen``): ``--uplink-identity`` names the subject CN of its client
certificate, ``--uplink-token-stdin`` reads its bearer token (kept only as a
SHA-256).  Its URL is nominal, ``https://NAME/onvif/device_service`` by
default: requests travel over its link, with the URL's host as
``:authority``.  A vmsgw uplink grants its configured level, so no login is
needed; a plain relay forwards to a device that authenticates each request
itself, so ``--user`` gives the login sent as WS-UsernameToken through the
link.  With both ``--uplink-token-stdin`` and ``--user``, standard input
holds two lines: the token first, then the password.

``--device`` adds a plain ONVIF device (a camera or an NVR, without Resource
Query) instead: its profiles, video sources and PTZ nodes are served under
its own 20-digit ID where it presents one, else ``--prefix``, else a prefix
derived from its identity; ``--location`` overrides where it says it is
(docs/architecture.md §10).
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import urllib.parse
from pathlib import Path
from typing import Any

from gateway.addressing.context import MAX_KEPT_PREFIX
from gateway.addressing.tokens import TokenError, validate_prefix
from gateway.catalog.errors import CatalogError, DuplicateSegment, UnknownSegment
from gateway.catalog.model import DEVICE, GATEWAY, Segment
from gateway.catalog.segments import MAX_HEARTBEAT, NAME
from gateway.cli.args import positive_seconds
from gateway.cli.context import db_url, open_catalog
from gateway.cli.output import EXIT_OK, UsageError, print_json, table
from gateway.cli.passwords import new_password, read_stdin_line

DEFAULT_HEARTBEAT = 10.0
#: Remapped or colliding prefixes shown per segment in the table; --json lists them all.
SHOWN_PREFIXES = 20


def segment_name(text: str) -> str:
    if not NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a segment name: 1 to 64 of A-Z a-z 0-9 . _ -")
    return text


def segment_url(text: str) -> str:
    """An http(s) URL with a host, e.g. the segment's device service; it is not fetched here."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL (e.g. https://host:8443/onvif/device_service)")
    try:
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the port is not a number from 0 to 65535") from None
    return text


def heartbeat(text: str) -> float:
    value = positive_seconds(text)
    if value > MAX_HEARTBEAT:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_HEARTBEAT:g} seconds")
    return value


def device_prefix(text: str) -> str:
    try:
        validate_prefix(text)
    except TokenError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a token prefix: {err}") from None
    if len(text) > MAX_KEPT_PREFIX:
        raise argparse.ArgumentTypeError(f"{text!r} is longer than {MAX_KEPT_PREFIX} characters")
    return text


def location(text: str) -> tuple[float, float, float | None]:
    """``LAT,LON[,ELEV]``: WGS84 degrees, and metres."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values) \
            or not (-90 <= values[0] <= 90 and -180 <= values[1] <= 180):
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON[,ELEV] (degrees -90..90, -180..180; metres)")
    return values[0], values[1], values[2] if len(values) == 3 else None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("segment", help="downstream segments (systems federated under this gateway)")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    add = verbs.add_parser(
        "add", parents=[common], help="add a segment (password from stdin, or asked twice on a terminal)",
        description="Add a downstream segment: a Resource Query server (a VMS or another gateway) whose resources "
        "this gateway serves. The password is the first line of standard input; on a terminal it is asked for twice.",
    )  # fmt: skip
    add.add_argument("name", type=segment_name, metavar="NAME")
    add.add_argument("--url", type=segment_url, help="the segment's device service URL (nominal for an uplink)")
    add.add_argument("--user", help="the user this gateway logs in to the segment as; for an uplink, only when its "
                     "device authenticates requests itself (behind a plain relay)")
    add.add_argument(
        "--heartbeat", type=heartbeat, default=DEFAULT_HEARTBEAT, metavar="SECONDS",
        help=f"live-check interval: the segment is down after this plus a grace period of silence "
        f"(default {DEFAULT_HEARTBEAT:g}, at most {MAX_HEARTBEAT:g})",
    )  # fmt: skip
    tls = add.add_mutually_exclusive_group()
    tls.add_argument("--no-verify-tls", action="store_true", help="do not verify the segment's TLS certificate")
    tls.add_argument("--ca", type=Path, metavar="FILE", help="verify the segment's certificate against this CA file")
    add.add_argument("--update", action="store_true", help="change the settings and password of an existing segment")
    dev = add.add_argument_group("device", "the segment is a plain ONVIF device (camera, NVR) without Resource Query")
    dev.add_argument("--device", action="store_true", help="a plain ONVIF device: its profiles, video sources and "
                     "PTZ nodes become this gateway's resources")
    dev.add_argument("--prefix", type=device_prefix, metavar="P",
                     help="the prefix of its tokens when it presents no 20-digit Annex A ID (default: derived from "
                     "its manufacturer, model and serial number)")
    dev.add_argument("--location", type=location, metavar="LAT,LON[,ELEV]",
                     help="where it is (default: its GetGeoLocation, else unknown)")
    up = add.add_argument_group("uplink", "the segment connects to this gateway through an uplink (serve "
                                "--uplink-listen) instead of being dialled; give one or both")
    up.add_argument("--uplink-identity", metavar="ID", help="the subject CN of the segment's client certificate")
    up.add_argument("--uplink-token-stdin", action="store_true",
                    help="read the segment's bearer access token from standard input (first line; with --user, "
                    "the password is the second line)")
    add.set_defaults(handler=run_add, command="segment add")

    listing = verbs.add_parser("list", parents=[common], help="list segments and their settings: the user a login is "
                               "sent as (- for none), never passwords")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=run_list, command="segment list")

    remove = verbs.add_parser("remove", parents=[common], help="remove a segment and its resources")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=run_remove, command="segment remove")

    status = verbs.add_parser("status", parents=[common], help="health, lag and prefix remapping of each segment")
    status.add_argument("--json", action="store_true", help="print a JSON list")
    status.set_defaults(handler=run_status, command="segment status")


def _kind(args: argparse.Namespace) -> dict[str, Any]:
    """The kind and device settings of the segment being added."""
    if not args.device and (args.prefix is not None or args.location is not None):
        raise UsageError("--prefix and --location apply to --device segments only")
    return {"kind": DEVICE if args.device else GATEWAY, "device_prefix": args.prefix, "location": args.location}


def run_add(args: argparse.Namespace) -> int:
    kind = _kind(args)
    if args.uplink_identity is not None or args.uplink_token_stdin:
        return _add_uplinked(args, kind)
    if args.url is None or args.user is None:
        raise UsageError("--url and --user are required, unless the segment connects through an uplink "
                         "(--uplink-identity, --uplink-token-stdin)")
    https = args.url.lower().startswith("https:")
    if (args.no_verify_tls or args.ca) and not https:
        raise UsageError("--no-verify-tls and --ca apply to https URLs only")
    ca_file = None
    if args.ca is not None:
        if not args.ca.is_file():
            raise UsageError(f"{args.ca}: no such file")
        ca_file = str(args.ca.resolve())  # the server may run from another directory
    password = new_password()
    segment = Segment(name=args.name, url=args.url, user=args.user, password=password,
                      verify_tls=not args.no_verify_tls, ca_file=ca_file, heartbeat=args.heartbeat, **kind)
    _save(args, segment, token=None)
    print(f"{'device ' if args.device else ''}segment {args.name} {'saved' if args.update else 'added'}: {args.url}")
    return EXIT_OK


def _add_uplinked(args: argparse.Namespace, kind: dict[str, Any]) -> int:
    if args.no_verify_tls or args.ca is not None:
        raise UsageError("a segment that connects through an uplink takes no --no-verify-tls or --ca: "
                         "its uplink's TLS is the listener's")
    token = read_stdin_line() if args.uplink_token_stdin else None  # first: the password is the next line
    password = new_password() if args.user is not None else ""
    url = args.url or f"https://{args.name}/onvif/device_service"
    segment = Segment(name=args.name, url=url, user=args.user or "", password=password, heartbeat=args.heartbeat,
                      uplink_identity=args.uplink_identity, uplink_token=token is not None, **kind)
    _save(args, segment, token=token)
    how = " and ".join(filter(None, (f"certificate CN={args.uplink_identity}" if args.uplink_identity else "",
                                     "its token" if token else "")))
    login = f"; logs in to its device as {args.user}" if args.user else ""
    print(f"segment {args.name} {'saved' if args.update else 'added'}: connects through an uplink ({how}){login}")
    return EXIT_OK


def _save(args: argparse.Namespace, segment: Segment, *, token: str | None) -> None:
    """Write the segment and how an uplink recognises it (nothing, for a dialled one), or nothing at all."""
    with open_catalog(db_url(args)) as catalog:
        try:
            if args.update and catalog.get_segment(segment.name) is not None:
                # The uplink first: if its identity or token is taken, nothing has changed.
                catalog.set_segment_uplink(segment.name, segment.uplink_identity, token)
                catalog.add_segment(segment, replace=True)
            else:
                catalog.add_segment(segment, replace=args.update)
                try:
                    catalog.set_segment_uplink(segment.name, segment.uplink_identity, token)
                except CatalogError:
                    catalog.remove_segment(segment.name)
                    raise
        except DuplicateSegment:
            raise UsageError(f"segment {args.name!r} exists; use --update to change its settings") from None
        except CatalogError as err:  # the catalog is open, so this is about what was given
            raise UsageError(str(err)) from None


def _tls(s: Segment) -> str:
    if s.uplinked:
        return f"uplink {s.uplink_identity}" if s.uplink_identity else "uplink (token)"
    if not s.url.lower().startswith("https:"):
        return "-"
    return f"ca {s.ca_file}" if s.ca_file else ("verify" if s.verify_tls else "no-verify")


def run_list(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        segments = catalog.list_segments()
    if args.json:
        print_json([{"name": s.name, "kind": s.kind, "url": s.url, "user": s.user or None, "verify_tls": s.verify_tls,
                     "ca_file": s.ca_file, "heartbeat": s.heartbeat, "state": s.state,
                     "uplink_identity": s.uplink_identity, "uplink_token": s.uplink_token,
                     "device_prefix": s.device_prefix, "location": list(s.location) if s.location else None}
                    for s in segments])
    else:
        table(("name", "url", "user", "tls", "heartbeat", "state", "kind"),
              ((s.name, s.url, s.user or None, _tls(s), f"{s.heartbeat:g} s", s.state, s.kind) for s in segments))
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        try:
            deleted = catalog.remove_segment(args.name)
        except UnknownSegment:
            raise UsageError(f"no segment named {args.name!r}") from None
    print(f"segment {args.name} removed; {deleted} resource{'' if deleted == 1 else 's'} deleted")
    return EXIT_OK


def _prefix_rows(s: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(segment, presented, served as, also presented by) for each remapped or colliding prefix."""
    served = {m["remote_prefix"]: m["local_prefix"] for m in s["remapped_prefixes"]}
    others = {c["remote_prefix"]: ", ".join(c["segments"]) for c in s["collisions"]}
    return [(s["name"], remote or "(none)", served.get(remote, remote), others.get(remote, "-"))
            for remote in sorted(served.keys() | others.keys())]


def run_status(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        status = catalog.segment_status()
    if args.json:
        print_json([{**s, "last_seen": s["last_seen"].isoformat() if s["last_seen"] else None} for s in status])
        return EXIT_OK
    table(("name", "kind", "state", "resources", "last seen", "lag", "rejected", "last error"),
          ((s["name"], s["kind"], s["state"], s["resources"], _when(s["last_seen"]),
            f"{s['lag_seconds']:.1f} s" if s["lag_seconds"] is not None else None, s["rejected"], s["last_error"])
           for s in status))
    devices = [(s["name"], ", ".join(_served(m) for m in s["prefixes"]) or "(none yet)",
                ",".join(f"{v:g}" for v in s["location"] if v is not None) if s["location"] else "from the device")
               for s in status if s["kind"] == DEVICE]
    if devices:
        print()
        table(("device segment", "device prefix", "location"), devices)
    rows = []
    for s in status:
        mine = _prefix_rows(s)
        rows += mine[:SHOWN_PREFIXES]
        if len(mine) > SHOWN_PREFIXES:
            rows.append((s["name"], f"... {len(mine) - SHOWN_PREFIXES} more (--json lists them)", "", ""))
    if rows:
        print()
        table(("segment", "device prefix", "served as", "also presented by"), rows)
    return EXIT_OK


def _served(m: dict[str, str]) -> str:
    remote, local = m["remote_prefix"], m["local_prefix"]
    return remote if remote == local else f"{remote} (served as {local})"


def _when(moment: dt.datetime | None) -> str | None:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else None
