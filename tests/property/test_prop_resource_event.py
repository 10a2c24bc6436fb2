"""Resource events written by the gateway read back as written, by both readers.

The writer and the two readers share one format: whatever resource the
gateway publishes, the federation's strict reader (through the hardened
reply parser) gives back the SegmentUpdate it describes, and the client's
lenient reader gives back the Resource itself.  Both also read the items in
the order other servers send them (Location second), not only in the
schema's.
"""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.addressing.tokens import MAX_TOKEN, bad_character
from gateway.downstream import wire
from gateway.federation import protocol
from gateway.onvif.ns import NSMAP, TT
from gateway.onvif.resource_event import LOCATION, NAME, OFFLINE, SCOPE
from gateway.onvif.resource_event.read import MAX_SCOPES, parse_notifications
from gateway.onvif.resource_event.write import pull_messages_response
from gateway.soap.build import build_response
from gateway.vocabulary.resource import RESOURCE_KINDS, Operation, Resource, SegmentUpdate

NOW, END = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"

#: Every character XML 1.0 can carry, weighted towards markup, whitespace a parser would normalise,
#: and legal oddities (DEL, NEL, LINE SEPARATOR, a non-BMP character, a CDATA end).
CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") | st.sampled_from(
    list("&<>\"'\t\n\r ;#\x7f\x85\u2028\U0001f600") + ["]]>", "&amp;", "&#9;"]
)
TEXT = st.lists(CHARS, max_size=12).map("".join)
#: What the strict reader accepts: tokens and scopes without whitespace or control characters.
WORD = st.lists(CHARS, min_size=1, max_size=12).map("".join).filter(lambda s: bad_character(s) is None)
TOKENS = st.one_of(WORD, st.tuples(WORD, WORD).map(":".join)).filter(lambda t: len(t) <= MAX_TOKEN)
LAT = st.floats(min_value=-90, max_value=90) | st.sampled_from([-90.0, 90.0, 0.0, -0.0])
LON = st.floats(min_value=-180, max_value=180) | st.sampled_from([-180.0, 180.0])
ELEVATION = st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([-430.5, -1.0, 8848.0])
LOCATIONS = st.none() | st.tuples(LAT, LON, ELEVATION)
OFFLINE_VALUES = st.none() | st.booleans()


def resources(names: st.SearchStrategy[str], scopes: st.SearchStrategy[str]) -> st.SearchStrategy[Resource]:
    @st.composite
    def build(draw: Any) -> Resource:
        location = draw(LOCATIONS)
        lat, lon, elevation = location if location is not None else (None, None, None)
        return Resource(token=draw(TOKENS), kind=draw(st.sampled_from(RESOURCE_KINDS)), name=draw(st.none() | names),
                        lat=lat, lon=lon, elevation=elevation,
                        scopes=tuple(draw(st.lists(scopes, max_size=MAX_SCOPES))), offline=draw(OFFLINE_VALUES))
    return build()


#: Few or many scopes (up to the strict reader's limit), sometimes repeated.
STRICT_RESOURCES = resources(TEXT, WORD)
LENIENT_RESOURCES = resources(TEXT, TEXT)
EVENTS = st.lists(st.tuples(STRICT_RESOURCES, st.sampled_from(Operation)), max_size=5)


def reply(events: list[tuple[Resource, Operation]]) -> bytes:
    """A PullMessagesResponse envelope as the gateway sends it."""
    return build_response(pull_messages_response(NOW, END, events), action="a", relates_to="urn:uuid:1", nsmap=NSMAP)


def written_update(resource: Resource, operation: Operation) -> SegmentUpdate:
    """The SegmentUpdate an event describes: identity only for Deleted, an absent item as None."""
    if operation is Operation.DELETED:
        return SegmentUpdate(operation=operation, kind=resource.kind, token=resource.token)
    location = (resource.lat, resource.lon, resource.elevation) if resource.has_location else None
    return SegmentUpdate(operation=operation, kind=resource.kind, token=resource.token, name=resource.name,
                         location=location, scopes=resource.scopes or None, offline=resource.offline)


def strict(data: bytes) -> protocol.PullBatch:
    return protocol.read_pull(wire.Reply(url="http://seg/pp/1", status=200, data=data))


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_strict_reader_gives_back_what_was_written(events: list[tuple[Resource, Operation]]) -> None:
    batch = strict(reply(events))
    assert batch.rejected == []
    assert batch.events == [written_update(resource, operation) for resource, operation in events]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(LENIENT_RESOURCES, st.sampled_from(Operation)), max_size=5))
def test_lenient_reader_gives_back_the_resource(events: list[tuple[Resource, Operation]]) -> None:
    notes = parse_notifications(etree.fromstring(reply(events)))
    assert [(n.operation, n.resource) for n in notes] == [
        (operation, Resource(token=r.token, kind=r.kind) if operation is Operation.DELETED else r)
        for r, operation in events
    ]


def _location_second(data: bytes) -> bytes:
    """The reply with each Location ElementItem moved right after Name (or first), as other servers send it."""
    root = etree.fromstring(data)
    for items in root.iter(f"{{{TT}}}Data"):
        location = next((i for i in items if i.get("Name") == LOCATION), None)
        if location is not None:
            named = [i for i in items if i.get("Name") == NAME]
            items.remove(location)
            items.insert(items.index(named[0]) + 1 if named else 0, location)
    return etree.tostring(root)


@settings(max_examples=200, deadline=None)
@given(EVENTS)
def test_readers_accept_the_old_item_order(events: list[tuple[Resource, Operation]]) -> None:
    data = _location_second(reply(events))
    assert strict(data).events == [written_update(r, op) for r, op in events]
    lenient = [(n.operation, n.resource) for n in parse_notifications(etree.fromstring(data))]
    assert lenient == [(op, Resource(token=r.token, kind=r.kind) if op is Operation.DELETED else r) for r, op in events]


def _data_item_names(data: bytes) -> list[str | None]:
    return [item.get("Name") for items in etree.fromstring(data).iter(f"{{{TT}}}Data") for item in items]


def test_the_writer_follows_the_item_list_sequence_and_the_old_order_is_really_old() -> None:
    resource = Resource(token="a:b", name="n", lat=1.0, lon=2.0, scopes=("s:1", "s:2"), offline=True)
    data = reply([(resource, Operation.INITIALIZED)])
    assert _data_item_names(data) == [NAME, SCOPE, SCOPE, OFFLINE, LOCATION]  # SimpleItems, then ElementItems
    assert _data_item_names(_location_second(data)) == [NAME, LOCATION, SCOPE, SCOPE, OFFLINE]
