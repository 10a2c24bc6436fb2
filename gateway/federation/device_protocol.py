"""A plain ONVIF device as a segment, without I/O: the calls the device sync makes and what it reads from them
(docs/architecture.md §10, docs/wire-format.md §12).

Replies are read by local name below the response element, so a device that
puts ``Name`` in another namespace than the schema says is still understood;
a reply that is not the expected response is the device misbehaving.  A
device lists at most :data:`MAX_ITEMS` items of a kind; the rest are refused
and counted rather than stored.

The device prefix (docs/wire-format.md §12.1): the device's own 20-digit
Annex A ID where it presents one (a scope ending in it, or its serial
number), else the configured ``--prefix``, else one derived from its
identity (a digest of manufacturer, model, serial number and hardware id, so
it is the same after a restart or a re-add), else — a device without a serial
number or hardware id is not told apart from its siblings — the segment's name.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from gateway.addressing.annex_a import DeviceIdError, parse_device_id
from gateway.addressing.context import MAX_KEPT_PREFIX, parse_segment_token
from gateway.addressing.tokens import TokenError
from gateway.downstream.errors import SegmentMisbehaved
from gateway.downstream.tokens import segment_token
from gateway.onvif.ns import DIALECT_CONCRETE_SET, TDS, TEV, TPTZ, TR2, TRT, WSNT
from gateway.onvif.services import EVENTS
from gateway.onvif.time import format_duration
from gateway.vocabulary.resource import Operation, SegmentUpdate

#: Items of one kind read from a device; a device listing more is refused the rest.
MAX_ITEMS = 1000
#: Longest text kept from a device (a name, a manufacturer).
MAX_TEXT = 256
#: The ONVIF scope of a device's name.
NAME_SCOPE = "onvif://www.onvif.org/name/"
#: Scopes kept per resource: more would not help a client and would cost every resource row.
MAX_SCOPES = 32
#: A longer scope URI is left out, never cut (a cut URI would say something else).
MAX_SCOPE = 1024
#: A prefix derived from the device's identity: this mark, then a digest.
IDENTITY_MARK = "onvif-"
_PREFIX_CHARS = re.compile(r"[^A-Za-z0-9._-]")

Request = tuple[etree._Element, str]


def _request(namespace: str, operation: str, **children: str) -> Request:
    body = etree.Element(f"{{{namespace}}}{operation}")
    for name, text in children.items():
        etree.SubElement(body, f"{{{namespace}}}{name}").text = text
    return body, f"{namespace}/{operation}"


def get_system_date_and_time() -> Request:
    return _request(TDS, "GetSystemDateAndTime")


def get_device_information() -> Request:
    return _request(TDS, "GetDeviceInformation")


def get_scopes() -> Request:
    return _request(TDS, "GetScopes")


def get_geo_location() -> Request:
    return _request(TDS, "GetGeoLocation")


def get_profiles(media: str) -> Request:
    """Media2 or Media (ver10) GetProfiles: every profile, without its configurations."""
    return _request(media, "GetProfiles")


def get_video_sources() -> Request:
    return _request(TRT, "GetVideoSources")


def get_video_source_configurations() -> Request:
    return _request(TR2, "GetVideoSourceConfigurations")


def get_nodes() -> Request:
    return _request(TPTZ, "GetNodes")


#: The configuration events a device sends when its profiles or their configurations change.
CONFIGURATION_TOPICS = "tns1:Media/ProfileChanged|tns1:Media/ConfigurationChanged"


def subscribe_configuration(termination_s: float) -> Request:
    """CreatePullPointSubscription for :data:`CONFIGURATION_TOPICS`: a change wakes the sync before its heartbeat."""
    body = etree.Element(f"{{{TEV}}}CreatePullPointSubscription")
    topic = etree.SubElement(etree.SubElement(body, f"{{{TEV}}}Filter"), f"{{{WSNT}}}TopicExpression",
                             Dialect=DIALECT_CONCRETE_SET)
    topic.text = CONFIGURATION_TOPICS
    etree.SubElement(body, f"{{{TEV}}}InitialTerminationTime").text = format_duration(termination_s)
    return body, EVENTS.request_action("CreatePullPointSubscription")


def notified(body: etree._Element) -> int:
    """How many messages a PullMessagesResponse holds (what they say does not matter: any change means read again)."""
    _expect(body, TEV, "PullMessagesResponse")
    return sum(1 for _ in body.iterchildren(f"{{{WSNT}}}NotificationMessage"))


@dataclass(frozen=True, kw_only=True)
class Identity:
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware: str = ""


@dataclass(frozen=True, kw_only=True)
class Item:
    kind: str  # MediaProfile | VideoSource | PTZNode
    token: str  # the device's own
    name: str | None


@dataclass(frozen=True, kw_only=True)
class Inventory:
    """What one read of the device found."""

    identity: Identity
    scopes: tuple[str, ...]
    items: tuple[Item, ...]
    location: tuple[float, float, float | None] | None
    refused: tuple[str, ...] = ()


def _expect(body: etree._Element, namespace: str, response: str) -> etree._Element:
    if body.tag != f"{{{namespace}}}{response}":
        raise SegmentMisbehaved(f"expected {response}, got {etree.QName(body).localname}")
    return body


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip()[:MAX_TEXT] if element is not None else ""


def _child(element: etree._Element, local: str) -> etree._Element | None:
    for child in element.iterchildren("{*}" + local):
        return child
    return None


def clock(body: etree._Element) -> dt.datetime | None:
    """The device's UTC time from GetSystemDateAndTimeResponse; None when it gives none that is valid."""
    _expect(body, TDS, "GetSystemDateAndTimeResponse")
    utc = body.find("{*}SystemDateAndTime/{*}UTCDateTime")
    if utc is None:
        return None
    try:
        date, time = utc.find("{*}Date"), utc.find("{*}Time")
        if date is None or time is None:
            return None
        return dt.datetime(int(_text(_child(date, "Year"))), int(_text(_child(date, "Month"))),
                           int(_text(_child(date, "Day"))), int(_text(_child(time, "Hour"))),
                           int(_text(_child(time, "Minute"))), int(_text(_child(time, "Second"))), tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        return None


def identity(body: etree._Element) -> Identity:
    _expect(body, TDS, "GetDeviceInformationResponse")
    return Identity(manufacturer=_text(_child(body, "Manufacturer")), model=_text(_child(body, "Model")),
                    firmware=_text(_child(body, "FirmwareVersion")), serial=_text(_child(body, "SerialNumber")),
                    hardware=_text(_child(body, "HardwareId")))


def scopes(body: etree._Element) -> tuple[str, ...]:
    """The device's scope URIs, in its order, without duplicates, at most :data:`MAX_SCOPES` of :data:`MAX_SCOPE`."""
    _expect(body, TDS, "GetScopesResponse")
    found: dict[str, None] = {}
    for scope in body.iterchildren("{*}Scopes"):
        item = _child(scope, "ScopeItem")
        uri = (item.text or "").strip() if item is not None else ""
        if uri and len(uri) <= MAX_SCOPE and not any(c.isspace() for c in uri) and len(found) < MAX_SCOPES:
            found[uri] = None
    return tuple(found)


def geo_location(body: etree._Element) -> tuple[float, float, float | None] | None:
    """The first valid WGS84 position of GetGeoLocationResponse (lat, lon, elevation); None if there is none."""
    _expect(body, TDS, "GetGeoLocationResponse")
    for geo in body.iter("{*}GeoLocation"):
        try:
            lat, lon = float(geo.get("lat", "")), float(geo.get("lon", ""))
            elevation = float(geo.get("elevation", "")) if geo.get("elevation") is not None else None
        except ValueError:
            continue
        finite = all(math.isfinite(v) for v in (lat, lon, elevation or 0.0))
        if finite and -90 <= lat <= 90 and -180 <= lon <= 180:
            return lat, lon, elevation
    return None


def _tokened(elements: Iterator[etree._Element], kind: str, refused: list[str],
             name: str | None = "Name") -> list[Item]:
    items: dict[str, Item] = {}
    for element in elements:
        token = (element.get("token") or "").strip()
        if not token:
            refused.append(f"a {kind} without a token")
        elif len(items) >= MAX_ITEMS:
            refused.append(f"{kind} {token[:80]!r}: more than {MAX_ITEMS} of that kind")
        elif token not in items:
            items[token] = Item(kind=kind, token=token,
                                name=(_text(_child(element, name)) or None) if name is not None else None)
    return list(items.values())


def profiles(body: etree._Element, media: str, refused: list[str]) -> list[Item]:
    _expect(body, media, "GetProfilesResponse")
    return _tokened(body.iterchildren("{*}Profiles"), "MediaProfile", refused)


def video_sources(body: etree._Element, refused: list[str]) -> list[Item]:
    """Media (ver10) GetVideoSourcesResponse."""
    _expect(body, TRT, "GetVideoSourcesResponse")
    return _tokened(body.iterchildren("{*}VideoSources"), "VideoSource", refused, name=None)


def configured_sources(body: etree._Element, refused: list[str]) -> list[Item]:
    """The video sources a Media2 GetVideoSourceConfigurationsResponse refers to (Media2 lists no sources)."""
    _expect(body, TR2, "GetVideoSourceConfigurationsResponse")
    tokens: dict[str, None] = {}
    for configuration in body.iterchildren("{*}Configurations"):
        token = _text(_child(configuration, "SourceToken"))
        if not token:
            refused.append("a video source configuration without a SourceToken")
        elif len(tokens) < MAX_ITEMS:
            tokens[token] = None
    return [Item(kind="VideoSource", token=t, name=None) for t in tokens]


def nodes(body: etree._Element, refused: list[str]) -> list[Item]:
    _expect(body, TPTZ, "GetNodesResponse")
    return _tokened(body.iterchildren("{*}PTZNode"), "PTZNode", refused)


def device_name(scope_uris: tuple[str, ...], ident: Identity) -> str | None:
    """The device's name scope, else its manufacturer and model."""
    for uri in scope_uris:
        if uri.startswith(NAME_SCOPE) and uri[len(NAME_SCOPE):]:
            return urllib.parse.unquote(uri[len(NAME_SCOPE):])[:MAX_TEXT]
    return " ".join(filter(None, (ident.manufacturer, ident.model))) or None


def annex_a_id(scope_uris: tuple[str, ...], ident: Identity) -> str | None:
    """The device's 20-digit Annex A ID: the last path segment of a scope, or the serial number."""
    for candidate in (*(uri.rstrip("/").rsplit("/", 1)[-1] for uri in scope_uris), ident.serial):
        try:
            return str(parse_device_id(candidate))
        except DeviceIdError:
            continue
    return None


def device_prefix(scope_uris: tuple[str, ...], ident: Identity, configured: str | None, segment: str) -> str:
    """The prefix of the device's segment tokens (module docstring)."""
    annex = annex_a_id(scope_uris, ident)
    if annex is not None:
        return annex
    if configured is not None:
        return configured
    if ident.serial or ident.hardware:
        seed = "\0".join((ident.manufacturer, ident.model, ident.serial, ident.hardware)).encode()
        digest = base64.b32encode(hashlib.sha256(seed).digest()).decode().lower()
        return IDENTITY_MARK + digest[:16]
    return _PREFIX_CHARS.sub("", segment)[:MAX_KEPT_PREFIX] or "device"


def updates(prefix: str, inventory: Inventory, device: str | None) -> tuple[list[SegmentUpdate], list[str]]:
    """Initialized events of every item under ``<prefix>:<device token>`` (each item's name or the device's),
    and why each item whose segment token no peer may send was refused instead."""
    events, refused = [], []
    for item in inventory.items:
        token = segment_token(prefix, item.token)
        try:
            parse_segment_token(token)
        except TokenError as err:
            refused.append(f"{item.kind} {item.token[:80]!r}: {err}")
            continue
        events.append(SegmentUpdate(operation=Operation.INITIALIZED, kind=item.kind, token=token,
                                    name=item.name or device, location=inventory.location, scopes=inventory.scopes,
                                    offline=False))
    return events, refused


def deleted(tokens: set[tuple[str, str]]) -> list[SegmentUpdate]:
    """Deleted events for (kind, segment token) pairs the device no longer lists."""
    return [SegmentUpdate(operation=Operation.DELETED, kind=kind, token=token) for kind, token in sorted(tokens)]
