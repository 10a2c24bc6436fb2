"""Plain records exchanged between the catalog and the layers above it.

They carry no database or SOAP knowledge, so the query matchers, the event
service and the CSV tools can all share them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum

#: Resource kinds the gateway serves as ``tns1:Resource/<kind>`` property topics
#: (digest §1.5): the eleven media configurations, MediaProfile, and the
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
    """The PropertyOperation of a resource event (digest §1.6)."""

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
class User:
    name: str
    level: str  # "Administrator" | "Operator" | "User"
    password: str


@dataclass(kw_only=True)
class PullPointState:
    """A persisted pull point: its filter, its cursor and its lifetime.

    Phase ``snapshot`` pages through the resource table by ``snap_after_id``
    (the initial ``Initialized`` enumeration); phase ``tail`` follows the change
    feed after ``tail_seq``.  ``snap_seq`` is the feed position taken when the
    snapshot started; the tail begins there.
    """

    id: str
    principal: str
    query_json: str
    phase: str  # "snapshot" | "tail"
    snap_after_id: int
    snap_seq: int
    tail_seq: int
    termination: dt.datetime
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


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


@dataclass(kw_only=True)
class Segment:
    """A downstream system this gateway federates: how to reach it, and how it is doing."""

    name: str
    url: str  # its device service
    user: str
    password: str
    verify_tls: bool = True
    ca_file: str | None = None
    #: PullMessages Timeout on the segment: the live-check interval (digest §1.11).
    heartbeat: float = 10.0
    state: str = "new"  # new | syncing | up | down
    last_seen: dt.datetime | None = None
    last_error: str | None = None
    #: Bumped at each (re)subscription; resources not re-announced since are gone.
    generation: int = 0
    rejected: int = 0  # items refused from this segment since it was added
    #: Set when the segment connects to us through an uplink (gateway.uplink.listening.listener) instead of being
    #: dialled: the client certificate identity (CN) it is known by, and whether a bearer token is too.
    uplink_identity: str | None = None
    uplink_token: bool = False

    @property
    def uplinked(self) -> bool:
        """Reached over the uplink it opens to us; ``url`` is then nominal (its host is the ``:authority``)."""
        return self.uplink_identity is not None or self.uplink_token


@dataclass(kw_only=True)
class UplinkConfig:
    """One ONVIF Uplink configuration (digest §3.7): this gateway, behind a firewall, connects upward.

    Keyed by ``remote_address`` (``https://`` native h2c-reverse, ``wss://`` over
    WebSocket).  Exactly one of ``certificate_id`` (mTLS) and
    ``authorization_server`` (AccessToken) names the credential, a key of the
    keystore.  ``user_level`` is granted to every request through the uplink.
    """

    remote_address: str
    user_level: str  # space-separated tt:StringList, e.g. "Operator"
    certificate_id: str | None = None
    authorization_server: str | None = None
    cert_path_validation_policy: str | None = None  # keystore id of a CA bundle
    status: str = "Offline"  # Offline | Connecting | Connected
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class KeyEntry:
    """Key material the uplink uses, referenced by id from uplink configurations.

    ``kind``: ``certificate`` (client certificate + private key, PEM), ``ca``
    (a CA bundle to validate the remote client's server certificate, PEM) or
    ``token`` (a bearer access token, sent in the upgrade request).
    """

    id: str
    kind: str
    cert_pem: str | None = None
    key_pem: str | None = None
    secret: str | None = None
