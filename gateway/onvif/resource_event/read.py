"""Resource property events read back from ``wsnt:NotificationMessage`` elements, two ways.

:func:`read_event` is the strict reader on the federation hot path: every
item a segment sends is checked before it may reach the catalog (a refused
event raises ``ValueError`` saying why), and it walks children with plain
loops, which cost less than ``find`` per message.  :func:`read_notification`
is the client's lenient reader: items are matched by ``Name`` wherever they
stand, the location is any child element of the Location item, and nothing
is refused that can be shown (the client reads the raw envelope because
zeep drops the text of ``wsnt:Topic``).  Both accept the items in any order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

from lxml import etree

from gateway.addressing.context import parse_segment_token
from gateway.addressing.tokens import TokenError
from gateway.onvif.ns import TNS1, TT, WSNT
from gateway.onvif.resource_event import LOCATION, NAME, OFFLINE, ROOT, SCOPE, TOKEN
from gateway.vocabulary.resource import RESOURCE_KINDS, Operation, Resource, SegmentUpdate
from gateway.vocabulary.scopes import has_space

#: Limits on one resource's items from a segment; beyond them the event is refused, not truncated.
MAX_NAME = 1024
MAX_SCOPES = 64
MAX_SCOPE = 1024

NOTIFICATION = f"{{{WSNT}}}NotificationMessage"
_TOPIC = f"{{{WSNT}}}Topic"
_NOTIFY_MESSAGE = f"{{{WSNT}}}Message"
_MESSAGE = f"{{{TT}}}Message"
_SOURCE = f"{{{TT}}}Source"
_DATA = f"{{{TT}}}Data"
_SIMPLE = f"{{{TT}}}SimpleItem"
_ELEMENT = f"{{{TT}}}ElementItem"
_RESOURCE_TOPIC = f"{ROOT}/"
_OPERATIONS = {op.value: op for op in Operation}
_TRUE = ("true", "1")


def _first(parent: etree._Element | None, tag: str) -> etree._Element | None:
    """The first child of ``parent`` with ``tag``: a plain loop, cheaper than ``find`` on the hot path."""
    if parent is not None:
        for child in parent:
            if child.tag == tag:
                return child
    return None


def read_event(note: etree._Element) -> SegmentUpdate | None:
    """The update a segment's resource event carries; ``None`` for another topic, ``ValueError`` if refused."""
    topic = _first(note, _TOPIC)
    text = (topic.text or "").strip() if topic is not None else ""
    prefix, _, path = text.partition(":")
    if topic is None or not path.startswith(_RESOURCE_TOPIC) or topic.nsmap.get(prefix) != TNS1:
        return None  # not a resource property: nothing for the catalog
    kind = path[len(_RESOURCE_TOPIC):]
    if kind not in RESOURCE_KINDS:
        raise ValueError(f"unsupported resource topic {text[:80]!r}")
    msg = _first(_first(note, _NOTIFY_MESSAGE), _MESSAGE)
    if msg is None:
        raise ValueError("notification without tt:Message")
    operation = _OPERATIONS.get(msg.get("PropertyOperation", ""))
    if operation is None:
        raise ValueError(f"PropertyOperation {msg.get('PropertyOperation')!r} is not a property operation")
    token = data = None
    for part in msg:
        if part.tag == _SOURCE:
            for item in part:
                if item.tag == _SIMPLE and item.get("Name") == TOKEN:
                    token = item.get("Value")
        elif part.tag == _DATA and data is None:
            data = part
    if token is None:
        raise ValueError("resource event without a Source Token")
    try:
        parse_segment_token(token)
    except TokenError as exc:
        raise ValueError(f"token {token[:80]!r}: {exc}") from None
    if data is None:
        return SegmentUpdate(operation=operation, kind=kind, token=token)
    return SegmentUpdate(operation=operation, kind=kind, token=token, **_data(data, token))


class _Items(TypedDict, total=False):
    """The SegmentUpdate fields an event's Data gave; absent keys are items it did not carry."""

    name: str
    offline: bool
    location: tuple[float, float, float | None] | None
    scopes: tuple[str, ...]


def _data(data: etree._Element, token: str) -> _Items:
    fields: _Items = {}
    scopes: list[str] = []
    for item in data:
        tag = item.tag
        if tag == _SIMPLE:
            name, value = item.get("Name"), item.get("Value", "")
            if name == SCOPE:
                if len(value) > MAX_SCOPE or len(scopes) >= MAX_SCOPES or not value or has_space(value):
                    raise ValueError(f"{token}: unacceptable scope {value[:80]!r}")
                scopes.append(value)
            elif name == NAME:
                if len(value) > MAX_NAME:
                    raise ValueError(f"{token}: name longer than {MAX_NAME} characters")
                fields["name"] = value
            elif name == OFFLINE:
                value = value.strip()
                if value not in ("true", "false", "1", "0"):
                    raise ValueError(f"{token}: Offline {value[:20]!r} is not an xs:boolean")
                fields["offline"] = value in _TRUE
        elif tag == _ELEMENT and item.get("Name") == LOCATION and len(item):
            fields["location"] = _location(item[0], token)
    if scopes:
        fields["scopes"] = tuple(scopes)
    return fields


def _location(geo: etree._Element, token: str) -> tuple[float, float, float | None] | None:
    if geo.get("lat") is None and geo.get("lon") is None:
        return None
    try:
        lat, lon = float(geo.get("lat", "")), float(geo.get("lon", ""))
        elevation = float(geo.get("elevation")) if geo.get("elevation") is not None else None
    except ValueError:
        raise ValueError(f"{token}: location is not numeric") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{token}: location lat={lat} lon={lon} is out of range")
    if elevation is not None and not math.isfinite(elevation):
        raise ValueError(f"{token}: elevation is not finite")
    return lat, lon, elevation


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One resource event: what happened (``Initialized``/``Changed``/``Deleted``) to which resource."""

    operation: Operation
    resource: Resource


_NSMAP = {"tt": TT, "wsnt": WSNT}


def _items(message: etree._Element, group: str) -> list[etree._Element]:
    """The SimpleItems, then the ElementItems, of ``tt:Source`` or ``tt:Data``."""
    found = message.findall(f"tt:{group}/tt:SimpleItem", _NSMAP)
    return [*found, *message.findall(f"tt:{group}/tt:ElementItem", _NSMAP)]


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _resource_kind(topic: str) -> str | None:
    """``tns1:Resource/MediaProfile`` -> ``MediaProfile``; None for a topic outside ``Resource``."""
    root, _, rest = topic.strip().partition("/")
    return rest if root.rpartition(":")[2] == ROOT and rest else None


def read_notification(note: etree._Element) -> Notification | None:
    """The resource event ``note`` shows, as well as it can be read; ``None`` if it is none."""
    topic = note.find("wsnt:Topic", _NSMAP)
    kind = _resource_kind(topic.text or "") if topic is not None else None
    message = note.find("wsnt:Message/tt:Message", _NSMAP)
    if kind is None or message is None:
        return None
    values: dict[str, list[etree._Element]] = {}
    for item in _items(message, "Source") + _items(message, "Data"):
        values.setdefault(item.get("Name", ""), []).append(item)
    token = next((i.get("Value") for i in values.get(TOKEN, [])), None)
    if not token:
        return None
    name = next((i.get("Value") for i in values.get(NAME, [])), None)
    geo = next((c for i in values.get(LOCATION, []) for c in i if isinstance(c.tag, str)), None)
    offline = next((i.get("Value", "").strip().lower() in _TRUE for i in values.get(OFFLINE, [])), None)
    try:
        operation = Operation(message.get("PropertyOperation", ""))
    except ValueError:
        operation = Operation.CHANGED  # a non-property event about a resource: treat it as its current state
    resource = Resource(
        token=token, kind=kind, name=name,
        lat=_float(geo.get("lat")) if geo is not None else None,
        lon=_float(geo.get("lon")) if geo is not None else None,
        elevation=_float(geo.get("elevation")) if geo is not None else None,
        scopes=tuple(i.get("Value", "") for i in values.get(SCOPE, [])),
        offline=offline,
    )  # fmt: skip
    return Notification(operation=operation, resource=resource)


def parse_notifications(envelope: etree._Element) -> list[Notification]:
    """Every resource event in a ``PullMessagesResponse`` envelope, in document order."""
    found = (read_notification(n) for n in envelope.iter(NOTIFICATION))
    return [n for n in found if n is not None]
