"""The parsers of client input raise their one typed error and nothing else, whatever the input.

h11's fuzz contract, for filters: any element tree under ``tev:Filter`` (and
``tev:SubscriptionPolicy``) yields a ResourceQuery or a SoapFault.
"""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.onvif.ns import DIALECT_CONCRETE, DIALECT_CONCRETE_SET, DIALECT_ITEM_FILTER, TEV, TNS1, TT, WSNT
from gateway.onvif.time import TimeFormatError, parse_absolute_or_relative, parse_datetime, parse_duration
from gateway.onvif.topics import parse_topic_expression
from gateway.query.filters import RFC2396, parse_filter
from gateway.query.itemfilter import parse_item_filter
from gateway.query.model import RFC3986, STRCMP0, ResourceQuery
from gateway.soap.fault import SoapFault

LOCAL_NAMES = st.sampled_from(
    ["TopicExpression", "MessageContent", "ProducerProperties", "LocationFilter", "PrefixFilter", "ScopeFilter",
     "SelectFilter", "lon", "lat", "height", "radius", "includeUnknown", "Prefix", "Scope", "Path", "ChangedOnly",
     "Unknown"]
)  # fmt: skip
NAMESPACES = st.sampled_from([None, TT, TEV, WSNT, "urn:other"])
# XML 1.0 forbids most control characters and surrogates; anything else may appear.
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"), max_size=24)
TEXTS = st.one_of(
    st.none(),
    st.sampled_from(
        ["1", " -181 ", "NaN", "INF", "1e999", "1e-400", "true", "2", "tns1:Resource//.", "tns1:Resource/MediaProfile|x:y",
         "/Scope/location", "/Name", "cam1:", ":", "onvif://www.onvif.org/x", "urn:%zz", "//.", "tns1:Resource/",
         'boolean(//tt:SimpleItem[@Name="a"])', "boolean(//q:SimpleItem[@Name='a'])", "(((", "not(", "]"]
    ),
    XML_TEXT,
)  # fmt: skip
ATTRS = st.dictionaries(
    st.sampled_from(["Dialect", "Match", "other"]),
    st.one_of(st.sampled_from([DIALECT_CONCRETE, DIALECT_CONCRETE_SET, DIALECT_ITEM_FILTER, RFC3986, RFC2396, STRCMP0,
                               " ", ""]), XML_TEXT),
    max_size=2,
)

Node = tuple[str | None, str, dict[str, str], str | None, str | None, list[Any]]


def node(children: st.SearchStrategy[list[Any]]) -> st.SearchStrategy[Node]:
    return st.tuples(NAMESPACES, LOCAL_NAMES, ATTRS, TEXTS, TEXTS, children)


TREES = st.recursive(node(st.just([])), lambda inner: node(st.lists(inner, max_size=3)), max_leaves=8)

#: The children each filter expects, so that generated filters also reach the value checks.
EXPECTED_CHILDREN = {
    "LocationFilter": ["lon", "lat", "height", "radius", "includeUnknown", "lon", "lat", "radius", "Scope"],
    "PrefixFilter": ["Prefix", "Prefix", "Path"],
    "ScopeFilter": ["Scope", "Scope", "Prefix"],
    "SelectFilter": ["Path", "Path", "Scope"],
}
LEAF = st.tuples(NAMESPACES, st.just(""), ATTRS, TEXTS, st.sampled_from([None, " ", "x"]), st.just([]))


@st.composite
def plausible(draw: Any) -> Node:
    """A known filter with (mostly) the children it expects and arbitrary values."""
    top = draw(st.sampled_from([*EXPECTED_CHILDREN, "TopicExpression", "MessageContent"]))
    children: list[Any] = []
    if top in EXPECTED_CHILDREN:
        for _ in range(draw(st.integers(0, 5))):
            ns, _, attrs, text, tail, grand = draw(LEAF)
            children.append((ns, draw(st.sampled_from(EXPECTED_CHILDREN[top])), attrs, text, tail, grand))
    return (draw(NAMESPACES), top, draw(ATTRS), draw(TEXTS), None, children)


FILTER_CHILDREN = st.one_of(plausible(), plausible(), TREES)


def build(parent: etree._Element, tree: Node) -> None:
    ns, local, attrs, text, tail, children = tree
    el = etree.SubElement(parent, f"{{{ns}}}{local}" if ns else local, attrs)
    el.text, el.tail = text, tail
    for child in children:
        build(el, child)


def root(tag: str, trees: list[Node], text: str | None, declare: bool) -> etree._Element:
    nsmap = {"tns1": TNS1, "tt": TT} if declare else {}
    el = etree.Element(f"{{{TEV}}}{tag}", nsmap=nsmap)
    el.text = text
    for tree in trees:
        build(el, tree)
    return el


@settings(max_examples=400, deadline=None)
@given(st.lists(FILTER_CHILDREN, max_size=4), st.lists(TREES, max_size=2), TEXTS, st.booleans(), st.booleans())
def test_parse_filter_returns_a_query_or_raises_a_soap_fault(
    filters: list[Node], policies: list[Node], text: str | None, declare: bool, with_policy: bool
) -> None:
    filter_el = root("Filter", filters, text, declare)
    policy_el = root("SubscriptionPolicy", policies, None, declare) if with_policy else None
    try:
        query = parse_filter(filter_el, policy_el)
    except SoapFault as fault:
        assert fault.code in ("Sender", "Receiver") and fault.subcodes and fault.detail
        return
    assert isinstance(query, ResourceQuery)
    assert ResourceQuery.from_json(query.to_json()) == query


GRAMMAR_BITS = st.sampled_from(
    ["boolean", "(", ")", "//", "tt:", "q:", "SimpleItem", "ElementItem", "[", "]", "@Name", "@Value", "=", '"a"',
     "'b'", '"', " and ", " or ", "not", " ", "tns1:", "Resource", "/", "//.", "|", ":", "MediaProfile", "*", "\u00e9"]
)  # fmt: skip
FRAGMENTS = st.one_of(st.lists(GRAMMAR_BITS, max_size=30).map("".join), XML_TEXT)


@settings(max_examples=500, deadline=None)
@given(FRAGMENTS, st.sampled_from([{}, {"tt": TT}, {"tt": TT, "tns1": TNS1, None: TNS1}]))
def test_expression_parsers_raise_only_soap_faults(text: str, nsmap: dict[str | None, str]) -> None:
    for parse in (
        lambda: parse_item_filter(text, nsmap),
        lambda: parse_topic_expression(DIALECT_CONCRETE, text, nsmap),
        lambda: parse_topic_expression(DIALECT_CONCRETE_SET, text, nsmap),
    ):
        try:
            parse()
        except SoapFault:
            pass


TIME_BITS = st.sampled_from(["P", "T", "-", "+", "1", "99999", ".", "5", "Y", "M", "D", "H", "S", "Z", ":", "2026",
                             "-03", "-01T", "08:15:02", "+14:00", "24:00:00", " ", "\u0661"])  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.lists(TIME_BITS, max_size=12).map("".join), XML_TEXT))
def test_time_parsers_raise_only_time_format_errors(text: str) -> None:
    import datetime as dt

    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    for parse in (lambda: parse_duration(text), lambda: parse_datetime(text),
                  lambda: parse_absolute_or_relative(text, now)):  # fmt: skip
        try:
            parse()
        except TimeFormatError:
            pass
