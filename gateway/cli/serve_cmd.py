"""``vmsgw serve``: running the gateway on a catalog at this version's schema (``vmsgw db upgrade`` makes it so)."""
from __future__ import annotations

import argparse
import errno
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli.args import Listen, listen_address, positive_int, positive_seconds
from gateway.cli.context import db_url
from gateway.cli.output import EXIT_OK, Failure, UsageError

if TYPE_CHECKING:  # the server stack loads only for the commands that use it
    from gateway.runtime import ServeOptions, UplinkListen

DEFAULT_LISTEN = "127.0.0.1:8080"
#: The defaults of gateway.runtime (KEEP_ALIVE, LinkLimits.dead_after), stated here for the help
#: without loading the server stack; a test holds them equal.
SHOWN_KEEP_ALIVE, SHOWN_UPLINK_IDLE = 300.0, 25.0
#: gateway.media.resolve.STREAMS_PER_SEGMENT, stated here for the help (a test holds them equal).
SHOWN_STREAMS_PER_SEGMENT = 64
#: Longest --keep-alive: a day; idle connections hold a descriptor each.
MAX_KEEP_ALIVE = 86_400.0
#: --uplink-idle-timeout bounds: below a second one busy moment delaying a PING answer would cut a live link.
MIN_UPLINK_IDLE, MAX_UPLINK_IDLE = 1.0, 3_600.0


def seconds_within(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: seconds more than 0, at least ``low`` and at most ``high``."""

    def parse(text: str) -> float:
        value = positive_seconds(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must be from {low:g} to {high:g} seconds")
        return value

    return parse
#: Errors of bind(): the address is the problem, not the gateway.
_BIND_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "serve", parents=[common], help="serve the catalog to ONVIF clients",
        description="Check the catalog is at this version's schema (else refuse: run `vmsgw db upgrade`), listen, and "
        "serve the device, event, uplink, media and PTZ services (and, with --rtsp-listen, the RTSP relay) until "
        "Ctrl-C or SIGTERM.",
    )  # fmt: skip
    p.add_argument(
        "--listen", type=listen_address, default=listen_address(DEFAULT_LISTEN), metavar="HOST:PORT",
        help=f"address to listen on, e.g. 0.0.0.0:8080 or [::1]:8080; port 0 picks one (default {DEFAULT_LISTEN})",
    )  # fmt: skip
    p.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this PEM certificate (chain)")
    p.add_argument("--tls-key", type=Path, metavar="FILE", help="the PEM private key of --tls-cert")
    p.add_argument("--max-pull-points", type=positive_int, metavar="N", help="live pull points allowed at once")
    p.add_argument(
        "--keep-alive", type=seconds_within(0, MAX_KEEP_ALIVE), metavar="SECONDS",
        help=f"seconds an idle client connection stays open between requests, and before its first (default "
        f"{SHOWN_KEEP_ALIVE:g}, at most {MAX_KEEP_ALIVE:g}). The HTTP server's own 5 s closed the pooled "
        "connections of relays and proxies every 5 s; the default outlasts the idle limits of common pools and "
        "proxies (60 to 120 s), so they close first and never send a request on a connection being closed",
    )  # fmt: skip
    media = p.add_argument_group("media relay", "live streams of the segments' cameras, relayed through this gateway "
                                 "(the URIs GetStreamUri returns point here)")
    media.add_argument(
        "--rtsp-listen", type=listen_address, metavar="HOST:PORT",
        help="address RTSP clients connect to, e.g. 0.0.0.0:8554; port 0 picks one. Without it streams are still "
        "served as RTSP over HTTP on the --listen port",
    )  # fmt: skip
    media.add_argument(
        "--streams-per-segment", type=positive_int, metavar="N",
        help=f"concurrent streams relayed from one segment at most (default {SHOWN_STREAMS_PER_SEGMENT}); one more "
        "gets RTSP 453 Not Enough Bandwidth",
    )  # fmt: skip
    up = p.add_argument_group("uplink listener", "accept segments behind firewalls that connect to this gateway "
                              "(ONVIF Uplink, h2c-reverse and WebSocket, over TLS)")
    up.add_argument("--uplink-listen", type=listen_address, metavar="HOST:PORT",
                    help="address segments connect to, e.g. 0.0.0.0:9443; port 0 picks one")
    up.add_argument("--uplink-cert", type=Path, metavar="FILE", help="the listener's PEM certificate (chain)")
    up.add_argument("--uplink-key", type=Path, metavar="FILE", help="the PEM private key of --uplink-cert")
    up.add_argument("--uplink-ca", type=Path, metavar="FILE",
                    help="PEM CAs of segments' client certificates; without it segments authenticate by token only")
    up.add_argument(
        "--uplink-idle-timeout", type=seconds_within(MIN_UPLINK_IDLE, MAX_UPLINK_IDLE), metavar="SECONDS",
        help=f"close a connected uplink that sent nothing, not even a PING answer, for this long (default "
        f"{SHOWN_UPLINK_IDLE:g}, {MIN_UPLINK_IDLE:g} to {MAX_UPLINK_IDLE:g}). PINGs go out every 10 s (more often "
        "for shorter timeouts), so two go unanswered first, and the default ends a dead link before the segment "
        "itself gives up on 30 s of silence. A segment that answers PINGs is never cut while idle",
    )  # fmt: skip
    p.set_defaults(handler=run_serve, command="serve")


def serve_options(
    url: str, listen: Listen, *, tls_cert: Path | None = None, tls_key: Path | None = None,
    max_pull_points: int | None = None, uplink: UplinkListen | None = None, keep_alive: float | None = None,
    rtsp: Listen | None = None, streams_per_segment: int | None = None,
) -> ServeOptions:
    """The runtime's ServeOptions; the TLS files are checked to exist first."""
    from gateway.events.context import EventLimits
    from gateway.runtime import ServeOptions

    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together: give both, or neither")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such file")
    limits = EventLimits() if max_pull_points is None else EventLimits(max_pull_points=max_pull_points)
    options = ServeOptions(
        db_url=url, host=listen.host, port=listen.port,
        certfile=str(tls_cert) if tls_cert else None, keyfile=str(tls_key) if tls_key else None,
        limits=limits, uplink=uplink,
    )  # fmt: skip
    if keep_alive is not None:  # else the runtime's default
        options.keep_alive = keep_alive
    if rtsp is not None:
        options.rtsp = (rtsp.host, rtsp.port)
    if streams_per_segment is not None:
        options.streams_per_segment = streams_per_segment
    return options


def uplink_listen(args: argparse.Namespace) -> UplinkListen | None:
    """``--uplink-*`` as the runtime's UplinkListen; the files are checked to exist first."""
    from gateway.runtime import UplinkListen
    from gateway.uplink.listening.listener import TlsFiles

    if args.uplink_listen is None:
        if args.uplink_cert or args.uplink_key or args.uplink_ca or args.uplink_idle_timeout is not None:
            raise UsageError("--uplink-cert, --uplink-key, --uplink-ca and --uplink-idle-timeout need --uplink-listen")
        return None
    if args.uplink_cert is None or args.uplink_key is None:
        raise UsageError("--uplink-listen needs --uplink-cert and --uplink-key: uplinks run over TLS")
    for path in (args.uplink_cert, args.uplink_key, args.uplink_ca):
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such file")
    files = TlsFiles(certfile=str(args.uplink_cert), keyfile=str(args.uplink_key),
                     cafile=str(args.uplink_ca) if args.uplink_ca else None)
    idle = {} if args.uplink_idle_timeout is None else {"idle_timeout": args.uplink_idle_timeout}
    return UplinkListen(host=args.uplink_listen.host, port=args.uplink_listen.port, tls=files, **idle)


@contextmanager
def listen_errors(listen: Listen) -> Iterator[None]:
    """A listen address that cannot be resolved or bound becomes one clear line (exit 1)."""
    try:
        yield
    except socket.gaierror as err:
        raise Failure(f"cannot resolve {listen.host!r}: {err.strerror}") from None
    except OSError as err:
        if err.errno not in _BIND_ERRORS:
            raise
        raise Failure(f"cannot listen on {listen.host}:{listen.port}: {err.strerror}") from None


def serve(options: ServeOptions) -> None:
    """Run the gateway until Ctrl-C or SIGTERM."""
    from gateway.runtime import UplinkListenError
    from gateway.runtime import serve as run_gateway

    try:
        with listen_errors(Listen(options.host, options.port)):
            run_gateway(options)
    except UplinkListenError as err:
        raise Failure(str(err)) from None


def run_serve(args: argparse.Namespace) -> int:
    options = serve_options(
        db_url(args), args.listen, tls_cert=args.tls_cert, tls_key=args.tls_key, max_pull_points=args.max_pull_points,
        uplink=uplink_listen(args), keep_alive=args.keep_alive, rtsp=args.rtsp_listen,
        streams_per_segment=args.streams_per_segment,
    )
    serve(options)
    return EXIT_OK

