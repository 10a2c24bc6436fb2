"""The XML a Resource Query client sends and reads, built and parsed with lxml (digest §1.4-1.9).

:func:`filter_elements` turns a :class:`~gateway.query.model.ResourceQuery`
into the children of ``tev:Filter``: a ConcreteSet ``wsnt:TopicExpression``
and the four Resource Query filters, in the ``tt`` namespace (DESIGN decision
8).  :func:`parse_notifications` reads resource events from a raw
``PullMessagesResponse`` envelope: zeep drops the text of ``wsnt:Topic``
(python-stack.md §8 item 6), so the client never relies on zeep's objects for
messages.  The parser is lenient where the digest says to be: items are
matched by ``Name``, the location is any child carrying ``lon``/``lat``.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.catalog.model import Operation, Resource
from gateway.onvif.ns import DIALECT_CONCRETE_SET, TNS1, TT, WSNT
from gateway.query.model import ResourceQuery

#: The ConcreteSet expression for "every resource topic".
ALL_RESOURCES = "tns1:Resource//."
NOTIFICATION = f"{{{WSNT}}}NotificationMessage"
_NSMAP = {"tt": TT, "wsnt": WSNT, "tns1": TNS1}
_TRUE = ("true", "1")


def _el(parent: etree._Element | None, local: str, text: str | None = None, ns: str = TT) -> etree._Element:
    tag = f"{{{ns}}}{local}"
    el = etree.Element(tag, nsmap=_NSMAP) if parent is None else etree.SubElement(parent, tag)
    el.text = text
    return el


def _num(value: float) -> str:
    """xs:double text without a spurious ``.0`` (``300`` rather than ``300.0``)."""
    return str(int(value)) if value == int(value) else repr(value)


def topic_expression(kinds: frozenset[str] | None) -> str:
    """``tns1:Resource//.`` for every kind, else ``tns1:Resource/K1|tns1:Resource/K2`` (sorted)."""
    if kinds is None:
        return ALL_RESOURCES
    return "|".join(f"tns1:Resource/{kind}" for kind in sorted(kinds))


def select_path(item: str, sub: tuple[str, ...]) -> str:
    return "/" + "/".join((item, *sub))


def filter_elements(query: ResourceQuery) -> list[etree._Element]:
    """The ``tev:Filter`` children expressing ``query``, in schema order within each filter."""
    topic = _el(None, "TopicExpression", topic_expression(query.kinds), ns=WSNT)
    topic.set("Dialect", DIALECT_CONCRETE_SET)
    out = [topic]
    if query.location is not None:
        loc = _el(None, "LocationFilter")
        _el(loc, "lon", _num(query.location.lon))
        _el(loc, "lat", _num(query.location.lat))
        _el(loc, "radius", _num(query.location.radius))
        _el(loc, "includeUnknown", "true" if query.location.include_unknown else "false")
        out.append(loc)
    for prefix in query.prefixes:  # one element each: the type allows one Prefix (digest §1.9.2)
        prefix_filter = _el(None, "PrefixFilter")
        _el(prefix_filter, "Prefix", prefix)
        out.append(prefix_filter)
    if query.scopes:
        scopes = _el(None, "ScopeFilter")
        for term in query.scopes:
            _el(scopes, "Scope", term.uri).set("Match", term.rule)
        out.append(scopes)
    if query.select is not None:
        select = _el(None, "SelectFilter")
        for path in query.select:
            _el(select, "Path", select_path(path.item, path.sub))
        out.append(select)
    return out


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One resource event: what happened (``Initialized``/``Changed``/``Deleted``) to which resource."""

    operation: Operation
    resource: Resource


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
    return rest if root.rpartition(":")[2] == "Resource" and rest else None


def _notification(note: etree._Element) -> Notification | None:
    topic = note.find("wsnt:Topic", _NSMAP)
    kind = _resource_kind(topic.text or "") if topic is not None else None
    message = note.find("wsnt:Message/tt:Message", _NSMAP)
    if kind is None or message is None:
        return None
    values: dict[str, list[etree._Element]] = {}
    for item in _items(message, "Source") + _items(message, "Data"):
        values.setdefault(item.get("Name", ""), []).append(item)
    token = next((i.get("Value") for i in values.get("Token", [])), None)
    if not token:
        return None
    name = next((i.get("Value") for i in values.get("Name", [])), None)
    geo = next((c for i in values.get("Location", []) for c in i if isinstance(c.tag, str)), None)
    offline = next((i.get("Value", "").strip().lower() in _TRUE for i in values.get("Offline", [])), None)
    try:
        operation = Operation(message.get("PropertyOperation", ""))
    except ValueError:
        operation = Operation.CHANGED  # a non-property event about a resource: treat it as its current state
    resource = Resource(
        token=token, kind=kind, name=name,
        lat=_float(geo.get("lat")) if geo is not None else None,
        lon=_float(geo.get("lon")) if geo is not None else None,
        elevation=_float(geo.get("elevation")) if geo is not None else None,
        scopes=tuple(i.get("Value", "") for i in values.get("Scope", [])),
        offline=offline,
    )  # fmt: skip
    return Notification(operation=operation, resource=resource)


def parse_notifications(envelope: etree._Element) -> list[Notification]:
    """Every resource event in a ``PullMessagesResponse`` envelope, in document order."""
    found = (_notification(n) for n in envelope.iter(NOTIFICATION))
    return [n for n in found if n is not None]
