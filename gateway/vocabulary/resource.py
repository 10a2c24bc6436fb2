"""The records every layer exchanges about a resource: what it is, and how it changes.

They sit at the bottom (they import nothing of the gateway) because the ONVIF
vocabulary, the filter semantics, the catalog, the event service and
federation all speak them, and none of those should depend on another just to
name a resource.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

#: Resource kinds the gateway serves as ``tns1:Resource/<kind>`` property topics
#: (docs/wire-format.md §4.1): the eleven media configurations, MediaProfile, and the
#: recommended extras.
RESOURCE_KINDS: tuple[str, ...] = (
    "MediaProfile",
    "VideoSource",
    "AudioSource",
    "Recording",
    "VideoSourceConfiguration",
    "AudioSourceConfiguration",
    "VideoEncoderConfiguration",
    "AudioEncoderConfiguration",
    "AudioOutputConfiguration",
    "AudioDecoderConfiguration",
    "MetadataConfiguration",
    "AnalyticsConfiguration",
    "PTZConfiguration",
    "OSDConfiguration",
    "MaskConfiguration",
    "PTZNode",
)


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One addressable resource, as published in its property event.

    ``lat``/``lon`` are WGS84 degrees and both ``None`` when the location is
    unknown; ``offline`` is ``None`` when the resource does not report it.
    """

    token: str
    kind: str = "MediaProfile"
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    elevation: float | None = None
    scopes: tuple[str, ...] = ()
    offline: bool | None = None

    @property
    def has_location(self) -> bool:
        return self.lat is not None and self.lon is not None


class Operation(str, Enum):
    """The PropertyOperation of a resource event (docs/wire-format.md §4.3)."""

    INITIALIZED = "Initialized"
    CHANGED = "Changed"
    DELETED = "Deleted"


@dataclass(frozen=True, kw_only=True)
class Change:
    """One entry of the change feed: the resource before and after.

    ``old`` is ``None`` for a creation, ``new`` is ``None`` for a deletion.
    Keeping both images lets each subscription decide on its own whether the
    resource entered, stayed in or left its matching set.
    """

    seq: int
    token: str
    old: Resource | None
    new: Resource | None
    at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class SegmentUpdate:
    """One resource event received from a downstream segment, in the segment's own tokens.

    ``None`` means the item was absent.  For ``Initialized`` that is "unknown";
    for ``Changed`` it is "unchanged" (the Resource Query example sends only
    ``Offline``), so the catalog merges a ``Changed`` into what it holds.
    ``offline`` is what the segment reports; the published value also
    depends on whether the segment itself is reachable.
    """

    operation: Operation
    kind: str
    token: str
    name: str | None = None
    location: tuple[float, float, float | None] | None = None  # (lat, lon, elevation)
    scopes: tuple[str, ...] | None = None
    offline: bool | None = None
