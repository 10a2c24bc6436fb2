"""``vmsgw``: the command line of the gateway, parsing and dispatch.

Each command lives in its own module, which adds its parser and names its
handler (``handler(args) -> exit code``).  Every command accepts ``--db URL``
and ``-v`` (before or after the command name).  Exit codes: 0 success, 1 the
work failed (e.g. a server is unreachable), 2 the command line or an input
file is wrong, 3 the catalog is not at this version's schema revision (only
``vmsgw db upgrade`` migrates); every error is one line on standard error,
never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gateway.catalog.errors import CatalogError
from gateway.cli import (
    catalog_cmd,
    db_cmd,
    demo,
    id_cmd,
    live_cmd,
    query_cmd,
    segment_cmd,
    serve_cmd,
    uplink_cmd,
    user_cmd,
)
from gateway.cli.output import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_SCHEMA, CliError, error

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)


def database_url(text: str) -> str:
    """A SQLAlchemy database URL, checked for shape only (the catalog opens it later)."""
    try:
        make_url(text)
    except ArgumentError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a database URL (e.g. sqlite:////path/catalog.db or postgresql+psycopg://host/db)"
        ) from None
    return text


def _common(top_level: bool) -> argparse.ArgumentParser:
    """``--db`` and ``-v``; below the top level without defaults, so they don't hide the top-level ones."""
    common = argparse.ArgumentParser(add_help=False, argument_default=None if top_level else argparse.SUPPRESS)
    common.add_argument(
        "--db", type=database_url, metavar="URL",
        help="catalog database URL (default: an SQLite file in the user's data directory)",
    )  # fmt: skip
    common.add_argument("-v", "--verbose", action="count", help="log more (-vv for debug output)")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmsgw", parents=[_common(top_level=True)],
        description="Federated ONVIF Resource Query gateway (IEC 62676-2-33).",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    common = _common(top_level=False)
    for module in (serve_cmd, db_cmd, catalog_cmd, user_cmd, segment_cmd, uplink_cmd, id_cmd, query_cmd, live_cmd,
                   demo):
        module.add_parser(commands, common)
    return parser


def _configure_logging(verbosity: int | None) -> None:
    level = _LEVELS[min(verbosity or 0, len(_LEVELS) - 1)]
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and return its exit code (argparse's own errors included)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    _configure_logging(args.verbose)
    try:
        return int(args.handler(args))
    except CliError as err:
        error(args.command, str(err))
        return err.exit_code
    except CatalogError as err:  # the catalog's messages are one line, written for the user
        from gateway.catalog.migrate import RevisionMismatch  # loaded already if that is what it is

        if isinstance(err, RevisionMismatch):  # only `vmsgw db upgrade` migrates: say what to run
            error(args.command, db_cmd.refusal(err, db_given=args.db is not None))
            return EXIT_SCHEMA
        error(args.command, str(err))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `vmsgw user list | head -1`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``vmsgw`` console script and ``python -m gateway``."""
    sys.exit(run(argv))
