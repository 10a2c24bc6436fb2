"""SelectFilter projection: the resource as a subscription shows it (docs/wire-format.md §5.6).

A SelectFilter is not a predicate; it removes data items from every event of
the subscription.  The projection is a :class:`Resource` with the unselected
items cleared, so the event service can compare two projections for equality
and suppress a ``Changed`` event whose only differences were projected away.
``Token`` (the Source item) and ``kind`` (the topic) are identity and always kept.
"""
from __future__ import annotations

import dataclasses
from urllib.parse import unquote, urlsplit

from gateway.onvif.resource_event import LOCATION, NAME, OFFLINE, SCOPE
from gateway.query.model import SelectPath
from gateway.vocabulary.resource import Resource


def scope_category(scope: str) -> str | None:
    """The first path segment after the authority, e.g. ``location`` in ``onvif://www.onvif.org/location/city/x``."""
    try:
        path = urlsplit(scope).path
    except ValueError:
        return None
    segments = path.split("/")
    return unquote(segments[1]) if len(segments) > 1 and segments[1] else None


def _scope_selected(scope: str, categories: set[str]) -> bool:
    category = scope_category(scope)
    return category is not None and category.casefold() in categories


def project(select: tuple[SelectPath, ...] | None, resource: Resource) -> Resource:
    """``resource`` with only the data items ``select`` names; ``None`` keeps everything."""
    if select is None:
        return resource
    items = {path.item for path in select if not path.sub}
    categories = {path.sub[0].casefold() for path in select if path.item == SCOPE and path.sub}
    located = LOCATION in items
    scopes = (resource.scopes if SCOPE in items
              else tuple(s for s in resource.scopes if _scope_selected(s, categories)))
    return dataclasses.replace(
        resource,
        name=resource.name if NAME in items else None,
        lat=resource.lat if located else None,
        lon=resource.lon if located else None,
        elevation=resource.elevation if located else None,
        scopes=scopes,
        offline=resource.offline if OFFLINE in items else None,
    )
