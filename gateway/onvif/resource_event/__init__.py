"""The Resource property event: its topic, its items, their description — the vocabulary of one wire format.

A resource event is a ``wsnt:NotificationMessage`` on ``tns1:Resource/<kind>``
whose ``tt:Message`` carries the resource's token as the Source item
:data:`TOKEN` and its properties as Data items: :data:`NAME`, one
:data:`SCOPE` per scope, :data:`OFFLINE` (SimpleItems), then the
:data:`LOCATION` ElementItem holding a ``tt:GeoLocation``.  onvif.xsd's
``tt:ItemList`` is a sequence — every SimpleItem, then every ElementItem — so
the gateway writes them in that order; its readers accept any order, since
other servers (and older gateways) put Location second.

:mod:`.write` writes these events, :mod:`.read` reads them back (strictly for
the catalog, leniently for the client), and
:func:`gateway.onvif.topics.topic_set` declares them with
:data:`MESSAGE_DESCRIPTION`.
"""
from __future__ import annotations

from gateway.vocabulary.resource import RESOURCE_KINDS

#: The Source item: the resource's token.
TOKEN = "Token"
#: The Data items.
NAME = "Name"
SCOPE = "Scope"
OFFLINE = "Offline"
LOCATION = "Location"

#: ``tns1:Resource``, the parent of every resource topic.
ROOT = "Resource"

_KINDS = frozenset(RESOURCE_KINDS)

#: The message description of every resource topic, as GetEventProperties declares it:
#: (group, item element, Name, Type).  Within a group, SimpleItemDescriptions come before
#: ElementItemDescriptions, as the tt:ItemListDescription sequence requires.
MESSAGE_DESCRIPTION: tuple[tuple[str, str, str, str], ...] = (
    ("Source", "SimpleItemDescription", TOKEN, "tt:ReferenceToken"),
    ("Data", "SimpleItemDescription", NAME, "xs:string"),
    ("Data", "SimpleItemDescription", SCOPE, "xs:string"),
    ("Data", "SimpleItemDescription", OFFLINE, "xs:boolean"),
    ("Data", "ElementItemDescription", LOCATION, "tt:GeoLocation"),
)


def topic_text(kind: str) -> str:
    """``tns1:Resource/<kind>``, the text of ``wsnt:Topic`` for a resource event."""
    if kind not in _KINDS:
        raise ValueError(f"{kind!r} is not a resource kind the gateway serves")
    return f"tns1:{ROOT}/{kind}"
