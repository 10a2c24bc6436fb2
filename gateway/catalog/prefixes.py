"""Persisted token context: the prefix this gateway uses for each device prefix of each segment.

The rules are gateway.addressing.context's; this module makes them durable
(DESIGN decision 7).  A device prefix is claimed the first time a segment
presents it, inside the feed writer's locked transaction, so two segments
can never claim one prefix, and the claim is never given back: removing and
re-adding a segment, restarting or re-syncing yields the same tokens.

A candidate prefix is free when no segment's mapping uses it and no local
resource token starts with it (the local catalog owns the prefixes it
imported first; ``catalog import`` refuses the ones claimed here).
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Connection, exists, insert, select

from gateway.addressing.context import prefix_candidates
from gateway.addressing.tokens import SEPARATOR
from gateway.catalog import records
from gateway.catalog.schema import prefix_map, resource

#: The character right after SEPARATOR: ``P:`` <= token < ``P;`` are exactly the tokens with prefix P.
_AFTER_SEPARATOR = chr(ord(SEPARATOR) + 1)


def has_prefix(token: ColumnElement[str], prefix: str | ColumnElement[str]) -> ColumnElement[bool]:
    """``token`` starts with ``prefix:``, as a byte-wise range an index on ``token`` can serve."""
    return (token >= prefix + SEPARATOR) & (token < prefix + _AFTER_SEPARATOR)


class PrefixClaims:
    """One segment's prefix mapping within one write transaction, claiming new prefixes as they appear."""

    def __init__(self, conn: Connection, segment: str) -> None:
        self.conn, self.segment = conn, segment
        self._known: dict[str, str] = {}

    def load(self, remote_prefixes: Iterable[str]) -> None:
        """Read the stored mappings of ``remote_prefixes`` in a few queries rather than one each."""
        missing = [p for p in set(remote_prefixes) if p not in self._known]
        for chunk in records.chunks(missing, records.IN_CHUNK):
            stmt = select(prefix_map.c.remote_prefix, prefix_map.c.local_prefix).where(
                prefix_map.c.segment == self.segment, prefix_map.c.remote_prefix.in_(chunk))
            self._known.update((row[0], row[1]) for row in self.conn.execute(stmt))

    def local(self, remote_prefix: str, *, claim: bool = True) -> str | None:
        """This gateway's prefix for ``remote_prefix`` ("" = the segment's unprefixed tokens).

        Without ``claim``, None when the prefix was never claimed: a Deleted
        for an unknown device must not grow the mapping.
        """
        if remote_prefix not in self._known:
            self.load([remote_prefix])
        if remote_prefix not in self._known:
            if not claim:
                return None
            claimed = next(p for p in prefix_candidates(remote_prefix, self.segment) if not self._taken(p))
            self.conn.execute(insert(prefix_map).values(
                segment=self.segment, remote_prefix=remote_prefix, local_prefix=claimed))
            self._known[remote_prefix] = claimed
        return self._known[remote_prefix]

    def _taken(self, candidate: str) -> bool:
        mapped = exists().where(prefix_map.c.local_prefix == candidate)
        local = exists().where(resource.c.segment.is_(None), has_prefix(resource.c.token, candidate))
        return bool(self.conn.execute(select(mapped | local)).scalar_one())

