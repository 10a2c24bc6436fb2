"""``vmsgw id explain``: decode a 20-digit Annex A device ID field by field (docs/wire-format.md §3.4)."""
from __future__ import annotations

import argparse
from dataclasses import asdict

from gateway.addressing.annex_a import DeviceIdError, explain
from gateway.cli.output import EXIT_OK, UsageError, print_json, table


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("id", help="Annex A device IDs (token prefixes)")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verbs.add_parser(
        "explain", parents=[common], help="decode a 20-digit device ID field by field",
        description="Decode a 20-digit IEC 62676-2-33 Annex A device ID: zone (province, city, district, unit), "
        "agency, device type, network and serial.",
    )  # fmt: skip
    p.add_argument("device_id", metavar="ID", help="20 digits, e.g. 32010001071321008015")
    p.add_argument("--json", action="store_true", help="print a JSON list of {name, digits, meaning}")
    p.set_defaults(handler=run_explain, command="id explain")


def run_explain(args: argparse.Namespace) -> int:
    """The field table; a structural error names the offending position and exits 2."""
    try:
        fields = explain(args.device_id.strip())
    except DeviceIdError as err:
        raise UsageError(str(err)) from None
    if args.json:
        print_json([asdict(f) for f in fields])
    else:
        table(("field", "digits", "meaning"), ((f.name, f.digits, f.meaning) for f in fields))
    return EXIT_OK
