"""``vmsgw catalog import|export|stats``: the local catalog as a CSV file, and its size.

An import is all or nothing: an invalid row is reported as ``FILE:LINE:
message`` and, without ``--skip-invalid``, nothing is imported (exit 2).  By
default the catalog becomes exactly the file's rows (rows missing from the file
are deleted); ``--merge`` keeps them.  Re-importing the same file changes
nothing and emits no events.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli.context import db_url, open_catalog
from gateway.cli.output import EXIT_OK, UsageError, print_json, table
from gateway.cli.progress import Progress


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("catalog", help="the local resource catalog")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    imp = verbs.add_parser(
        "import", parents=[common], help="make the catalog the rows of a CSV file",
        description="Import resources from a CSV file (header: token,kind,name,lat,lon,elevation,scopes,offline). "
        "By default the catalog becomes exactly the file's rows; open subscriptions see Initialized, Changed and "
        "Deleted events for the differences.",
    )  # fmt: skip
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--skip-invalid", action="store_true", help="import the valid rows, report and skip the rest")
    imp.add_argument("--merge", action="store_true", help="keep catalog rows the file does not mention")
    imp.set_defaults(handler=run_import, command="catalog import")

    exp = verbs.add_parser("export", parents=[common], help="write the catalog to a CSV file")
    exp.add_argument("file", type=Path, metavar="FILE.csv")
    exp.set_defaults(handler=run_export, command="catalog export")

    stats = verbs.add_parser("stats", parents=[common], help="count resources, users and pull points")
    stats.add_argument("--json", action="store_true", help="print the counts as JSON")
    stats.set_defaults(handler=run_stats, command="catalog stats")


def run_import(args: argparse.Namespace) -> int:
    from gateway.catalog.csvio import import_csv

    path: Path = args.file
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    progress = Progress(f"importing {path.name}")
    with open_catalog(db_url(args)) as catalog:
        try:
            report = import_csv(
                catalog, path, skip_invalid=args.skip_invalid, replace=not args.merge, progress=progress
            )
        except PermissionError as err:
            raise UsageError(f"{path}: {err.strerror}") from None
        finally:
            progress.finish()
    for line, message in report.errors:
        print(f"{path}:{line}: {message}", file=sys.stderr)
    if len(report.errors) > report.skipped:  # an error that skipping a row cannot fix: the file is unreadable
        raise UsageError("nothing was imported: the file cannot be read as a catalog CSV")
    if report.errors and not args.skip_invalid:
        count = len(report.errors)
        raise UsageError(
            f"{count} invalid row{'s' if count > 1 else ''}: nothing was imported "
            "(fix the file, or give --skip-invalid to import the valid rows)"
        )
    print(
        f"{path}: {report.created} created, {report.changed} changed, {report.deleted} deleted, "
        f"{report.unchanged} unchanged, {report.skipped} skipped"
    )
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from gateway.catalog.csvio import export_csv

    path: Path = args.file
    if not path.parent.is_dir():
        raise UsageError(f"{path}: directory {path.parent} does not exist")
    with open_catalog(db_url(args)) as catalog:
        try:
            count = export_csv(catalog, path)
        except OSError as err:
            raise UsageError(f"{path}: {err.strerror}") from None
    print(f"{path}: {count} resources written")
    return EXIT_OK


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested counts as ``parent.child`` rows, for the table."""
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def run_stats(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        stats = catalog.stats()
    if args.json:
        print_json(stats)
    else:
        table(("item", "value"), _flatten(stats))
    return EXIT_OK
