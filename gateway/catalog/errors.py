"""The catalog's exceptions: what a caller of the catalog may have to handle.

::

    CatalogError                 bad URL, unreachable server, schema drift, invalid input
     ├── DuplicateUser           add_user without replace for an existing name
     ├── DuplicateSegment        add_segment without replace for an existing name
     ├── UnknownSegment          a segment call naming no configured segment
     └── PullPointLimitReached   create_pull_point when max_count pull points are live

Every message is one line, fit for the CLI to print as it is.
"""
from __future__ import annotations


class CatalogError(Exception):
    """The catalog cannot do what was asked; the message says why, in one line."""


class DuplicateUser(CatalogError):
    """A user of that name exists and ``replace`` was not given."""


class DuplicateSegment(CatalogError):
    """A segment of that name exists and ``replace`` was not given."""


class UnknownSegment(CatalogError):
    """No segment of that name is configured (it may have been removed meanwhile)."""


class PullPointLimitReached(CatalogError):
    """The gateway already holds its maximum number of live pull points."""
