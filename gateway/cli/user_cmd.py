"""``vmsgw user add|list|remove``: the accounts WS-UsernameToken requests are checked against.

Passwords are read from standard input (one line) or, on a terminal, asked
twice without echo; they are never printed, listed or logged.
"""
from __future__ import annotations

import argparse

from gateway.catalog.errors import CatalogError, DuplicateUser
from gateway.cli.context import db_url, open_catalog
from gateway.cli.output import EXIT_OK, UsageError, print_json, table
from gateway.cli.passwords import new_password
from gateway.onvif.access import USER_LEVELS, normalise_level


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("user", help="gateway users (WS-UsernameToken accounts)")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    add = verbs.add_parser(
        "add", parents=[common], help="add a user (password from stdin, or asked twice on a terminal)",
        description="Add a user. The password is the first line of standard input; on a terminal it is asked "
        "for twice instead.",
    )  # fmt: skip
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--level", required=True, type=str.lower, choices=[level.lower() for level in USER_LEVELS],
        help="ONVIF user level: what the user may do",
    )  # fmt: skip
    add.add_argument("--update", action="store_true", help="change the level and password of an existing user")
    add.set_defaults(handler=run_add, command="user add")

    listing = verbs.add_parser("list", parents=[common], help="list users and their levels (never passwords)")
    listing.add_argument("--json", action="store_true", help="print a JSON list of {name, level}")
    listing.set_defaults(handler=run_list, command="user list")

    remove = verbs.add_parser("remove", parents=[common], help="remove a user")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=run_remove, command="user remove")


def run_add(args: argparse.Namespace) -> int:
    level = normalise_level(args.level)  # argparse has already limited it to the known levels
    if not args.name.strip() or args.name != args.name.strip():
        raise UsageError(f"user name {args.name!r} is empty or has leading or trailing spaces")
    password = new_password()
    with open_catalog(db_url(args)) as catalog:
        try:
            catalog.add_user(args.name, level, password, replace=args.update)
        except DuplicateUser:
            raise UsageError(f"user {args.name!r} exists; use --update to change its level and password") from None
        except CatalogError as err:  # the catalog is open, so this is about the name or password given
            raise UsageError(str(err)) from None
    print(f"user {args.name} {'saved' if args.update else 'added'} with level {level}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        users = catalog.list_users()
    if args.json:
        print_json([{"name": u.name, "level": u.level} for u in users])
    else:
        table(("name", "level"), ((u.name, u.level) for u in users))
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        removed = catalog.delete_user(args.name)
    if not removed:
        raise UsageError(f"no user named {args.name!r}")
    print(f"user {args.name} removed")
    return EXIT_OK
