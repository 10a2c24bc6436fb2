"""Small lxml helpers for building ONVIF responses and reading request children by local name.

Responses are rooted in elements that declare :data:`~gateway.onvif.ns.NSMAP`,
because ONVIF carries QNames in text (topics, item types) whose prefixes must
be in scope.  Request children are matched by local name: many clients get
namespaces of wrapper children wrong, and the schema order is not enforced.
"""
from __future__ import annotations

import datetime as dt

from lxml import etree

from gateway.onvif import faults
from gateway.onvif.ns import NSMAP


def element(tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    """A response root element declaring every ONVIF prefix."""
    el = etree.Element(tag, attrib, nsmap=NSMAP)
    el.text = text
    return el


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    el.text = text
    return el


def child(parent: etree._Element, local: str) -> etree._Element | None:
    """The one child named ``local`` (any namespace), or None; twice is the client's error."""
    found = [c for c in parent if isinstance(c.tag, str) and etree.QName(c).localname == local]
    if len(found) > 1:
        raise faults.sender(f"{local} given {len(found)} times", faults.INVALID_ARGS)
    return found[0] if found else None


def only_children(parent: etree._Element, allowed: tuple[str, ...]) -> None:
    """Refuse children other than ``allowed`` (by local name) with ter:InvalidArgs."""
    for c in parent:
        if isinstance(c.tag, str) and etree.QName(c).localname not in allowed:
            raise faults.sender(f"unexpected element {etree.QName(c).localname} in {etree.QName(parent).localname}",
                                faults.INVALID_ARGS)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
