"""Topic expressions reduced to resource kinds, and the declared topic set (docs/wire-format.md §4.4, §5.2)."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.onvif.ns import DIALECT_CONCRETE, DIALECT_CONCRETE_SET, TNS1, TT, WSNT, WSTOP
from gateway.onvif.resource_event import topic_text
from gateway.onvif.topics import intersect_kinds, parse_topic_expression, topic_set
from gateway.soap.fault import SoapFault
from gateway.vocabulary.resource import RESOURCE_KINDS

NS = {"tns1": TNS1}
SET, ONE = DIALECT_CONCRETE_SET, DIALECT_CONCRETE


def fault_name(exc: pytest.ExceptionInfo[SoapFault]) -> str:
    return etree.QName(exc.value.subcodes[0]).localname


@pytest.mark.parametrize(
    ("dialect", "text", "kinds"),
    [
        (SET, "tns1:Resource//.", None),
        (ONE, "tns1:Resource", None),
        (SET, "tns1:Resource", None),
        (ONE, "tns1:Resource/MediaProfile", frozenset({"MediaProfile"})),
        (SET, " tns1:Resource/MediaProfile ", frozenset({"MediaProfile"})),
        (SET, "tns1:Resource/MediaProfile//.", frozenset({"MediaProfile"})),
        (SET, "tns1:Resource/MediaProfile|tns1:Resource/VideoSource", frozenset({"MediaProfile", "VideoSource"})),
        (SET, "tns1:Resource/MediaProfile | tns1:Resource//.", None),
        (SET, "tns1:VideoSource/MotionAlarm|tns1:Resource/Recording", frozenset({"Recording"})),
        (SET, "tns1:RuleEngine//.|tns1:Resource/PTZNode", frozenset({"PTZNode"})),
    ],
)
def test_selections(dialect: str, text: str, kinds: frozenset[str] | None) -> None:
    assert parse_topic_expression(dialect, text, NS) == kinds


def test_prefix_is_resolved_by_namespace_not_spelling() -> None:
    assert parse_topic_expression(ONE, "ev:Resource/VideoSource", {"ev": TNS1}) == frozenset({"VideoSource"})
    assert parse_topic_expression(ONE, "Resource/VideoSource", {None: TNS1}) == frozenset({"VideoSource"})
    with pytest.raises(SoapFault) as exc:
        parse_topic_expression(ONE, "tns1:Resource/VideoSource", {"tns1": "urn:not-the-topics-namespace"})
    assert fault_name(exc) == "TopicNotSupportedFault"
    with pytest.raises(SoapFault) as exc:
        parse_topic_expression(ONE, "Resource/VideoSource", {})
    assert fault_name(exc) == "TopicNotSupportedFault"


@pytest.mark.parametrize(
    ("dialect", "text", "reason"),
    [
        (ONE, "tns1:Resource//.", "need the ConcreteSet dialect"),
        (ONE, "tns1:Resource/MediaProfile|tns1:Resource/VideoSource", "need the ConcreteSet dialect"),
        (SET, "", "'' is not a topic name"),
        (SET, "tns1:Resource||tns1:Resource", "'' is not a topic name"),
        (SET, "tns1:Resource/", "'' is not a topic name"),
        (SET, "tns1:Resource//./MediaProfile", "'//.' may only end a path"),
        (SET, "tns1:Resource//.//.", "'//.' may only end a path"),
        (SET, "tns1:Resource/*", "'*' is not a topic name"),
        (SET, "tns1:Resource/Media Profile", "'Media Profile' is not a topic name"),
        (SET, "tns1:Resource/1st", "'1st' is not a topic name"),
        (SET, "nope:Resource", "prefix 'nope' is not declared"),
        (SET, "tns1:Resource/nope:MediaProfile", "prefix 'nope' is not declared"),
    ],
)
def test_invalid_expressions(dialect: str, text: str, reason: str) -> None:
    with pytest.raises(SoapFault) as exc:
        parse_topic_expression(dialect, text, NS)
    assert fault_name(exc) == "InvalidTopicExpressionFault"
    assert reason in exc.value.reason


@pytest.mark.parametrize(
    "text",
    ["tns1:VideoSource/MotionAlarm", "tns1:Resource/NoSuchKind", "tns1:Resource/MediaProfile/Extra",
     "tns1:Resource/tns1:MediaProfile", "tns1:Device//.|tns1:VideoSource//."],
)  # fmt: skip
def test_not_supported(text: str) -> None:
    with pytest.raises(SoapFault) as exc:
        parse_topic_expression(SET, text, NS)
    assert (fault_name(exc), exc.value.code) == ("TopicNotSupportedFault", "Sender")


@pytest.mark.parametrize("dialect", ["", "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Full", "Concrete"])
def test_unknown_dialect(dialect: str) -> None:
    with pytest.raises(SoapFault) as exc:
        parse_topic_expression(dialect, "tns1:Resource", NS)
    assert fault_name(exc) == "TopicExpressionDialectUnknownFault"


def test_dialect_whitespace_is_ignored() -> None:
    assert parse_topic_expression(f"  {SET}\n", "tns1:Resource", NS) is None


def test_intersection() -> None:
    a, b = frozenset({"MediaProfile", "VideoSource"}), frozenset({"VideoSource", "Recording"})
    assert intersect_kinds([]) is None
    assert intersect_kinds([None, None]) is None
    assert intersect_kinds([None, a]) == a
    assert intersect_kinds([a, None, b]) == frozenset({"VideoSource"})
    assert intersect_kinds([a, frozenset({"Recording"})]) == frozenset()


def test_topic_text() -> None:
    assert topic_text("MediaProfile") == "tns1:Resource/MediaProfile"
    with pytest.raises(ValueError, match="'Camera' is not a resource kind"):
        topic_text("Camera")


#: The specification's example, with the items in the order of the tt:ItemListDescription sequence
#: (SimpleItemDescriptions, then ElementItemDescriptions), which the schema requires.
EXPECTED_TOPIC_SET = f"""
<wstop:TopicSet xmlns="" xmlns:wstop="{WSTOP}" xmlns:tns1="{TNS1}" xmlns:tt="{TT}"
    xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <tns1:Resource>
    <MediaProfile wstop:topic="true">
      <tt:MessageDescription IsProperty="true">
        <tt:Source><tt:SimpleItemDescription Name="Token" Type="tt:ReferenceToken"/></tt:Source>
        <tt:Data>
          <tt:SimpleItemDescription Name="Name" Type="xs:string"/>
          <tt:SimpleItemDescription Name="Scope" Type="xs:string"/>
          <tt:SimpleItemDescription Name="Offline" Type="xs:boolean"/>
          <tt:ElementItemDescription Name="Location" Type="tt:GeoLocation"/>
        </tt:Data>
      </tt:MessageDescription>
    </MediaProfile>
  </tns1:Resource>
</wstop:TopicSet>
"""


def canonical(el: etree._Element) -> str:
    return etree.tostring(el, method="c14n2", strip_text=True).decode()


def test_topic_set_matches_digest_example_in_schema_order() -> None:
    assert canonical(topic_set(["MediaProfile"])) == canonical(etree.fromstring(EXPECTED_TOPIC_SET))


def test_topic_set_keeps_children_unqualified_inside_a_default_namespace() -> None:
    outer = etree.Element(f"{{{WSNT}}}Outer", nsmap={None: WSNT})
    outer.append(topic_set(RESOURCE_KINDS))
    reparsed = etree.fromstring(etree.tostring(outer))
    leaves = reparsed[0][0]
    assert [leaf.tag for leaf in leaves] == list(RESOURCE_KINDS)
    assert {leaf.get(f"{{{WSTOP}}}topic") for leaf in leaves} == {"true"}
    # The QName values in Type attributes resolve to the ONVIF and XML Schema namespaces.
    item = leaves[0].find(f"{{{TT}}}MessageDescription/{{{TT}}}Source/{{{TT}}}SimpleItemDescription")
    assert item is not None and item.nsmap["tt"] == TT


def test_topic_set_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError):
        topic_set(["MediaProfile", "Camera"])
