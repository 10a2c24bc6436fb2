"""Schema migrations of the catalog: alembic, driven programmatically (``vmsgw db ...``).

The revisions ship inside the package (``gateway/catalog/migrations``) and the
alembic ``Config`` is built here, so no ini file is needed at run time.  On
PostgreSQL an upgrade holds a session advisory lock, so two processes
starting at once migrate one after the other, and runs under lock and
statement timeouts, so it fails rather than stall every reader behind a
table lock.  On SQLite an upgrade is one write transaction (see
:func:`_upgrade_sqlite`) with foreign keys off: batch mode recreates tables,
and dropping a parent table must not cascade.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gateway.catalog.db import SQLITE_DRIVERS, immediate, sqlite_pragma
from gateway.catalog.errors import CatalogError

SCRIPT_LOCATION = "gateway.catalog:migrations"
#: Revision files are named ``YYYY_MM_DD_<rev>_<slug>.py`` (ConfigParser needs the %%).
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"
#: pg_advisory_lock key serialising migrations across processes (ASCII "gw-migr").
MIGRATION_LOCK = 0x67772D6D696772
#: A migration waiting longer than this for a table lock gives up instead of
#: queueing every reader behind it.
LOCK_TIMEOUT = "10s"
#: Upper bound for one statement; the slowest today (GiST over 1 M rows) takes 2 s.
STATEMENT_TIMEOUT = "10min"


def alembic_config(connection: Connection | None = None) -> Config:
    """The alembic Config, optionally carrying the connection env.py runs on."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("file_template", FILE_TEMPLATE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class RevisionMismatch(CatalogError):
    """The catalog's schema is not the one this code was written for; the check wrote nothing.

    Only an explicit upgrade (``vmsgw db upgrade``) migrates: the subclass says
    which way the catalog is off, ``url`` (password hidden), ``found`` and
    ``wanted`` say where it is and where this code needs it.
    """

    def __init__(self, url: str, found: str | None, wanted: str, message: str) -> None:
        super().__init__(message)
        self.url, self.found, self.wanted = url, found, wanted


class NoCatalog(RevisionMismatch):
    """Nothing was ever migrated there: a missing or empty SQLite file, a database without the schema."""

    def __init__(self, url: str, wanted: str) -> None:
        super().__init__(url, None, wanted, f"no catalog at {url}")


class CatalogBehind(RevisionMismatch):
    """The catalog is at an older revision of this code's chain: an upgrade brings it to ``wanted``."""

    def __init__(self, url: str, found: str, wanted: str) -> None:
        super().__init__(url, found, wanted, f"the catalog at {url} is at revision {found}, this code needs {wanted}")


class CatalogAhead(RevisionMismatch):
    """The catalog is at a revision this code does not know: a newer release migrated it (never downgraded)."""

    def __init__(self, url: str, found: str, wanted: str) -> None:
        super().__init__(url, found, wanted,
                         f"the catalog at {url} is at revision {found}, newer than this code's {wanted}")


@cache
def _scripts() -> ScriptDirectory:
    """The shipped revision files, read once per process (the revision check runs on every command)."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision shipped with this code."""
    heads = _scripts().get_heads()
    if len(heads) != 1:
        raise CatalogError(f"the migrations have {len(heads)} heads {heads}; expected one chain")
    return heads[0]


def shown_url(url: str) -> str:
    """``url`` as messages show it: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def missing_file(url: str) -> bool:
    """True for an SQLite URL whose file does not exist or is empty: there is no catalog to open.

    Checked before connecting, because connecting creates the file.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:  # open_engine reports it
        return False
    if parsed.drivername not in SQLITE_DRIVERS or parsed.database in (None, "", ":memory:"):
        return False
    path = Path(parsed.database).expanduser()
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def check_revision(engine: Engine) -> None:
    """Return if the database is at this code's head revision, else raise the RevisionMismatch that says why.

    One read of ``alembic_version``: cheap enough for every command and for
    ``serve`` start-up.  Unlike :func:`check` it does not compare the tables
    with the models.
    """
    url = engine.url.render_as_string(hide_password=True)
    wanted = head()
    found = current(engine)
    if found == wanted:
        return
    if found is None:
        raise NoCatalog(url, wanted)
    if not known(found):
        raise CatalogAhead(url, found, wanted)
    raise CatalogBehind(url, found, wanted)


def known(revision: str) -> bool:
    """Whether ``revision`` is one of the shipped revision files."""
    try:
        return _scripts().get_revision(revision) is not None
    except (CommandError, RevisionError):  # an id no shipped revision file has
        return False


def current(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision``, serialised against other processes."""
    with engine.connect() as conn:
        try:
            if conn.dialect.name == "postgresql":
                _upgrade_postgres(conn, revision)
            else:
                _upgrade_sqlite(conn, revision)
        except CommandError as err:
            raise CatalogError(f"cannot migrate the catalog: {err}") from None


def _upgrade_postgres(conn: Connection, revision: str) -> None:
    """Each revision in its own transaction (env.py), all under one session advisory lock."""
    conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
    conn.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    conn.exec_driver_sql(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
    conn.commit()
    try:
        command.upgrade(alembic_config(conn), revision)
    finally:
        conn.rollback()
        conn.exec_driver_sql("RESET lock_timeout")
        conn.exec_driver_sql("RESET statement_timeout")
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        conn.commit()


def _upgrade_sqlite(conn: Connection, revision: str) -> None:
    """Every revision in one ``BEGIN IMMEDIATE`` transaction, which alembic joins.

    Alembic treats SQLite DDL as non-transactional and would commit between
    revisions, so two processes could both apply the same revision; SQLite's
    DDL is in fact transactional, and one write transaction both serialises
    concurrent upgrades and makes a failed one leave nothing behind.
    """
    sqlite_pragma(conn, "foreign_keys=OFF")
    try:
        with immediate(conn).begin():
            command.upgrade(alembic_config(conn), revision)
    finally:
        sqlite_pragma(conn, "foreign_keys=ON")


def check(engine: Engine) -> None:
    """Raise CatalogError unless the database is at head and matches ``schema.metadata``."""
    with engine.connect() as conn:
        try:
            command.check(alembic_config(conn))
        except CommandError as err:
            raise CatalogError(f"catalog schema check failed: {err}") from None
