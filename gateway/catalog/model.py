"""Records the catalog owns: accounts, pull-point cursors, segments, uplinks and keys.

They carry no database or SOAP knowledge, so the services and the CLI can
share them.  The resource records that every layer speaks (Resource, Change,
SegmentUpdate, ...) live in :mod:`gateway.vocabulary.resource`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


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
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


#: Segment kinds: a Resource Query server (a VMS or another gateway), or a plain ONVIF device (camera, NVR).
GATEWAY, DEVICE = "gateway", "device"
KINDS = (GATEWAY, DEVICE)


@dataclass(kw_only=True)
class Segment:
    """A downstream system this gateway federates: how to reach it, and how it is doing."""

    name: str
    url: str  # its device service
    user: str
    password: str
    verify_tls: bool = True
    ca_file: str | None = None
    #: PullMessages Timeout on the segment: the live-check interval (docs/wire-format.md §6.5).
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
    kind: str = GATEWAY
    #: A device segment's settings: the prefix of its tokens when the device presents no Annex A ID, and
    #: its location (lat, lon, elevation) when given rather than read from the device.
    device_prefix: str | None = None
    location: tuple[float, float, float | None] | None = None

    @property
    def uplinked(self) -> bool:
        """Reached over the uplink it opens to us; ``url`` is then nominal (its host is the ``:authority``)."""
        return self.uplink_identity is not None or self.uplink_token


@dataclass(kw_only=True)
class UplinkConfig:
    """One ONVIF Uplink configuration (docs/wire-format.md §9.5): this gateway, behind a firewall, connects upward.

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
