"""Token adaption for the proxies: this gateway's remote tokens ↔ (segment, the segment's own token).

The one place where any token of a forwarded request or response is
translated (docs/wire-format.md §10.1), not only the tokens of catalog
resources: a profile's configuration, source and node tokens are adapted by
the same rule as the profile token, the token context of
gateway.addressing.context (prefix through the persisted prefix map, local
part kept or digested).

- Outward (:func:`adapt`): a segment token ``P:L`` becomes ``<our prefix for
  P>:<local part>``; a prefix the segment presents for the first time is
  claimed as the mirror claims it, and a digested local part is recorded in
  ``token_digest``, since a digest cannot be reversed.
- Inward (:func:`resolve`): a catalog resource's token gives its segment and
  segment token directly; any other token is split at its first colon, its
  prefix looked up in the prefix map and its local part in ``token_digest``
  (else kept).  A token of a local resource (imported, no segment) is
  :class:`LocalToken`; a token whose prefix this gateway never handed out is
  :class:`ForeignToken`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select

from gateway.addressing.context import local_part, parse_segment_token
from gateway.addressing.tokens import SEPARATOR, TokenError
from gateway.catalog import records
from gateway.catalog.db import write_transaction
from gateway.catalog.errors import CatalogError
from gateway.catalog.feed import FEED_LOCK
from gateway.catalog.prefixes import PrefixClaims, has_prefix
from gateway.catalog.schema import prefix_map, resource, token_digest


@dataclass(frozen=True)
class Target:
    """Where a remote token leads: the segment and the token as the catalog knows it there."""

    segment: str
    token: str


class ForeignToken(CatalogError):
    """A token this gateway never handed out (docs/wire-format.md §10.1)."""

    def __init__(self, token: str) -> None:
        super().__init__(f"token {token[:80]!r} was not handed out by this gateway")
        self.token = token


class LocalToken(CatalogError):
    """A token of a resource imported into this catalog: no segment stands behind it."""

    def __init__(self, token: str) -> None:
        super().__init__(f"token {token[:80]!r} names a resource of this gateway's own catalog, imported without "
                         "a device or segment behind it: it has no media or PTZ service to forward to")
        self.token = token


class BadSegmentToken(CatalogError):
    """A token in a segment's answer that no ONVIF peer may send (docs/wire-format.md §3.3 Rule 4)."""


def resolve(engine: Engine, tokens: Iterable[str]) -> dict[str, Target]:
    """Each remote token's target; the first one that leads nowhere raises ForeignToken or LocalToken."""
    wanted = list(dict.fromkeys(tokens))
    with engine.connect() as conn:
        found: dict[str, Target] = {}
        for token in wanted:
            found[token] = _resolve(conn, token)
    return found


def _resolve(conn: Connection, token: str) -> Target:
    row = conn.execute(select(resource.c.segment, resource.c.segment_token).where(resource.c.token == token)).first()
    if row is not None:
        if row.segment is None:
            raise LocalToken(token)
        return Target(row.segment, row.segment_token)
    ours, sep, local = token.partition(SEPARATOR)
    if not sep or not ours or not local:
        raise ForeignToken(token)
    mapped = conn.execute(select(prefix_map.c.segment, prefix_map.c.remote_prefix)
                          .where(prefix_map.c.local_prefix == ours)).first()
    if mapped is None:
        local_use = conn.execute(select(resource.c.id).where(
            resource.c.segment.is_(None), has_prefix(resource.c.token, ours)).limit(1)).first()
        raise LocalToken(token) if local_use is not None else ForeignToken(token)
    digested = conn.execute(select(token_digest.c.segment_token).where(
        token_digest.c.segment == mapped.segment, token_digest.c.digest == local)).scalar_one_or_none()
    if digested is not None:
        return Target(mapped.segment, digested)
    return Target(mapped.segment, f"{mapped.remote_prefix}{SEPARATOR}{local}" if mapped.remote_prefix else local)


def adapt(engine: Engine, segment: str, segment_tokens: Iterable[str]) -> dict[str, str]:
    """This gateway's token for each of ``segment``'s tokens; BadSegmentToken for one that breaks Rule 4.

    Read-only when every prefix is known and every digest recorded, which is
    the steady state; otherwise one write transaction under the feed's
    writer lock claims the new prefixes exactly as the mirror would.
    """
    parsed: dict[str, tuple[str, str]] = {}
    digests: dict[str, str] = {}
    for token in dict.fromkeys(segment_tokens):
        try:
            prefix, local = parse_segment_token(token)
        except TokenError as err:
            raise BadSegmentToken(f"segment {segment} answered with token {token[:80]!r}: {err}") from None
        kept = local_part(local, token)
        parsed[token] = (prefix, kept)
        if kept != local:
            digests[token] = kept
    with engine.connect() as conn:
        known = _prefixes(conn, segment, {prefix for prefix, _ in parsed.values()})
        recorded = _recorded(conn, segment, digests.values())
    missing_prefixes = {prefix for prefix, _ in parsed.values()} - known.keys()
    missing_digests = {token: digest for token, digest in digests.items() if digest not in recorded}
    if missing_prefixes or missing_digests:
        with write_transaction(engine, FEED_LOCK) as conn:
            claims = PrefixClaims(conn, segment)
            claims.claim(sorted(missing_prefixes))
            for prefix in missing_prefixes:
                claimed = claims.local(prefix)
                assert claimed is not None  # claim() never leaves a prefix unmapped
                known[prefix] = claimed
            again = _recorded(conn, segment, missing_digests.values())
            rows = [{"segment": segment, "digest": digest, "segment_token": token}
                    for token, digest in missing_digests.items() if digest not in again]
            if rows:
                conn.execute(insert(token_digest), rows)
    return {token: f"{known[prefix]}{SEPARATOR}{local}" for token, (prefix, local) in parsed.items()}


def _prefixes(conn: Connection, segment: str, remote_prefixes: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in records.chunks(sorted(remote_prefixes), records.IN_CHUNK):
        found.update((row[0], row[1]) for row in conn.execute(
            select(prefix_map.c.remote_prefix, prefix_map.c.local_prefix).where(
                prefix_map.c.segment == segment, prefix_map.c.remote_prefix.in_(chunk))))
    return found


def _recorded(conn: Connection, segment: str, digests: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in records.chunks(sorted(set(digests)), records.IN_CHUNK):
        found.update(row[0] for row in conn.execute(select(token_digest.c.digest).where(
            token_digest.c.segment == segment, token_digest.c.digest.in_(chunk))))
    return found


def device_prefix(engine: Engine, segment: str) -> str | None:
    """The device prefix of a device segment's tokens, as its sync stored them; None before its first sync.

    A device segment's segment tokens all carry the one prefix its sync
    chose (docs/wire-format.md §12.1), so any of its resources tells it.
    """
    with engine.connect() as conn:
        token = conn.execute(select(resource.c.segment_token).where(resource.c.segment == segment)
                             .order_by(resource.c.id.desc()).limit(1)).scalar_one_or_none()
    if token is None:
        return None
    prefix, sep, _ = token.partition(SEPARATOR)
    return prefix if sep else None
