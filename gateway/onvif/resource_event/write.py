"""Resource property events written as ``wsnt:NotificationMessage`` text (docs/wire-format.md §4.2).

This is the hot path of every enumeration, so a PullMessagesResponse of
resource events is written as XML text, not built as a tree: a dozen
SubElement calls per message and the serialisation after them cost eight
times the text (in process, over bench's 100,000-resource city: about 50
against 6 µs a resource).  The text is what lxml writes for the same tree,
byte for byte: values are escaped as its serialiser escapes attribute
values, and a character XML cannot carry is refused, as lxml refuses it.
It spells the prefixes of :data:`~gateway.onvif.ns.NSMAP` (``tev``,
``wsnt``, ``tt``, and ``tns1`` in the topic text), which the envelope of
every reply declares.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.onvif.ns import DIALECT_CONCRETE
from gateway.onvif.resource_event import LOCATION, NAME, OFFLINE, SCOPE, TOKEN, topic_text
from gateway.soap.build import SerializedBody
from gateway.vocabulary.resource import Operation, Resource
from gateway.vocabulary.xsd import xsd_double

#: What an attribute value cannot hold as it is: markup, and whitespace other than " " (which a
#: parser would read back as a space), become references; anything else matched is a character
#: XML 1.0 cannot carry at all.  One negated class, which the regex engine scans fastest.
_ATTR_SPECIAL = re.compile("[^\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTR_ESCAPE = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}

_NOTE_START = f'<wsnt:NotificationMessage><wsnt:Topic Dialect="{DIALECT_CONCRETE}">'
_NOTE_END = "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
_TOKEN_ITEM = f'<tt:Source><tt:SimpleItem Name="{TOKEN}" Value="'
_NAME_ITEM = f'<tt:SimpleItem Name="{NAME}" Value="'
_SCOPE_ITEM = f'<tt:SimpleItem Name="{SCOPE}" Value="'
_OFFLINE_ITEMS = {flag: f'<tt:SimpleItem Name="{OFFLINE}" Value="{"true" if flag else "false"}"/>'
                  for flag in (True, False)}
_LOCATION_ITEM = f'<tt:ElementItem Name="{LOCATION}"><tt:GeoLocation lon="'


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    if char not in _ATTR_ESCAPE:
        raise ValueError(f"{match.string!r} holds {char!r}, which XML cannot carry")
    return _ATTR_ESCAPE[char]


def _attr(value: str) -> str:
    """``value`` as the content of a double-quoted attribute."""
    return _ATTR_SPECIAL.sub(_escape, value)


def pull_messages_response(current_time: str, termination_time: str,
                           events: Iterable[tuple[Resource, Operation]]) -> SerializedBody:
    """``tev:PullMessagesResponse`` with one property event per (resource, operation), in order.

    ``current_time`` (also every message's UtcTime) and ``termination_time``
    are xs:dateTime texts (onvif.time.format_utc).
    """
    text = [f"<tev:PullMessagesResponse><tev:CurrentTime>{current_time}</tev:CurrentTime>"
            f"<tev:TerminationTime>{termination_time}</tev:TerminationTime>"]
    for resource, operation in events:
        _write_event(text, resource, operation, current_time)
    text.append("</tev:PullMessagesResponse>")
    return SerializedBody("".join(text).encode())


def _write_event(text: list[str], resource: Resource, operation: Operation, utc: str) -> None:
    """Append one event to ``text``.

    ``resource`` is already projected by the subscription's SelectFilter, so
    every item it still carries is emitted; a ``Deleted`` event carries the
    identity only (docs/wire-format.md §4.3).
    """
    text.append(f"{_NOTE_START}{topic_text(resource.kind)}</wsnt:Topic><wsnt:Message>"
                f'<tt:Message UtcTime="{utc}" PropertyOperation="{operation.value}">'
                f'{_TOKEN_ITEM}{_attr(resource.token)}"/></tt:Source>')
    if operation is Operation.DELETED:
        text.append(_NOTE_END)
        return
    items = []
    if resource.name is not None:
        items.append(f'{_NAME_ITEM}{_attr(resource.name)}"/>')
    items.extend(f'{_SCOPE_ITEM}{_attr(scope)}"/>' for scope in resource.scopes)
    if resource.offline is not None:
        items.append(_OFFLINE_ITEMS[resource.offline])
    # tt:ItemList is a sequence: every SimpleItem, then the ElementItems.
    if resource.lat is not None and resource.lon is not None:
        elevation = f' elevation="{xsd_double(resource.elevation)}"' if resource.elevation is not None else ""
        items.append(f'{_LOCATION_ITEM}{xsd_double(resource.lon)}" lat="{xsd_double(resource.lat)}"{elevation}'
                     '/></tt:ElementItem>')
    # An element without content is written as lxml writes it.
    text.append(f"<tt:Data>{''.join(items)}</tt:Data>{_NOTE_END}" if items else f"<tt:Data/>{_NOTE_END}")
