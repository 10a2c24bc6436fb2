"""PullMessagesResponse text against the same reply built as an lxml tree: the same bytes, the same refusals."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.onvif.ns import DIALECT_CONCRETE, NSMAP, TEV, TT, WSNT
from gateway.onvif.resource_event.write import pull_messages_response
from gateway.soap.build import build_response
from gateway.vocabulary.resource import RESOURCE_KINDS, Operation, Resource

NOW, END = "2026-01-01T00:00:00.5Z", "2026-01-01T00:01:00Z"


def _num(value: float) -> str:
    return repr(value) if value != int(value) else str(int(value))


def tree_reply(events: list[tuple[Resource, Operation]]) -> bytes:
    """The reply as SubElement calls build it: the reference for every byte."""
    se = etree.SubElement
    resp = etree.Element(f"{{{TEV}}}PullMessagesResponse", nsmap=NSMAP)
    se(resp, f"{{{TEV}}}CurrentTime").text = NOW
    se(resp, f"{{{TEV}}}TerminationTime").text = END
    for r, op in events:
        note = se(resp, f"{{{WSNT}}}NotificationMessage")
        se(note, f"{{{WSNT}}}Topic", Dialect=DIALECT_CONCRETE).text = f"tns1:Resource/{r.kind}"
        msg = se(se(note, f"{{{WSNT}}}Message"), f"{{{TT}}}Message", UtcTime=NOW, PropertyOperation=op.value)
        se(se(msg, f"{{{TT}}}Source"), f"{{{TT}}}SimpleItem", Name="Token", Value=r.token)
        if op is Operation.DELETED:
            continue
        data = se(msg, f"{{{TT}}}Data")
        if r.name is not None:
            se(data, f"{{{TT}}}SimpleItem", Name="Name", Value=r.name)
        for scope in r.scopes:
            se(data, f"{{{TT}}}SimpleItem", Name="Scope", Value=scope)
        if r.offline is not None:
            se(data, f"{{{TT}}}SimpleItem", Name="Offline", Value="true" if r.offline else "false")
        if r.lat is not None and r.lon is not None:  # tt:ItemList: SimpleItems, then ElementItems
            geo = se(se(data, f"{{{TT}}}ElementItem", Name="Location"), f"{{{TT}}}GeoLocation",
                     lon=_num(r.lon), lat=_num(r.lat))
            if r.elevation is not None:
                geo.set("elevation", _num(r.elevation))
    return build_response(resp, action="a", relates_to="urn:uuid:1", nsmap=NSMAP)


def text_reply(events: list[tuple[Resource, Operation]]) -> bytes:
    return build_response(pull_messages_response(NOW, END, events), action="a", relates_to="urn:uuid:1", nsmap=NSMAP)


# Any text XML can carry, weighted towards what an attribute value escapes.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") | st.sampled_from('&<>"\'\t\n\r ]]>\x7f\x85\U0001f600'),
               max_size=12)
NUMBER = st.floats(min_value=-180, max_value=180) | st.integers(-180, 180).map(float)
RESOURCES = st.builds(
    Resource, token=TEXT, kind=st.sampled_from(RESOURCE_KINDS), name=st.none() | TEXT,
    lat=st.none() | NUMBER, lon=st.none() | NUMBER, elevation=st.none() | NUMBER,
    scopes=st.lists(TEXT, max_size=3).map(tuple), offline=st.none() | st.booleans(),
)
EVENTS = st.lists(st.tuples(RESOURCES, st.sampled_from(Operation)), max_size=4)


@settings(max_examples=1000, deadline=None)
@given(EVENTS)
def test_text_is_what_lxml_writes(events: list[tuple[Resource, Operation]]) -> None:
    assert text_reply(events) == tree_reply(events)


@pytest.mark.parametrize("bad", ["\x00", "\x1f", "\ufffe", "\ud800"])
@pytest.mark.parametrize("field", ["token", "name", "scopes"])
def test_a_character_xml_cannot_carry_is_refused_as_lxml_refuses_it(bad: str, field: str) -> None:
    items: dict[str, Any] = {"token": "p:1", "name": "n", "scopes": ("s:1",)}
    items[field] = ("s:1", f"a{bad}b") if field == "scopes" else f"a{bad}b"
    events = [(Resource(**items), Operation.INITIALIZED)]
    with pytest.raises((ValueError, UnicodeEncodeError)):
        tree_reply(events)
    with pytest.raises(ValueError, match="XML cannot carry"):
        text_reply(events)


@pytest.mark.parametrize("resource", [
    Resource(token="p:1", kind="Recording"),  # no data item: an empty tt:Data
    Resource(token="p:2", name="Gate 8", lat=32.0, lon=-118.5, elevation=None, offline=True),
    Resource(token="p:3", lat=0.0, lon=0.0, elevation=12.25, scopes=("onvif://www.onvif.org/a b&c",)),
])
@pytest.mark.parametrize("operation", list(Operation))
def test_each_shape_of_event(resource: Resource, operation: Operation) -> None:
    assert text_reply([(resource, operation)]) == tree_reply([(resource, operation)])


def test_an_empty_reply_and_a_kind_not_served() -> None:
    assert text_reply([]) == tree_reply([])
    with pytest.raises(ValueError, match="not a resource kind"):
        pull_messages_response(NOW, END, [(Resource(token="p:1", kind="Nonsense"), Operation.CHANGED)])
