"""``tev:Filter`` and ``tev:SubscriptionPolicy`` to a :class:`ResourceQuery` and back (docs/wire-format.md §5.1,
docs/decisions.md §8).

:func:`filter_elements` writes a query as the children of ``tev:Filter``
(the client's side): a ConcreteSet ``wsnt:TopicExpression`` and the Resource
Query filters in the ``tt`` namespace, in schema order within each filter.
:func:`parse_filter` reads them (the service's side).

ONVIF declares the four Resource Query filters nowhere, so every child of
``tev:Filter``, and every child of those, is matched by **local name in any
namespace** (qualified or not).  All parts combine with AND, except that
several PrefixFilters are alternatives (OR).  Anything this module cannot
serve is refused with the matching WS-BaseNotification fault, never ignored:

- an unknown filter element: ``InvalidFilterFault`` listing each QName in
  ``wsnt:UnknownFilter``;
- a bad value inside a known filter: ``InvalidFilterFault`` naming the element
  and the value in the reason (and the filter's own QName as UnknownFilter,
  which the schema requires at least once);
- topic, MessageContent and ProducerProperties problems: their own faults.

The contract, proven by a property test: for any element tree this returns a
ResourceQuery or raises :class:`~gateway.soap.fault.SoapFault`, nothing else.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable

from lxml import etree

from gateway.addressing.tokens import SEPARATOR, TokenError, validate_prefix
from gateway.onvif import faults
from gateway.onvif.ns import DIALECT_CONCRETE_SET, DIALECT_ITEM_FILTER, TEV, TNS1, TT, WSNT
from gateway.onvif.resource_event import LOCATION, NAME, OFFLINE, ROOT, SCOPE, TOKEN
from gateway.onvif.topics import ALTERNATIVE, SUBTREE, Kinds, intersect_kinds, parse_topic_expression
from gateway.query import itemfilter
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm, SelectPath
from gateway.soap.fault import SoapFault
from gateway.vocabulary.scopes import scope_key
from gateway.vocabulary.xsd import xsd_double

RFC2396 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc2396"
#: ScopeFilter Match rules served, and the rule each is evaluated with (docs/wire-format.md §5.5):
#: rfc2396 is the same segment-prefix rule under the older RFC's name.
MATCH_RULES = {RFC3986: RFC3986, RFC2396: RFC3986, STRCMP0: STRCMP0}
#: Data items a SelectFilter Path may name (docs/wire-format.md §4.2); only Scope takes a sub-step.
SELECT_ITEMS = (NAME, LOCATION, SCOPE, OFFLINE, TOKEN)
CHANGED_ONLY = f"{{{TEV}}}ChangedOnly"

#: The children of ``tev:Filter``, by local name.
TOPIC_EXPRESSION = "TopicExpression"
MESSAGE_CONTENT = "MessageContent"
PRODUCER_PROPERTIES = "ProducerProperties"
LOCATION_FILTER = "LocationFilter"
PREFIX_FILTER = "PrefixFilter"
SCOPE_FILTER = "ScopeFilter"
SELECT_FILTER = "SelectFilter"
#: The children of the Resource Query filters, and the Match attribute of a ScopeFilter Scope.
LON, LAT, HEIGHT, RADIUS, INCLUDE_UNKNOWN = "lon", "lat", "height", "radius", "includeUnknown"
PREFIX = "Prefix"
SCOPE_TERM = "Scope"
PATH = "Path"
MATCH = "Match"
#: The ConcreteSet expression for "every resource topic".
ALL_RESOURCES = f"tns1:{ROOT}{SUBTREE}"

_DOUBLE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # xs:double minus INF/NaN
_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}
_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]+", re.ASCII)  # an RFC 3986 path segment
_XML_SPACE = " \t\r\n"
_LOCATION_FIELDS = (LON, LAT, HEIGHT, RADIUS, INCLUDE_UNKNOWN)


def _local(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


def _elements(el: etree._Element, refuse: Callable[[str], SoapFault]) -> list[etree._Element]:
    """Element children of a container; text between them is refused (a value in the wrong place)."""
    stray = (el.text or "") + "".join(c.tail or "" for c in el)
    if stray.strip(_XML_SPACE):
        raise refuse(f"{_local(el)} has text {stray.strip(_XML_SPACE)!r} outside its child elements")
    return [c for c in el if isinstance(c.tag, str)]


def _value(el: etree._Element, refuse: Callable[[str], SoapFault]) -> str:
    """The text content of a simple-valued element, with surrounding XML whitespace removed."""
    if any(isinstance(c.tag, str) for c in el):
        raise refuse(f"{_local(el)} must hold text, not child elements")
    return "".join(el.itertext()).strip(_XML_SPACE)


def _refuser(filter_el: etree._Element) -> Callable[[str], SoapFault]:
    """InvalidFilterFault for a bad value inside ``filter_el``, naming that filter."""
    return lambda reason: faults.invalid_filter(f"{_local(filter_el)}: {reason}", [filter_el.tag])


def _number(el: etree._Element, refuse: Callable[[str], SoapFault]) -> float:
    text = _value(el, refuse)
    if not _DOUBLE.fullmatch(text):
        raise refuse(f"{_local(el)} {text!r} is not a finite xs:double (NaN and INF are refused)")
    number = float(text)
    if not math.isfinite(number):
        raise refuse(f"{_local(el)} {text!r} is out of range")
    return number


def _location(el: etree._Element) -> LocationFilter:
    """LocationFilter (docs/wire-format.md §5.3): fields in any order, each at most once."""
    refuse = _refuser(el)
    fields: dict[str, etree._Element] = {}
    for child in _elements(el, refuse):
        name = _local(child)
        if name not in _LOCATION_FIELDS:
            raise refuse(f"unexpected element {child.tag!r}; expected lon, lat, height, radius, includeUnknown")
        if name in fields:
            raise refuse(f"{name} given twice")
        fields[name] = child
    missing = [name for name in (LON, LAT, RADIUS) if name not in fields]
    if missing:
        raise refuse(f"missing {', '.join(missing)}")
    lon, lat, radius = (_number(fields[n], refuse) for n in (LON, LAT, RADIUS))
    if not -180.0 <= lon <= 180.0:
        raise refuse(f"lon {lon!r} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise refuse(f"lat {lat!r} is outside [-90, 90]")
    if radius < 0.0:
        raise refuse(f"radius {radius!r} is negative")
    include_unknown = False  # docs/decisions.md §8.2: includeUnknown defaults to false
    if INCLUDE_UNKNOWN in fields:
        flag = _value(fields[INCLUDE_UNKNOWN], refuse)
        if flag not in _BOOLEAN:
            raise refuse(f"includeUnknown {flag!r} is not an xs:boolean")
        include_unknown = _BOOLEAN[flag]
    height = _number(fields[HEIGHT], refuse) if HEIGHT in fields else None
    return LocationFilter(lon=lon, lat=lat, radius=radius, height=height, include_unknown=include_unknown)


def _prefix(el: etree._Element) -> str:
    """PrefixFilter (docs/wire-format.md §5.4): exactly one Prefix; a trailing ':' is the separator, not part of it."""
    refuse = _refuser(el)
    children = _elements(el, refuse)
    if len(children) != 1 or _local(children[0]) != PREFIX:
        raise refuse(f"expected exactly one Prefix element, got {[_local(c) for c in children]}")
    prefix = _value(children[0], refuse)
    try:
        return validate_prefix(prefix.removesuffix(SEPARATOR))
    except TokenError as exc:
        raise refuse(f"Prefix {prefix!r}: {exc}") from None


def _scopes(el: etree._Element) -> list[ScopeTerm]:
    """ScopeFilter (docs/wire-format.md §5.5): 1..n Scope, each with an optional Match rule."""
    refuse = _refuser(el)
    children = _elements(el, refuse)
    if not children:
        raise refuse("expected at least one Scope element")
    terms = []
    for child in children:
        if _local(child) != SCOPE_TERM:
            raise refuse(f"unexpected element {child.tag!r}; expected Scope")
        match = (child.get(MATCH) or RFC3986).strip(_XML_SPACE)
        if match not in MATCH_RULES:
            raise refuse(f"Match rule {match!r} is not supported; use {RFC3986} or {STRCMP0}")
        uri = _value(child, refuse)
        if not uri:
            raise refuse("empty Scope")
        rule = MATCH_RULES[match]
        if rule == RFC3986 and scope_key(uri) is None:
            raise refuse(f"Scope {uri!r} is not an absolute URI the rfc3986 rule can match")
        terms.append(ScopeTerm(uri=uri, rule=rule))
    return terms


def _select(el: etree._Element) -> list[SelectPath]:
    """SelectFilter (docs/wire-format.md §5.6): 1..n Path ``/<Item>``, or ``/Scope/<category>``."""
    refuse = _refuser(el)
    children = _elements(el, refuse)
    if not children:
        raise refuse("expected at least one Path element")
    paths = []
    for child in children:
        if _local(child) != PATH:
            raise refuse(f"unexpected element {child.tag!r}; expected Path")
        text = _value(child, refuse)
        steps = text.split("/")
        if steps[0] != "" or len(steps) < 2 or steps[1] not in SELECT_ITEMS:
            raise refuse(f"Path {text!r} is not /<item> with item one of {', '.join(SELECT_ITEMS)}")
        if len(steps) == 2:
            paths.append(SelectPath(item=steps[1]))
        elif len(steps) == 3 and steps[1] == SCOPE and _SEGMENT.fullmatch(steps[2]):
            paths.append(SelectPath(item=SCOPE, sub=(steps[2],)))
        else:
            raise refuse(f"Path {text!r}: only /Scope takes a sub-step, a scope category such as /Scope/location")
    return paths


def _item_filter(el: etree._Element) -> itemfilter.ItemExpr:
    refuse = faults.invalid_message_content_expression
    dialect = (el.get("Dialect") or "").strip(_XML_SPACE)
    if dialect != DIALECT_ITEM_FILTER:
        raise refuse(f"MessageContent dialect {dialect!r} is not supported; use {DIALECT_ITEM_FILTER}")
    return itemfilter.parse_item_filter(_value(el, refuse), el.nsmap)


def _topics(el: etree._Element) -> Kinds:
    text = _value(el, faults.invalid_topic_expression)
    return parse_topic_expression(el.get("Dialect") or "", text, el.nsmap)


def _changed_only(policy_el: etree._Element | None) -> bool:
    """SubscriptionPolicy: only ``tev:ChangedOnly`` is served (docs/wire-format.md §4.3)."""
    if policy_el is None:
        return False
    children = [c for c in policy_el if isinstance(c.tag, str)]
    unknown = [c.tag for c in children if c.tag != CHANGED_ONLY]
    if unknown:
        names = ", ".join(etree.QName(t).localname for t in unknown)
        raise faults.unrecognized_policy_request(f"subscription policy {names} is not supported", unknown)
    return bool(children)


_KNOWN = (TOPIC_EXPRESSION, MESSAGE_CONTENT, PRODUCER_PROPERTIES,
          LOCATION_FILTER, PREFIX_FILTER, SCOPE_FILTER, SELECT_FILTER)  # fmt: skip


def parse_filter(filter_el: etree._Element | None, policy_el: etree._Element | None = None) -> ResourceQuery:
    """The ResourceQuery of a CreatePullPointSubscription; no filter selects every resource."""
    changed_only = _changed_only(policy_el)
    if filter_el is None:
        return ResourceQuery(changed_only=changed_only)
    children = _elements(filter_el, lambda reason: faults.invalid_filter(reason, [filter_el.tag]))
    unknown = [c.tag for c in children if _local(c) not in _KNOWN]
    if unknown:
        names = ", ".join(etree.QName(t).localname for t in unknown)
        raise faults.invalid_filter(f"filter element(s) {names} not supported", unknown)
    by_name: dict[str, list[etree._Element]] = {name: [] for name in _KNOWN}
    for child in children:
        by_name[_local(child)].append(child)
    if by_name[PRODUCER_PROPERTIES]:
        raise faults.invalid_producer_properties_expression("ProducerProperties filters are not supported")
    for single in (LOCATION_FILTER, SELECT_FILTER):
        if len(by_name[single]) > 1:
            raise faults.invalid_filter(f"{single} given {len(by_name[single])} times", [by_name[single][1].tag])
    # Several MessageContent expressions AND together, like every other filter part.
    expressions = [_item_filter(el) for el in by_name[MESSAGE_CONTENT]]
    item_filter = itemfilter.normalise(functools.reduce(itemfilter.And, expressions)) if expressions else None
    return ResourceQuery(
        kinds=intersect_kinds(_topics(el) for el in by_name[TOPIC_EXPRESSION]),
        location=_location(by_name[LOCATION_FILTER][0]) if by_name[LOCATION_FILTER] else None,
        prefixes=tuple(dict.fromkeys(_prefix(el) for el in by_name[PREFIX_FILTER])),
        scopes=tuple(dict.fromkeys(t for el in by_name[SCOPE_FILTER] for t in _scopes(el))),
        select=tuple(dict.fromkeys(_select(by_name[SELECT_FILTER][0]))) if by_name[SELECT_FILTER] else None,
        item_filter=item_filter,
        changed_only=changed_only,
    )


_NSMAP = {"tt": TT, "wsnt": WSNT, "tns1": TNS1}


def _el(parent: etree._Element | None, local: str, text: str | None = None, ns: str = TT) -> etree._Element:
    tag = f"{{{ns}}}{local}"
    el = etree.Element(tag, nsmap=_NSMAP) if parent is None else etree.SubElement(parent, tag)
    el.text = text
    return el


def topic_expression(kinds: frozenset[str] | None) -> str:
    """``tns1:Resource//.`` for every kind, else ``tns1:Resource/K1|tns1:Resource/K2`` (sorted)."""
    if kinds is None:
        return ALL_RESOURCES
    return ALTERNATIVE.join(f"tns1:{ROOT}/{kind}" for kind in sorted(kinds))


def select_path(item: str, sub: tuple[str, ...]) -> str:
    return "/" + "/".join((item, *sub))


def filter_elements(query: ResourceQuery) -> list[etree._Element]:
    """The ``tev:Filter`` children expressing ``query``, in schema order within each filter."""
    topic = _el(None, TOPIC_EXPRESSION, topic_expression(query.kinds), ns=WSNT)
    topic.set("Dialect", DIALECT_CONCRETE_SET)
    out = [topic]
    if query.item_filter is not None:
        content = _el(None, MESSAGE_CONTENT, query.item_filter, ns=WSNT)
        content.set("Dialect", DIALECT_ITEM_FILTER)
        out.append(content)
    if query.location is not None:
        loc = _el(None, LOCATION_FILTER)
        _el(loc, LON, xsd_double(query.location.lon))
        _el(loc, LAT, xsd_double(query.location.lat))
        if query.location.height is not None:
            _el(loc, HEIGHT, xsd_double(query.location.height))
        _el(loc, RADIUS, xsd_double(query.location.radius))
        _el(loc, INCLUDE_UNKNOWN, "true" if query.location.include_unknown else "false")
        out.append(loc)
    for prefix in query.prefixes:  # one element each: the type allows one Prefix (docs/wire-format.md §5.4)
        prefix_filter = _el(None, PREFIX_FILTER)
        _el(prefix_filter, PREFIX, prefix)
        out.append(prefix_filter)
    if query.scopes:
        scopes = _el(None, SCOPE_FILTER)
        for term in query.scopes:
            _el(scopes, SCOPE_TERM, term.uri).set(MATCH, term.rule)
        out.append(scopes)
    if query.select is not None:
        select = _el(None, SELECT_FILTER)
        for path in query.select:
            _el(select, PATH, select_path(path.item, path.sub))
        out.append(select)
    return out
