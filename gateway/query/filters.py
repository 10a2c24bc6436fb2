"""From ``tev:Filter`` and ``tev:SubscriptionPolicy`` to a :class:`ResourceQuery` (digest §1.9, DESIGN decision 8).

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
from gateway.catalog.scopes import scope_key
from gateway.onvif import faults
from gateway.onvif.ns import DIALECT_ITEM_FILTER, TEV
from gateway.onvif.topics import Kinds, intersect_kinds, parse_topic_expression
from gateway.query import itemfilter
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm, SelectPath
from gateway.soap.fault import SoapFault

RFC2396 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc2396"
#: ScopeFilter Match rules served, and the rule each is evaluated with (digest §1.9.3):
#: rfc2396 is the same segment-prefix rule under the older RFC's name.
MATCH_RULES = {RFC3986: RFC3986, RFC2396: RFC3986, STRCMP0: STRCMP0}
#: Data items a SelectFilter Path may name (digest §1.4); only Scope takes a sub-step.
SELECT_ITEMS = ("Name", "Location", "Scope", "Offline", "Token")
CHANGED_ONLY = f"{{{TEV}}}ChangedOnly"

_DOUBLE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # xs:double minus INF/NaN
_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}
_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]+", re.ASCII)  # an RFC 3986 path segment
_XML_SPACE = " \t\r\n"
_LOCATION_FIELDS = ("lon", "lat", "height", "radius", "includeUnknown")


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
    """LocationFilter (digest §1.9.1): fields in any order, each at most once."""
    refuse = _refuser(el)
    fields: dict[str, etree._Element] = {}
    for child in _elements(el, refuse):
        name = _local(child)
        if name not in _LOCATION_FIELDS:
            raise refuse(f"unexpected element {child.tag!r}; expected lon, lat, height, radius, includeUnknown")
        if name in fields:
            raise refuse(f"{name} given twice")
        fields[name] = child
    missing = [name for name in ("lon", "lat", "radius") if name not in fields]
    if missing:
        raise refuse(f"missing {', '.join(missing)}")
    lon, lat, radius = (_number(fields[n], refuse) for n in ("lon", "lat", "radius"))
    if not -180.0 <= lon <= 180.0:
        raise refuse(f"lon {lon!r} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise refuse(f"lat {lat!r} is outside [-90, 90]")
    if radius < 0.0:
        raise refuse(f"radius {radius!r} is negative")
    include_unknown = False  # DESIGN decision 8: includeUnknown defaults to false
    if "includeUnknown" in fields:
        flag = _value(fields["includeUnknown"], refuse)
        if flag not in _BOOLEAN:
            raise refuse(f"includeUnknown {flag!r} is not an xs:boolean")
        include_unknown = _BOOLEAN[flag]
    height = _number(fields["height"], refuse) if "height" in fields else None
    return LocationFilter(lon=lon, lat=lat, radius=radius, height=height, include_unknown=include_unknown)


def _prefix(el: etree._Element) -> str:
    """PrefixFilter (digest §1.9.2): exactly one Prefix; a trailing ':' is the separator, not part of it."""
    refuse = _refuser(el)
    children = _elements(el, refuse)
    if len(children) != 1 or _local(children[0]) != "Prefix":
        raise refuse(f"expected exactly one Prefix element, got {[_local(c) for c in children]}")
    prefix = _value(children[0], refuse)
    try:
        return validate_prefix(prefix.removesuffix(SEPARATOR))
    except TokenError as exc:
        raise refuse(f"Prefix {prefix!r}: {exc}") from None


def _scopes(el: etree._Element) -> list[ScopeTerm]:
    """ScopeFilter (digest §1.9.3): 1..n Scope, each with an optional Match rule."""
    refuse = _refuser(el)
    children = _elements(el, refuse)
    if not children:
        raise refuse("expected at least one Scope element")
    terms = []
    for child in children:
        if _local(child) != "Scope":
            raise refuse(f"unexpected element {child.tag!r}; expected Scope")
        match = (child.get("Match") or RFC3986).strip(_XML_SPACE)
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
    """SelectFilter (digest §1.9.4): 1..n Path ``/<Item>``, or ``/Scope/<category>``."""
    refuse = _refuser(el)
    children = _elements(el, refuse)
    if not children:
        raise refuse("expected at least one Path element")
    paths = []
    for child in children:
        if _local(child) != "Path":
            raise refuse(f"unexpected element {child.tag!r}; expected Path")
        text = _value(child, refuse)
        steps = text.split("/")
        if steps[0] != "" or len(steps) < 2 or steps[1] not in SELECT_ITEMS:
            raise refuse(f"Path {text!r} is not /<item> with item one of {', '.join(SELECT_ITEMS)}")
        if len(steps) == 2:
            paths.append(SelectPath(item=steps[1]))
        elif len(steps) == 3 and steps[1] == "Scope" and _SEGMENT.fullmatch(steps[2]):
            paths.append(SelectPath(item="Scope", sub=(steps[2],)))
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
    """SubscriptionPolicy: only ``tev:ChangedOnly`` is served (digest §1.6)."""
    if policy_el is None:
        return False
    children = [c for c in policy_el if isinstance(c.tag, str)]
    unknown = [c.tag for c in children if c.tag != CHANGED_ONLY]
    if unknown:
        names = ", ".join(etree.QName(t).localname for t in unknown)
        raise faults.unrecognized_policy_request(f"subscription policy {names} is not supported", unknown)
    return bool(children)


_KNOWN = ("TopicExpression", "MessageContent", "ProducerProperties",
          "LocationFilter", "PrefixFilter", "ScopeFilter", "SelectFilter")  # fmt: skip


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
    if by_name["ProducerProperties"]:
        raise faults.invalid_producer_properties_expression("ProducerProperties filters are not supported")
    for single in ("LocationFilter", "SelectFilter"):
        if len(by_name[single]) > 1:
            raise faults.invalid_filter(f"{single} given {len(by_name[single])} times", [by_name[single][1].tag])
    # Several MessageContent expressions AND together, like every other filter part.
    expressions = [_item_filter(el) for el in by_name["MessageContent"]]
    item_filter = itemfilter.normalise(functools.reduce(itemfilter.And, expressions)) if expressions else None
    return ResourceQuery(
        kinds=intersect_kinds(_topics(el) for el in by_name["TopicExpression"]),
        location=_location(by_name["LocationFilter"][0]) if by_name["LocationFilter"] else None,
        prefixes=tuple(dict.fromkeys(_prefix(el) for el in by_name["PrefixFilter"])),
        scopes=tuple(dict.fromkeys(t for el in by_name["ScopeFilter"] for t in _scopes(el))),
        select=tuple(dict.fromkeys(_select(by_name["SelectFilter"][0]))) if by_name["SelectFilter"] else None,
        item_filter=item_filter,
        changed_only=changed_only,
    )
