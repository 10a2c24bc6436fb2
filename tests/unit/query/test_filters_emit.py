"""The Resource Query filter XML a client sends, as the query module writes it."""
from __future__ import annotations

from lxml import etree

from gateway.onvif.ns import DIALECT_CONCRETE_SET, TNS1, TT, WSNT
from gateway.query.filters import ALL_RESOURCES, filter_elements, topic_expression
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm, SelectPath

NS = {"tt": TT, "wsnt": WSNT}


def _xml(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode")


def test_topic_expressions() -> None:
    assert topic_expression(None) == ALL_RESOURCES == "tns1:Resource//."
    assert topic_expression(frozenset({"VideoSource", "MediaProfile"})) == (
        "tns1:Resource/MediaProfile|tns1:Resource/VideoSource"
    )


def test_minimal_filter_is_the_topic_expression() -> None:
    (topic,) = filter_elements(ResourceQuery())
    assert topic.tag == f"{{{WSNT}}}TopicExpression"
    assert topic.get("Dialect") == DIALECT_CONCRETE_SET
    assert topic.text == "tns1:Resource//."
    assert topic.nsmap["tns1"] == TNS1  # the prefix used in the text is declared


def test_full_filter() -> None:
    query = ResourceQuery(
        kinds=frozenset({"MediaProfile"}),
        location=LocationFilter(lon=118.7969, lat=32.0603, radius=100.0),
        prefixes=("32010001071321008015", "32010001071321008016"),
        scopes=(ScopeTerm(uri="onvif://www.onvif.org/location/city/nanjing"),
                ScopeTerm(uri="onvif://www.onvif.org/name/Gate8", rule=STRCMP0)),
        select=(SelectPath(item="Name"), SelectPath(item="Scope", sub=("Location",))),
    )  # fmt: skip
    topic, location, prefix1, prefix2, scope, select = filter_elements(query)
    assert topic.text == "tns1:Resource/MediaProfile"
    assert [(etree.QName(c).namespace, etree.QName(c).localname, c.text) for c in location] == [
        (TT, "lon", "118.7969"), (TT, "lat", "32.0603"), (TT, "radius", "100"), (TT, "includeUnknown", "false"),
    ]  # schema order (docs/wire-format.md §5.3)
    assert _xml(prefix1).endswith("<tt:Prefix>32010001071321008015</tt:Prefix></tt:PrefixFilter>")
    assert prefix2.findtext("tt:Prefix", namespaces=NS) == "32010001071321008016"
    assert [(s.get("Match"), s.text) for s in scope.findall("tt:Scope", NS)] == [
        (RFC3986, "onvif://www.onvif.org/location/city/nanjing"), (STRCMP0, "onvif://www.onvif.org/name/Gate8"),
    ]
    assert [p.text for p in select.findall("tt:Path", NS)] == ["/Name", "/Scope/Location"]
    assert all(etree.QName(el).namespace == TT for el in (location, prefix1, scope, select))
