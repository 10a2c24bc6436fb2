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

from enum import Enum


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


class DuplicateKey(CatalogError):
    """A keystore entry of that id exists and ``replace`` was not given."""


class KeyInUse(CatalogError):
    """The keystore entry is referenced by an uplink configuration."""


class UplinkProblem(str, Enum):
    """Which rule of an uplink configuration (docs/wire-format.md §9.5) a refused one broke."""

    PROTOCOL = "protocol"  # the RemoteAddress scheme is not https or wss
    ADDRESS = "address"  # the RemoteAddress is not a usable URL
    USER_LEVEL = "user_level"  # no known user level in UserLevel
    MISSING_AUTHENTICATION = "missing_authentication"  # neither certificate nor token
    AMBIGUOUS_AUTHENTICATION = "ambiguous_authentication"  # both
    UNKNOWN_CERTIFICATE = "unknown_certificate"  # no keystore certificate of that id
    UNKNOWN_CA = "unknown_ca"  # no keystore CA bundle of that id
    UNKNOWN_TOKEN = "unknown_token"  # no keystore token of that id
    MAX_UPLINKS = "max_uplinks"  # a new configuration beyond the maximum


class UplinkRefused(CatalogError):
    """set_uplink refused a configuration and wrote nothing; ``problem`` names the rule."""

    def __init__(self, problem: UplinkProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
