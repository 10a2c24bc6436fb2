"""``vmsgw db upgrade|check|current``: the catalog's schema, and the one command that migrates it.

Every other command that opens a catalog, ``serve`` included, checks its
revision first and refuses with a one-line hint and exit code 3
(:data:`~gateway.cli.output.EXIT_SCHEMA`) unless it is exactly this version's:
a missing or empty catalog is to be created with ``vmsgw db upgrade``, an older
one migrated with it (after stopping older gateways where the README says so),
and one a newer version migrated is never downgraded.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from gateway.cli.context import db_url
from gateway.cli.output import EXIT_OK

if TYPE_CHECKING:  # the migration stack loads only for the commands that use it
    from sqlalchemy import Engine

    from gateway.catalog.migrate import RevisionMismatch

UPGRADE = "vmsgw db upgrade"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    db = commands.add_parser("db", help="catalog schema migrations")
    verbs = db.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, handler, text in (
        ("upgrade", run_upgrade, "create the catalog or migrate it to this version's schema"),
        ("check", run_check, "exit 1 unless the catalog's schema is exactly this version's"),
        ("current", run_current, "print the catalog's schema revision"),
    ):
        verb = verbs.add_parser(name, parents=[common], help=text, description=text[0].upper() + text[1:] + ".")
        verb.set_defaults(handler=handler, command=f"db {name}")


def refusal(err: RevisionMismatch, *, db_given: bool) -> str:
    """The one line a command prints when the catalog is not at this version's revision: what, and what to run."""
    from gateway.catalog.migrate import CatalogAhead, NoCatalog

    upgrade = f"{UPGRADE} --db {err.url}" if db_given else UPGRADE
    if isinstance(err, NoCatalog):
        return f"no catalog at {err.url}; create it with: {upgrade}"
    if isinstance(err, CatalogAhead):
        return (f"the catalog at {err.url} is at revision {err.found}, newer than this vmsgw ({err.wanted}); "
                "use the newer vmsgw that migrated it (a catalog is never downgraded)")
    return f"the catalog at {err.url} is at revision {err.found}, this vmsgw needs {err.wanted}; run: {upgrade}"


@contextmanager
def _engine(args: argparse.Namespace, *, create: bool = False) -> Iterator[Engine]:
    """The engine of the catalog; only ``upgrade`` (``create``) may connect to a missing SQLite file, creating it."""
    from gateway.catalog import migrate
    from gateway.catalog.db import open_engine

    url = db_url(args)
    if not create and migrate.missing_file(url):
        raise migrate.NoCatalog(migrate.shown_url(url), migrate.head())
    engine = open_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def run_upgrade(args: argparse.Namespace) -> int:
    from gateway.catalog import migrate

    with _engine(args, create=True) as engine:
        before = migrate.current(engine)
        if before is not None and not migrate.known(before):
            raise migrate.CatalogAhead(engine.url.render_as_string(hide_password=True), before, migrate.head())
        migrate.upgrade(engine)
        after = migrate.current(engine)
    print(f"catalog at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    from gateway.catalog import migrate

    with _engine(args) as engine:
        migrate.check(engine)
        revision = migrate.current(engine)
    print(f"catalog schema is current (revision {revision})")
    return EXIT_OK


def run_current(args: argparse.Namespace) -> int:
    from gateway.catalog import migrate

    with _engine(args) as engine:
        revision = migrate.current(engine)
    head = migrate.head()
    if revision == head:
        print(revision)
    else:
        print(f"{revision or 'none (never migrated)'}; this version's schema is {head}: run `{UPGRADE}`")
    return EXIT_OK
