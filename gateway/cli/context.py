"""Which catalog a command works on, and opening it the same way for every command."""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from gateway.catalog.db import default_url

if TYPE_CHECKING:
    from gateway.catalog.store import Catalog


def db_url(args: argparse.Namespace) -> str:
    """``--db`` if given, else the user's default catalog."""
    return args.db or default_url()


@contextmanager
def open_catalog(url: str, *, create: bool = False) -> Iterator[Catalog]:
    """The catalog at ``url``, closed after.

    It must be at this version's schema revision: otherwise the catalog's
    RevisionMismatch ends the command (see :mod:`gateway.cli.db_cmd`) before
    anything is written.  Only ``vmsgw db upgrade`` migrates, and the demo,
    which makes its own catalog (``create``: create or migrate it first).
    """
    from gateway.catalog.store import Catalog  # the storage stack loads only for commands that use it

    catalog = Catalog.open(url, require_current=not create)
    try:
        if create:
            catalog.upgrade()
        yield catalog
    finally:
        catalog.close()
