"""Persisted token context: the prefix this gateway uses for each device prefix of each segment.

The rules are gateway.addressing.context's; this module makes them durable
(docs/decisions.md §7).  A device prefix is claimed the first time a segment
presents it, inside the feed writer's locked transaction, so two segments
can never claim one prefix, and the claim is never given back: removing and
re-adding a segment, restarting or re-syncing yields the same tokens.

A candidate prefix is free when no segment's mapping uses it and no local
resource token starts with it (the local catalog owns the prefixes it
imported first; ``catalog import`` refuses the ones claimed here).
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy import ColumnElement, Connection, insert, select
from sqlalchemy.engine import Dialect

from gateway.addressing.context import prefix_candidates
from gateway.addressing.tokens import SEPARATOR
from gateway.catalog import records, rows
from gateway.catalog.schema import prefix_map

#: The character right after SEPARATOR: ``P:`` <= token < ``P;`` are exactly the tokens with prefix P.
_AFTER_SEPARATOR = chr(ord(SEPARATOR) + 1)
#: Candidate prefixes tested per query: each is a range term of one OR.
CLAIM_CHUNK = 100


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
        if remote_prefix not in self._known and claim:
            self.claim([remote_prefix])
        return self._known.get(remote_prefix)

    def claim(self, remote_prefixes: Iterable[str]) -> None:
        """Claim a prefix for each of ``remote_prefixes`` not mapped yet, first come first served.

        A sync meets thousands of new devices per batch, so candidates are
        tested a round at a time (one query for all) and the claims inserted together.
        """
        wanted = [p for p in dict.fromkeys(remote_prefixes) if p not in self._known]
        self.load(wanted)
        pending = {p: prefix_candidates(p, self.segment) for p in wanted if p not in self._known}
        trying = {p: next(candidates) for p, candidates in pending.items()}
        claimed: dict[str, str] = {}
        while trying:
            taken = self._taken(set(trying.values())) | set(claimed.values())
            retry: dict[str, str] = {}
            for remote, candidate in trying.items():
                if candidate in taken:
                    retry[remote] = next(pending[remote])
                else:
                    claimed[remote] = candidate
                    taken.add(candidate)
            trying = retry
        if claimed:
            self.conn.execute(insert(prefix_map), [
                {"segment": self.segment, "remote_prefix": remote, "local_prefix": local}
                for remote, local in claimed.items()])
            self._known.update(claimed)

    def _taken(self, candidates: set[str]) -> set[str]:
        """The ``candidates`` a segment's mapping or a local resource token already uses."""
        taken: set[str] = set()
        for chunk in records.chunks(sorted(candidates), CLAIM_CHUNK):
            taken.update(row[0] for row in self.conn.execute(
                select(prefix_map.c.local_prefix).where(prefix_map.c.local_prefix.in_(chunk))))
            taken.update(row[0] for row in self.conn.exec_driver_sql(_local_use_sql(self.conn.dialect, len(chunk)),
                                                                     tuple(chunk)))
        return taken


@lru_cache(maxsize=8)
def _local_use_sql(dialect: Dialect, count: int) -> str:
    """Which of ``count`` candidate prefixes start a local resource's token: one index range probe each.

    Plain SQL: built by SQLAlchemy, a hundred OR-ed ranges cost more to
    compile-key per batch than the database spent answering them.
    """
    mark = rows.placeholder(dialect)
    candidates = ", ".join([f"({mark})"] * count)
    return (f"WITH candidate(prefix) AS (VALUES {candidates}) SELECT prefix FROM candidate "
            f"WHERE EXISTS (SELECT 1 FROM resource WHERE segment IS NULL "
            f"AND token >= prefix || '{SEPARATOR}' AND token < prefix || '{_AFTER_SEPARATOR}')")
