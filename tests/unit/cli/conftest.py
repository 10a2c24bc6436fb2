"""Fixtures for the CLI tests: a throwaway catalog and an in-process ``vmsgw`` runner.

Commands other than ``vmsgw db upgrade`` refuse a catalog that is not at this
version's schema, so ``db_url`` names one created as ``vmsgw db upgrade``
would (copied from a catalog migrated once per session).
"""
from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.catalog.store import Catalog
from gateway.cli.main import main

Vmsgw = Callable[..., int]
NewCatalog = Callable[[Path], str]


@pytest.fixture(scope="session")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite catalog at this version's schema revision, to copy: migrating from empty takes a while."""
    path = tmp_path_factory.mktemp("migrated") / "catalog.db"
    catalog = Catalog.open(f"sqlite:///{path}")
    try:
        catalog.upgrade()
    finally:
        catalog.close()  # the last connection closed: the WAL is back in the file
    return path


@pytest.fixture
def new_catalog(migrated_file: Path) -> NewCatalog:
    """``new_catalog(path)``: an empty catalog at this version's schema at ``path``, its URL."""

    def create(path: Path) -> str:
        shutil.copy(migrated_file, path)  # the mode too: owner only, as the catalog creates its files
        return f"sqlite:///{path}"

    return create


@pytest.fixture
def db_url(tmp_path: Path, new_catalog: NewCatalog) -> str:
    """A fresh catalog, as ``vmsgw db upgrade`` creates it."""
    return new_catalog(tmp_path / "catalog.db")


@pytest.fixture
def vmsgw(monkeypatch: pytest.MonkeyPatch) -> Vmsgw:
    """``vmsgw(*argv, stdin="...")`` runs ``main(argv)`` in process and returns its exit code."""

    def run(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))  # not a TTY: passwords come from it
        with pytest.raises(SystemExit) as exited:
            main(list(argv))
        return int(exited.value.code or 0)

    return run
