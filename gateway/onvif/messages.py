"""Resource Query property events as ``wsnt:NotificationMessage`` elements (digest §1.4, §1.8, §2.12).

This is the hot path of every enumeration, so it appends straight into the
response element with pre-computed Clark tags; the response root declares the
``tns1``/``tt`` prefixes that the topic text and item types rely on.
"""
from __future__ import annotations

from lxml import etree

from gateway.catalog.model import Operation, Resource
from gateway.onvif.ns import DIALECT_CONCRETE, TT, WSNT
from gateway.onvif.topics import topic_text

_NOTIFICATION = f"{{{WSNT}}}NotificationMessage"
_TOPIC = f"{{{WSNT}}}Topic"
_WSNT_MESSAGE = f"{{{WSNT}}}Message"
_MESSAGE = f"{{{TT}}}Message"
_SOURCE = f"{{{TT}}}Source"
_DATA = f"{{{TT}}}Data"
_SIMPLE = f"{{{TT}}}SimpleItem"
_ELEMENT = f"{{{TT}}}ElementItem"
_GEO = f"{{{TT}}}GeoLocation"

_SE = etree.SubElement


def _num(value: float) -> str:
    """xs:double lexical form without a spurious '.0' on whole numbers."""
    return repr(value) if value != int(value) else str(int(value))


def append_resource_event(parent: etree._Element, resource: Resource, operation: Operation, utc: str) -> None:
    """Append one property event for ``resource`` to ``parent``.

    ``resource`` is already projected by the subscription's SelectFilter, so
    every item it still carries is emitted; a ``Deleted`` event carries the
    identity only (digest §1.6).
    """
    note = _SE(parent, _NOTIFICATION)
    topic = _SE(note, _TOPIC, Dialect=DIALECT_CONCRETE)
    topic.text = topic_text(resource.kind)
    msg = _SE(_SE(note, _WSNT_MESSAGE), _MESSAGE, UtcTime=utc, PropertyOperation=operation.value)
    _SE(_SE(msg, _SOURCE), _SIMPLE, Name="Token", Value=resource.token)
    if operation is Operation.DELETED:
        return
    data = _SE(msg, _DATA)
    if resource.name is not None:
        _SE(data, _SIMPLE, Name="Name", Value=resource.name)
    if resource.lat is not None and resource.lon is not None:
        geo = _SE(_SE(data, _ELEMENT, Name="Location"), _GEO, lon=_num(resource.lon), lat=_num(resource.lat))
        if resource.elevation is not None:
            geo.set("elevation", _num(resource.elevation))
    for scope in resource.scopes:
        _SE(data, _SIMPLE, Name="Scope", Value=scope)
    if resource.offline is not None:
        _SE(data, _SIMPLE, Name="Offline", Value="true" if resource.offline else "false")
