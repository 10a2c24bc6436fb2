"""The filter XML the client writes is the query the service reads: emit, send as bytes, parse, compare.

Every part a query can hold is drawn — topics, LocationFilter (with and
without height), PrefixFilters, ScopeFilter terms of both rules,
SelectFilter paths, an ItemFilter — alone or together, with values that
need escaping.
"""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.addressing.tokens import MAX_PREFIX, bad_character
from gateway.onvif.ns import TEV
from gateway.onvif.resource_event import SCOPE
from gateway.query import itemfilter
from gateway.query.filters import SELECT_ITEMS, filter_elements, parse_filter
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm, SelectPath
from gateway.vocabulary.resource import RESOURCE_KINDS
from gateway.vocabulary.scopes import scope_key

XML_SPACE = " \t\r\n"
#: XML-legal characters, weighted towards markup and legal oddities.
CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") | st.sampled_from(
    list("&<>\"';#%\x7f\x85\u2028\U0001f600") + ["]]>"]
)
WORD = st.lists(CHARS, min_size=1, max_size=10).map("".join).filter(lambda s: bad_character(s) is None)

KINDS = st.none() | st.sets(st.sampled_from(RESOURCE_KINDS), min_size=1).map(frozenset)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
LOCATIONS = st.none() | st.builds(
    LocationFilter, lon=st.floats(-180, 180), lat=st.floats(-90, 90), radius=st.floats(min_value=0, allow_infinity=False),
    height=st.none() | FINITE, include_unknown=st.booleans(),
)
PREFIXES = st.lists(WORD.filter(lambda p: ":" not in p and len(p) <= MAX_PREFIX), max_size=3, unique=True).map(tuple)
SEGMENT = st.text("abcXYZ019-._~!$&'()*+,;=@", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
URIS = st.builds(lambda scheme, host, path: f"{scheme}://{host}/{'/'.join(path)}",
                 st.sampled_from(["onvif", "urn-x", "http"]), st.sampled_from(["www.onvif.org", "h"]),
                 st.lists(SEGMENT, max_size=3)).filter(lambda uri: scope_key(uri) is not None)
TERMS = st.builds(ScopeTerm, uri=URIS, rule=st.just(RFC3986)) | st.builds(
    ScopeTerm, uri=st.lists(CHARS, min_size=1, max_size=10).map("".join).filter(lambda u: u.strip(XML_SPACE) == u),
    rule=st.just(STRCMP0),
)
SCOPES = st.lists(TERMS, max_size=4, unique=True).map(tuple)
PATHS = st.sampled_from(SELECT_ITEMS).map(lambda item: SelectPath(item=item)) | SEGMENT.map(
    lambda category: SelectPath(item=SCOPE, sub=(category,))
)
SELECTS = st.none() | st.lists(PATHS, min_size=1, max_size=4, unique=True).map(tuple)

VALUES = st.lists(CHARS | st.just(" "), max_size=6).map("".join).filter(lambda v: not ('"' in v and "'" in v))
CONDITIONS = st.recursive(
    st.builds(itemfilter.Attr, st.sampled_from(itemfilter.ATTRIBUTES), VALUES),
    lambda inner: st.one_of(st.builds(itemfilter.And, inner, inner), st.builds(itemfilter.Or, inner, inner),
                            st.builds(itemfilter.Not, inner)),
    max_leaves=4,
)
ITEM_EXPRESSIONS = st.recursive(
    st.builds(itemfilter.ItemTest, st.sampled_from(itemfilter.ITEM_KINDS), CONDITIONS),
    lambda inner: st.one_of(st.builds(itemfilter.And, inner, inner), st.builds(itemfilter.Or, inner, inner),
                            st.builds(itemfilter.Not, inner)),
    max_leaves=4,
)
ITEM_FILTERS = st.none() | ITEM_EXPRESSIONS.map(itemfilter.normalise)


@st.composite
def queries(draw: Any) -> ResourceQuery:
    return ResourceQuery(kinds=draw(KINDS), location=draw(LOCATIONS), prefixes=draw(PREFIXES), scopes=draw(SCOPES),
                         select=draw(SELECTS), item_filter=draw(ITEM_FILTERS))


def sent(query: ResourceQuery) -> etree._Element:
    """``tev:Filter`` holding the emitted children, serialised and parsed back as a service receives it."""
    filter_el = etree.Element(f"{{{TEV}}}Filter")
    filter_el.extend(filter_elements(query))
    return etree.fromstring(etree.tostring(filter_el))


@settings(max_examples=400, deadline=None)
@given(queries())
def test_parse_of_emit_is_the_query(query: ResourceQuery) -> None:
    assert parse_filter(sent(query)) == query
