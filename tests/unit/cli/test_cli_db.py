"""Migration is explicit: ``vmsgw db upgrade`` migrates, every other command (``serve`` too) checks and refuses.

A catalog that is missing, empty, at an older revision or at a revision newer
than this code makes a command print one line with the hint, exit 3, and leave
the catalog exactly as it was (a missing file is not created).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.catalog import migrate
from gateway.catalog.db import open_engine
from gateway.catalog.store import Catalog
from gateway.cli.output import EXIT_SCHEMA

ROOT = Path(__file__).resolve().parents[3]
#: A revision no release has: what a catalog migrated by a newer vmsgw looks like to this one.
FUTURE = "ffffffffffff"


def _older() -> str:
    """The revision just before head."""
    down = migrate._scripts().get_revision(migrate.head()).down_revision
    assert isinstance(down, str)
    return down


def _at(url: str, revision: str) -> None:
    engine = open_engine(url)
    try:
        migrate.upgrade(engine, revision)
    finally:
        engine.dispose()


def _future(url: str) -> None:
    _at(url, "head")
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE})
    finally:
        engine.dispose()


#: How to leave the catalog at ``path`` in each refused state, and what the refusal says.
STATES: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing": (lambda path: None, "no catalog at {url}; create it with: vmsgw db upgrade --db {url}"),
    "empty": (lambda path: path.touch(), "no catalog at {url}; create it with: vmsgw db upgrade --db {url}"),
    "older": (lambda path: _at(f"sqlite:///{path}", _older()),
              "the catalog at {url} is at revision {older}, this vmsgw needs {head}; run: vmsgw db upgrade --db {url}"),
    "newer": (lambda path: _future(f"sqlite:///{path}"),
              "the catalog at {url} is at revision {future}, newer than this vmsgw ({head}); "
              "use the newer vmsgw that migrated it (a catalog is never downgraded)"),
}


def _snapshot(directory: Path) -> dict[str, str]:
    """Every file of ``directory`` and a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def _expected(state: str, url: str) -> str:
    return STATES[state][1].format(url=url, older=_older(), head=migrate.head(), future=FUTURE)


def _prepare(tmp_path: Path, state: str) -> tuple[Path, str]:
    directory = tmp_path / "catalogs"
    directory.mkdir()
    path = directory / "catalog.db"
    STATES[state][0](path)
    return path, f"sqlite:///{path}"


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("argv", [("user", "list"), ("catalog", "stats"), ("user", "add", "eve", "--level", "user"),
                                  ("segment", "list"), ("uplink", "list")], ids=" ".join)
def test_a_command_refuses_a_catalog_not_at_this_revision_and_writes_nothing(  # type: ignore[no-untyped-def]
    vmsgw, capsys, tmp_path: Path, state: str, argv: tuple[str, ...]
) -> None:
    path, url = _prepare(tmp_path, state)
    before = _snapshot(path.parent)
    assert vmsgw(*argv, "--db", url, stdin="a password\n") == EXIT_SCHEMA
    out, err = capsys.readouterr()
    assert out == "" and err == f"vmsgw {' '.join(argv[:2])}: {_expected(state, url)}\n"
    assert _snapshot(path.parent) == before  # a missing file not created, an empty one still empty


def test_the_hint_names_no_db_option_for_the_default_catalog(vmsgw, capsys, monkeypatch,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'default.db'}"
    monkeypatch.setattr("gateway.cli.context.default_url", lambda: url)
    assert vmsgw("user", "list") == EXIT_SCHEMA
    assert capsys.readouterr().err == f"vmsgw user list: no catalog at {url}; create it with: vmsgw db upgrade\n"


@pytest.mark.parametrize("state", STATES)
def test_serve_refuses_before_listening_and_writes_nothing(tmp_path: Path, state: str) -> None:
    path, url = _prepare(tmp_path, state)
    before = _snapshot(path.parent)
    done = subprocess.run([sys.executable, "-m", "gateway", "serve", "--listen", "127.0.0.1:0", "--db", url],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, env=dict(os.environ))
    assert (done.returncode, done.stdout) == (EXIT_SCHEMA, "")
    assert done.stderr == f"vmsgw serve: {_expected(state, url)}\n"
    assert _snapshot(path.parent) == before


def test_upgrade_creates_migrates_and_then_every_command_runs(vmsgw, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, url = _prepare(tmp_path, "older")
    older = _older()
    assert vmsgw("db", "current", "--db", url) == 0
    assert capsys.readouterr().out == f"{older}; this version's schema is {migrate.head()}: run `vmsgw db upgrade`\n"
    assert vmsgw("db", "upgrade", "--db", url) == 0
    assert capsys.readouterr().out == f"catalog at revision {migrate.head()} (was {older})\n"
    assert vmsgw("db", "upgrade", "--db", url) == 0  # a no-op at head
    assert capsys.readouterr().out == f"catalog at revision {migrate.head()}\n"
    assert vmsgw("db", "check", "--db", url) == 0
    assert vmsgw("user", "list", "--db", url) == 0

    fresh = f"sqlite:///{tmp_path / 'new.db'}"
    assert vmsgw("db", "upgrade", "--db", fresh) == 0
    assert capsys.readouterr().out.endswith(f"catalog at revision {migrate.head()} (was empty)\n")
    assert vmsgw("catalog", "stats", "--json", "--db", fresh) == 0


def test_upgrade_never_downgrades_a_newer_catalog(vmsgw, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, url = _prepare(tmp_path, "newer")
    before = _snapshot(path.parent)
    assert vmsgw("db", "upgrade", "--db", url) == EXIT_SCHEMA
    assert capsys.readouterr().err == f"vmsgw db upgrade: {_expected('newer', url)}\n"
    assert _snapshot(path.parent) == before


def test_open_with_require_current_accepts_a_catalog_at_head(db_url: str) -> None:
    catalog = Catalog.open(db_url, require_current=True)
    try:
        assert catalog.list_users() == []
    finally:
        catalog.close()


@pytest.mark.parametrize("verb", ["check", "current"])
@pytest.mark.parametrize("state", ["missing", "empty"])
def test_db_check_and_current_do_not_create_a_missing_catalog(  # type: ignore[no-untyped-def]
    vmsgw, capsys, tmp_path: Path, verb: str, state: str
) -> None:
    path, url = _prepare(tmp_path, state)
    before = _snapshot(path.parent)
    assert vmsgw("db", verb, "--db", url) == EXIT_SCHEMA
    out, err = capsys.readouterr()
    assert out == "" and err == f"vmsgw db {verb}: {_expected(state, url)}\n"
    assert _snapshot(path.parent) == before
