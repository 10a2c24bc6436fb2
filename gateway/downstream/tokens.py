"""Segment tokens of device segments: ``<devicePrefix>:<deviceLocalToken>`` (docs/architecture.md §10).

A device segment's resources are stored under segment tokens that carry the
device prefix, so the catalog's prefix claims treat a device like any device
behind a gateway segment.  Forwarding to the device strips the prefix again;
a gateway segment takes its segment tokens as they are.  The prefix is the
one the sync chose (the device's own ID may win over ``--prefix``), so it is
not compared with the configured one.
"""
from __future__ import annotations

from gateway.addressing.tokens import SEPARATOR
from gateway.catalog.model import DEVICE, Segment


class ForeignToken(ValueError):
    """A segment token that is not one of this device's."""


def segment_token(prefix: str, device_token: str) -> str:
    return f"{prefix}{SEPARATOR}{device_token}"


def device_token(segment: Segment, token: str) -> str:
    """The token to send to the segment for its segment token ``token``."""
    if segment.kind != DEVICE:
        return token
    prefix, sep, local = token.partition(SEPARATOR)
    if not sep or not prefix or not local:
        raise ForeignToken(f"{token!r} is not a token of device segment {segment.name}")
    return local
