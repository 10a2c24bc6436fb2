"""``vmsgw demo``: a generated city served at once, with a user and a query ready to paste.

The demo never touches the user's catalog: by default it uses its own SQLite
file (``demo.db`` beside the default catalog), deleted and recreated (migrated
to this version's schema: the one command besides ``vmsgw db upgrade`` that
migrates, since it makes its catalog) on every run, and it refuses ``--db``
naming the default catalog.  It seeds the city of
:mod:`gateway.cli.demo_city` with visible progress, creates the user ``demo``
with a fresh random password, prints both and a ``vmsgw query`` command, then
serves until Ctrl-C.
"""
from __future__ import annotations

import argparse
import secrets
import shlex
import socket
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.catalog.db import SQLITE_DRIVERS, default_url
from gateway.cli.args import Listen, listen_address, positive_int
from gateway.cli.context import open_catalog
from gateway.cli.demo_city import DEFAULT_SEED, DEFAULT_SIZE, DEMO_POINT, DISTRICTS, generate_city
from gateway.cli.output import EXIT_OK, UsageError
from gateway.cli.progress import Progress
from gateway.cli.serve_cmd import listen_errors, serve, serve_options

DEMO_FILE = "demo.db"
DEMO_USER = "demo"
DEMO_LEVEL = "User"
DEFAULT_LISTEN = "127.0.0.1:8080"
#: The RTSP relay's port in the demo, beside its web-service port (8554 is the usual alternative RTSP port).
DEFAULT_RTSP_PORT = 8554
#: Radius of the suggested query, metres: a few hundred cameras around DEMO_POINT.
DEMO_RADIUS_M = 300
#: Resources per staging batch: small, so the seeding progress moves visibly.
SEED_BATCH = 1_000
#: Random bytes of the demo password (16 URL-safe characters).
PASSWORD_BYTES = 12
#: Files SQLite keeps beside a database in WAL mode.
_SQLITE_SIDECARS = ("", "-wal", "-shm", "-journal")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "demo", parents=[common], help="serve a generated city of cameras, ready to query",
        description="Create a fresh demo catalog (by default demo.db in the user's data directory; an SQLite "
        "--db file is DELETED and recreated, any other --db database has its resources replaced), seed it with a "
        "generated city, add the user 'demo' with a random password, print a ready-to-paste query command and "
        "serve until Ctrl-C.",
    )  # fmt: skip
    p.add_argument(
        "--listen", type=listen_address, default=listen_address(DEFAULT_LISTEN), metavar="HOST:PORT",
        help=f"address to serve on; port 0 picks a free one (default {DEFAULT_LISTEN})",
    )  # fmt: skip
    p.add_argument(
        "--rtsp-listen", type=listen_address, metavar="HOST:PORT",
        help=f"address of the RTSP relay; port 0 picks a free one (default: the --listen host, port "
        f"{DEFAULT_RTSP_PORT}, or a free one when --listen picks one)",
    )  # fmt: skip
    p.add_argument("--size", type=positive_int, default=DEFAULT_SIZE, metavar="N",
                   help=f"number of resources (default {DEFAULT_SIZE:,})")
    p.set_defaults(handler=run, command="demo")


def demo_url(args: argparse.Namespace) -> str:
    """``--db`` if given (never the default catalog), else ``demo.db`` beside the default catalog."""
    real = make_url(default_url())
    if args.db is None:
        return str(real.set(database=str(Path(str(real.database)).with_name(DEMO_FILE))))
    if make_url(args.db) == real:
        raise UsageError(f"{args.db} is your real catalog; the demo replaces its contents, so give another --db")
    return str(args.db)


def _start_fresh(url: str) -> None:
    """Delete an SQLite demo file and its WAL companions; other databases are replaced by the import."""
    parsed = make_url(url)
    if parsed.drivername in SQLITE_DRIVERS and parsed.database:
        for suffix in _SQLITE_SIDECARS:
            Path(parsed.database + suffix).expanduser().unlink(missing_ok=True)


def _probe(listen: Listen) -> Listen:
    """Check the address is free before seeding (and resolve port 0, so the printed command names the port)."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    with listen_errors(listen), socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        probe.bind((listen.host, listen.port))
        return Listen(listen.host, probe.getsockname()[1])


def query_command(listen: Listen, password: str) -> str:
    """The ``vmsgw query`` line to paste into another terminal."""
    from gateway.onvif.services import DEVICE

    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen.host, listen.host)
    shown = f"[{host}]" if ":" in host else host
    lat, lon = DEMO_POINT
    return (
        f"VMSGW_PASSWORD={shlex.quote(password)} vmsgw query --url http://{shown}:{listen.port}{DEVICE.path} "
        f"--user {DEMO_USER} --near {lat},{lon} --radius {DEMO_RADIUS_M}"
    )


def relay_address(listen: Listen, rtsp: Listen | None) -> Listen:
    """Where the demo's RTSP relay listens: as given, else beside the web port (a free port when that one is)."""
    if rtsp is not None:
        return rtsp
    return Listen(listen.host, DEFAULT_RTSP_PORT if listen.port else 0)


def run(args: argparse.Namespace) -> int:
    url = demo_url(args)
    listen = _probe(args.listen)
    options = serve_options(url, listen, rtsp=relay_address(args.listen, args.rtsp_listen))
    _start_fresh(url)
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    print(f"vmsgw demo: seeding a fresh catalog with {args.size:,} generated resources ...", flush=True)
    progress = Progress("seeding the demo city", unit="resources")
    with open_catalog(url, create=True) as catalog:  # the demo's own catalog: creating it is part of the demo
        try:
            city = generate_city(args.size, DEFAULT_SEED)
            result = catalog.import_resources(city, replace=True, batch=SEED_BATCH, progress=progress)
        finally:
            progress.finish()
        catalog.add_user(DEMO_USER, DEMO_LEVEL, password, replace=True)
    total = result.created + result.changed + result.unchanged
    print(f"vmsgw demo: {total:,} resources of Nanjing in {len(DISTRICTS)} districts, catalog {url}")
    print(f"  user:     {DEMO_USER} (level {DEMO_LEVEL})")
    print(f"  password: {password}")
    print("Query it from another terminal, e.g.:")
    print(f"  {query_command(listen, password)}", flush=True)
    serve(options)
    return EXIT_OK
