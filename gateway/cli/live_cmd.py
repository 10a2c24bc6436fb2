"""``vmsgw media uris`` and ``vmsgw ptz``: use the cameras a query found, without writing a client.

Like ``vmsgw query`` these talk to any ONVIF server by its device service
URL, usually a gateway, with the remote tokens the gateway gave.  Options
are checked before anything is sent (exit 2); the exchange is
:mod:`gateway.cli.live_client`.  A fault is one line, its reason first (a
gateway's names the segment that failed) and its codes after it, exit 1.
"""
from __future__ import annotations

import argparse
import dataclasses

from gateway.cli.args import positive_seconds
from gateway.cli.output import EXIT_FAILURE, EXIT_OK, Failure, UsageError, error, print_json, table
from gateway.cli.passwords import PASSWORD_ENV, client_password
from gateway.cli.query_cmd import URL_SCHEMES

#: Longest ContinuousMove asked for: a lost Stop then leaves the camera moving at most this long.
MAX_MOVE_TIMEOUT = 60.0
#: Longest token accepted on the command line: twice the 64 characters a remote token may have, so the
#: server, not the command line, says what it knows.
MAX_TOKEN = 128


def _url(text: str) -> str:
    if not text.startswith(URL_SCHEMES) or any(ch.isspace() for ch in text):
        raise argparse.ArgumentTypeError(f"{text!r}: give an http:// or https:// URL of the device service")
    return text


def _token(text: str) -> str:
    if not text or len(text) > MAX_TOKEN or not text.isprintable() or any(ch.isspace() for ch in text):
        raise argparse.ArgumentTypeError(
            f"{text[:80]!r} is not a token: a token is 1 to {MAX_TOKEN} printable characters without spaces")
    return text


def _speed(text: str) -> float:
    """A velocity in ONVIF's generic space: -1 to 1 (the sign is the direction)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not -1.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is outside -1..1")
    return value


def _move_timeout(text: str) -> float:
    value = positive_seconds(text)
    if value > MAX_MOVE_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_MOVE_TIMEOUT:g} s")
    return value


def _login(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, type=_url,
                        help="the device service URL, e.g. http://127.0.0.1:8080/onvif/device_service")
    parser.add_argument("--user", required=True, metavar="NAME")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    password = (f"The password is read from ${PASSWORD_ENV}, else from standard input with --password-stdin, "
                "else asked for.")
    media = commands.add_parser("media", parents=[common], help="stream and snapshot URIs of profiles",
                                description="Ask a gateway (or any ONVIF server) for the URIs of profiles.")
    actions = media.add_subparsers(dest="action", required=True, metavar="ACTION")
    uris = actions.add_parser(
        "uris", parents=[common], help="stream (RTSP over TCP), RTSP-over-HTTP and snapshot URI per profile",
        description="Per profile token: the RTSP URI, the RTSP-over-HTTP URI and the snapshot URI the server "
        f"gives (Media2 where offered, else Media ver10). {password}",
    )  # fmt: skip
    _login(uris)
    uris.add_argument("tokens", nargs="+", type=_token, metavar="TOKEN", help="profile token (remote token)")
    uris.set_defaults(handler=run_uris, command="media uris")

    ptz = commands.add_parser(
        "ptz", parents=[common], help="move a camera, list and go to its presets, read its position",
        description=f"PTZ through a gateway (or any ONVIF server) by profile token. {password}",
    )  # fmt: skip
    _login(ptz)
    ptz.add_argument("token", type=_token, metavar="TOKEN", help="profile token (remote token)")
    steps = ptz.add_subparsers(dest="action", required=True, metavar="ACTION")
    after = argparse.ArgumentParser(add_help=False)  # --json after the action too, as people type it
    after.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    move = steps.add_parser("move", parents=[after], help="ContinuousMove at the given speeds (-1..1 each)")
    move.add_argument("--pan", type=_speed, metavar="X", help="pan speed, negative = left")
    move.add_argument("--tilt", type=_speed, metavar="Y", help="tilt speed, negative = down")
    move.add_argument("--zoom", type=_speed, metavar="Z", help="zoom speed, negative = out")
    move.add_argument("--timeout", type=_move_timeout, metavar="S",
                      help=f"stop after S seconds (at most {MAX_MOVE_TIMEOUT:g}; default: the gateway's bound)")
    steps.add_parser("stop", parents=[after], help="stop pan, tilt and zoom")
    steps.add_parser("presets", parents=[after], help="list the presets")
    goto = steps.add_parser("goto", parents=[after], help="go to a preset")
    goto.add_argument("preset", type=_token, metavar="PRESET", help="preset token, as `presets` lists it")
    steps.add_parser("status", parents=[after], help="position and move status")
    ptz.set_defaults(handler=run_ptz, command="ptz")


def run_uris(args: argparse.Namespace) -> int:
    from gateway.cli.live_client import LiveClient, LiveError  # zeep loads only when asked

    password = client_password(args.user, from_stdin=args.password_stdin)
    client = LiveClient(args.url, args.user, password)
    try:
        found = [client.uris(token) for token in args.tokens]
    except LiveError as err:
        raise Failure(str(err)) from None
    if args.json:
        print_json([dataclasses.asdict(u) | {"errors": list(u.errors)} for u in found])
    else:
        shown = [u for u in found if u.stream is not None]  # a refused profile is only its error line
        if shown:
            table(("token", "service", "rtsp (tcp)", "rtsp over http", "snapshot"),
                  ((u.token, u.service, u.stream, u.http, u.snapshot) for u in shown))
    for uris in found:
        for message in uris.errors:
            error(args.command, f"{uris.token}: {message}")
    return EXIT_FAILURE if any(u.errors for u in found) else EXIT_OK


def run_ptz(args: argparse.Namespace) -> int:
    from gateway.cli.live_client import LiveClient, LiveError  # zeep loads only when asked

    if args.action == "move" and args.pan is None and args.tilt is None and args.zoom is None:
        raise UsageError("ptz move: give at least one of --pan, --tilt, --zoom")
    password = client_password(args.user, from_stdin=args.password_stdin)
    client = LiveClient(args.url, args.user, password)
    try:
        if args.action == "move":
            client.move(args.token, args.pan, args.tilt, args.zoom, args.timeout)
            result: object = {"token": args.token, "moving": True}
        elif args.action == "stop":
            client.stop(args.token)
            result = {"token": args.token, "stopped": True}
        elif args.action == "goto":
            client.goto(args.token, args.preset)
            result = {"token": args.token, "preset": args.preset}
        elif args.action == "presets":
            result = client.presets(args.token)
        else:
            result = client.status(args.token)
    except LiveError as err:
        raise Failure(str(err)) from None
    if args.json:
        print_json(result)
    elif isinstance(result, list):
        table(("preset", "name", "pan", "tilt", "zoom"),
              ((p["token"], p["name"], p["pan"], p["tilt"], p["zoom"]) for p in result))
    elif args.action == "status":
        assert isinstance(result, dict)
        table(("pan", "tilt", "zoom", "pan/tilt", "zoom status", "error", "utc time"), [tuple(result.values())])
    else:
        print(f"{args.token}: {args.action} sent")
    return EXIT_OK
