"""How the CLI talks back: tables for people, JSON for scripts, one-line errors with an exit code.

Commands raise :class:`UsageError` (exit 2: the user's input is wrong) or
:class:`Failure` (exit 1: the input was fine, the work failed, e.g. a server is
unreachable); :func:`gateway.cli.main.main` prints either as one line prefixed
with the command name, never as a traceback.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
#: The catalog is not at this version's schema revision (missing, older or newer): see gateway.cli.db_cmd.
EXIT_SCHEMA = 3
#: What a shell reports for a process ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A message for the user, with the exit code that goes with it."""

    exit_code = EXIT_FAILURE


class UsageError(CliError):
    """The command line or an input file is wrong; nothing was changed."""

    exit_code = EXIT_USAGE


class Failure(CliError):
    """The request was valid but could not be carried out."""

    exit_code = EXIT_FAILURE


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None) -> None:
    """Columns padded to their widest cell; ``None`` shows as ``-``, booleans as yes/no."""
    out = out or sys.stdout
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def print_json(data: Any, out: TextIO | None = None) -> None:
    """Indented, key order kept, non-ASCII kept readable."""
    json.dump(data, out or sys.stdout, indent=2, ensure_ascii=False)
    print(file=out or sys.stdout)


def error(command: str, message: str) -> None:
    """``vmsgw <command>: <message>`` on standard error."""
    print(f"vmsgw {command}: {message}" if command else f"vmsgw: {message}", file=sys.stderr, flush=True)
