"""Fixtures every suite can use: a fresh catalog on each backend the environment offers.

``catalog_url`` is parametrised over a new SQLite file and, when
``VMSGW_TEST_POSTGRES_URL`` names a server (``bash .ci/postgres.sh`` starts
one), a new PostgreSQL database created for the test and dropped after it.
PostgreSQL cases carry the ``postgres`` marker (``-m "not postgres"`` skips them).
"""
from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from gateway.catalog.store import Catalog

POSTGRES_ENV = "VMSGW_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def root_log_handlers() -> Iterator[None]:
    """Put back the root logger's handlers: the CLI run in-process points them at pytest's captured,
    soon closed, stderr, and later tests' log records would fail to write there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def backends() -> list[object]:
    """``"sqlite"``, plus ``"postgresql"`` (marked) when a test server is configured."""
    params: list[object] = ["sqlite"]
    if os.environ.get(POSTGRES_ENV):
        params.append(pytest.param("postgresql", marks=pytest.mark.postgres))
    return params


@pytest.fixture(params=backends())
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty catalog database, not yet migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    server = make_url(os.environ[POSTGRES_ENV])
    name = f"vmsgw_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    """An open catalog migrated to the newest revision, closed after the test."""
    c = Catalog.open(catalog_url)
    c.upgrade()
    yield c
    c.close()
