"""Whether a resource matches a ResourceQuery: the Python definition of the filter semantics.

The catalog's SQL form (catalog/where.py) must select exactly the same
resources (all but the ItemFilter, which is evaluated here only), so these rules are the reference
(docs/wire-format.md §5.1, docs/decisions.md §8).  Every part must hold (AND):

- ``kinds``: ``None`` admits every kind, otherwise the resource's kind is in the set
  (an empty set admits nothing);
- ``prefixes``: none given, or the token starts with one of them plus ``":"`` (OR);
- ``location``: the great-circle distance (:func:`~gateway.vocabulary.geodesy.haversine_m`)
  from (lat, lon) to the resource is ``<= radius`` metres; ``height`` is ignored;
  a resource without lat/lon matches only with ``include_unknown``;
- ``scopes``: every term matches at least one of the resource's scopes (AND of
  terms, like a WS-Discovery Probe): rule rfc3986 by
  :func:`~gateway.vocabulary.scopes.rfc3986_match`, rule strcmp0 by exact string
  equality; a resource with no scopes matches no term;
- ``item_filter``: the ItemFilter expression holds on the resource's full
  (unprojected) message items: SimpleItems ``Token``, ``Name``, one ``Scope``
  per scope, ``Offline`` as ``"true"``/``"false"`` (absent values give no item),
  and the ElementItem ``Location`` when lat/lon are known.

``select`` and ``changed_only`` shape the messages, not the matching set.
"""
from __future__ import annotations

from collections.abc import Callable

from gateway.onvif.resource_event import LOCATION, NAME, OFFLINE, SCOPE, TOKEN
from gateway.query import itemfilter
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm
from gateway.vocabulary.geodesy import haversine_m
from gateway.vocabulary.resource import Resource
from gateway.vocabulary.scopes import rfc3986_match

#: How each (normalised) ScopeFilter Match rule compares a filter URI with a resource scope.
SCOPE_RULES: dict[str, Callable[[str, str], bool]] = {
    RFC3986: rfc3986_match,
    STRCMP0: lambda filter_uri, scope: filter_uri == scope,
}


def simple_items(resource: Resource) -> list[tuple[str, str]]:
    """The ``(Name, Value)`` SimpleItems of the resource's property event, in message order."""
    items = [(TOKEN, resource.token)]
    if resource.name is not None:
        items.append((NAME, resource.name))
    items.extend((SCOPE, scope) for scope in resource.scopes)
    if resource.offline is not None:
        items.append((OFFLINE, "true" if resource.offline else "false"))
    return items


def element_items(resource: Resource) -> list[str]:
    """The names of the resource event's ElementItems."""
    return [LOCATION] if resource.has_location else []


def _within(location: LocationFilter, resource: Resource) -> bool:
    if resource.lat is None or resource.lon is None:
        return location.include_unknown
    return haversine_m(location.lat, location.lon, resource.lat, resource.lon) <= location.radius


def _scope_matches(term: ScopeTerm, scopes: tuple[str, ...]) -> bool:
    rule = SCOPE_RULES[term.rule]
    return any(rule(term.uri, scope) for scope in scopes)


def matches(query: ResourceQuery, resource: Resource) -> bool:
    """Whether ``resource`` belongs to the matching set of ``query`` (module docstring)."""
    if query.kinds is not None and resource.kind not in query.kinds:
        return False
    if query.prefixes and not any(resource.token.startswith(p + ":") for p in query.prefixes):
        return False
    if query.location is not None and not _within(query.location, resource):
        return False
    if not all(_scope_matches(term, resource.scopes) for term in query.scopes):
        return False
    if query.item_filter is not None:
        expr = itemfilter.parse_normalised(query.item_filter)
        return itemfilter.evaluate(expr, simple_items(resource), element_items(resource))
    return True
