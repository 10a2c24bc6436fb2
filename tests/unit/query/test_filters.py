"""tev:Filter / tev:SubscriptionPolicy to ResourceQuery (docs/wire-format.md §5.1, docs/decisions.md §8)."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.onvif.ns import TEV, TT, WSNT
from gateway.query.filters import RFC2396, parse_filter
from gateway.query.model import RFC3986, STRCMP0, LocationFilter, ResourceQuery, ScopeTerm, SelectPath
from gateway.soap.fault import SoapFault

NS = (
    f'xmlns:tev="{TEV}" xmlns:wsnt="{WSNT}" xmlns:tt="{TT}" xmlns:tns1="http://www.onvif.org/ver10/topics"'
)
SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
ITEM = "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"


def flt(body: str) -> etree._Element:
    return etree.fromstring(f"<tev:Filter {NS}>{body}</tev:Filter>")


def policy(body: str) -> etree._Element:
    return etree.fromstring(f"<tev:SubscriptionPolicy {NS}>{body}</tev:SubscriptionPolicy>")


def refused(body: str, fault: str = "InvalidFilterFault") -> SoapFault:
    with pytest.raises(SoapFault) as exc:
        parse_filter(flt(body))
    assert etree.QName(exc.value.subcodes[0]).localname == fault
    assert exc.value.code == "Sender"
    return exc.value


def unknown_filters(fault: SoapFault) -> list[str | None]:
    return [c.text for c in fault.detail[0].iterchildren(f"{{{WSNT}}}UnknownFilter")]


def test_no_filter_is_everything() -> None:
    assert parse_filter(None) == ResourceQuery()
    assert parse_filter(flt("")) == ResourceQuery()
    assert parse_filter(flt("  <!-- nothing -->  ")) == ResourceQuery()


def test_digest_request_example() -> None:
    query = parse_filter(
        flt(
            f"""
        <wsnt:TopicExpression Dialect="{SET}">tns1:Resource/MediaProfile|tns1:Resource/VideoSource</wsnt:TopicExpression>
        <tt:LocationFilter>
          <tt:lon>118.7969</tt:lon><tt:lat>32.0603</tt:lat><tt:radius>100</tt:radius>
          <tt:includeUnknown>false</tt:includeUnknown>
        </tt:LocationFilter>
        <tt:ScopeFilter>
          <tt:Scope Match="{RFC3986}">onvif://www.onvif.org/location/city/nanjing</tt:Scope>
        </tt:ScopeFilter>
        <tt:SelectFilter><tt:Path>/Name</tt:Path><tt:Path>/Location</tt:Path></tt:SelectFilter>"""
        )
    )
    assert query == ResourceQuery(
        kinds=frozenset({"MediaProfile", "VideoSource"}),
        location=LocationFilter(lon=118.7969, lat=32.0603, radius=100.0),
        scopes=(ScopeTerm(uri="onvif://www.onvif.org/location/city/nanjing"),),
        select=(SelectPath(item="Name"), SelectPath(item="Location")),
    )


def test_children_matched_by_local_name_in_any_namespace() -> None:
    body = """<x:LocationFilter xmlns:x="urn:anything"><lat>1</lat><tev:lon>2</tev:lon><radius>3</radius>
              </x:LocationFilter><PrefixFilter><y:Prefix xmlns:y="urn:y">cam1</y:Prefix></PrefixFilter>"""
    assert parse_filter(flt(body)) == ResourceQuery(location=LocationFilter(lon=2.0, lat=1.0, radius=3.0),
                                                    prefixes=("cam1",))  # fmt: skip


def test_several_topic_expressions_intersect() -> None:
    body = f"""<wsnt:TopicExpression Dialect="{SET}">tns1:Resource/MediaProfile|tns1:Resource/Recording</wsnt:TopicExpression>
               <wsnt:TopicExpression Dialect="{SET}">tns1:Resource/Recording|tns1:Resource/VideoSource</wsnt:TopicExpression>
               <wsnt:TopicExpression Dialect="{SET}">tns1:Resource//.</wsnt:TopicExpression>"""
    assert parse_filter(flt(body)).kinds == frozenset({"Recording"})


def test_topic_prefix_resolves_in_the_element_scope() -> None:
    body = f"""<wsnt:TopicExpression xmlns:r="http://www.onvif.org/ver10/topics" Dialect="{SET}"
               >r:Resource/PTZNode</wsnt:TopicExpression>"""
    assert parse_filter(flt(body)).kinds == frozenset({"PTZNode"})


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        ('<wsnt:TopicExpression Dialect="urn:x">tns1:Resource</wsnt:TopicExpression>', "TopicExpressionDialectUnknownFault"),
        ("<wsnt:TopicExpression>tns1:Resource</wsnt:TopicExpression>", "TopicExpressionDialectUnknownFault"),
        (f'<wsnt:TopicExpression Dialect="{SET}">q:Resource</wsnt:TopicExpression>', "InvalidTopicExpressionFault"),
        (f'<wsnt:TopicExpression Dialect="{SET}"><tt:x/></wsnt:TopicExpression>', "InvalidTopicExpressionFault"),
        (f'<wsnt:TopicExpression Dialect="{SET}">tns1:VideoSource/MotionAlarm</wsnt:TopicExpression>', "TopicNotSupportedFault"),
        (f'<wsnt:TopicExpression Dialect="{SET}">tns1:Resource/NoSuchKind</wsnt:TopicExpression>', "TopicNotSupportedFault"),
        ('<wsnt:MessageContent Dialect="urn:xpath">boolean(1)</wsnt:MessageContent>', "InvalidMessageContentExpressionFault"),
        (f'<wsnt:MessageContent Dialect="{ITEM}">boolean(</wsnt:MessageContent>', "InvalidMessageContentExpressionFault"),
        ("<wsnt:ProducerProperties>x</wsnt:ProducerProperties>", "InvalidProducerPropertiesExpressionFault"),
    ],
)  # fmt: skip
def test_topic_and_content_faults(body: str, fault: str) -> None:
    refused(body, fault)


def test_message_content_is_normalised_and_several_and_together() -> None:
    body = f"""<wsnt:MessageContent xmlns:o="{TT}" Dialect="{ITEM}">boolean( //o:SimpleItem[ @Name='Name' ] )</wsnt:MessageContent>
               <wsnt:MessageContent Dialect="{ITEM}">boolean(//tt:ElementItem[@Name="Location"]) or boolean(//tt:SimpleItem[@Name="Offline"])</wsnt:MessageContent>"""
    assert parse_filter(flt(body)).item_filter == (
        'boolean(//tt:SimpleItem[@Name="Name"]) and '
        '(boolean(//tt:ElementItem[@Name="Location"]) or boolean(//tt:SimpleItem[@Name="Offline"]))'
    )


def test_unknown_filter_elements_are_listed() -> None:
    fault = refused('<tt:PolygonFilter/><Extra/><q:Other xmlns:q="urn:q"/><tt:PrefixFilter><tt:Prefix>a</tt:Prefix></tt:PrefixFilter>')
    assert unknown_filters(fault) == ["tt:PolygonFilter", "Extra", "ns0:Other"]
    assert "PolygonFilter, Extra, Other" in fault.reason


def test_text_directly_in_filter_is_refused() -> None:
    fault = refused("tns1:Resource")
    assert "Filter has text 'tns1:Resource'" in fault.reason
    assert unknown_filters(fault) == ["tev:Filter"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<lon>1</lon><lat>2</lat><radius>3</radius>", LocationFilter(lon=1.0, lat=2.0, radius=3.0)),
        ("<radius> 1e3 </radius><includeUnknown>1</includeUnknown><height>-5.5</height><lat>-90</lat><lon>+180</lon>",
         LocationFilter(lon=180.0, lat=-90.0, radius=1000.0, height=-5.5, include_unknown=True)),
        ("<lon>-180</lon><lat>90</lat><radius>0</radius><includeUnknown>true</includeUnknown>",
         LocationFilter(lon=-180.0, lat=90.0, radius=0.0, include_unknown=True)),
        ("<lon>.5</lon><lat>5.</lat><radius>1E-3</radius><includeUnknown>0</includeUnknown>",
         LocationFilter(lon=0.5, lat=5.0, radius=0.001)),
    ],
)  # fmt: skip
def test_location_filter(body: str, expected: LocationFilter) -> None:
    assert parse_filter(flt(f"<LocationFilter>{body}</LocationFilter>")).location == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<lon>1</lon><lat>2</lat>", "missing radius"),
        ("<radius>1</radius>", "missing lon, lat"),
        ("<lon>1</lon><lon>1</lon><lat>2</lat><radius>3</radius>", "lon given twice"),
        ("<lon>181</lon><lat>2</lat><radius>3</radius>", "lon 181.0 is outside [-180, 180]"),
        ("<lon>1</lon><lat>-90.5</lat><radius>3</radius>", "lat -90.5 is outside [-90, 90]"),
        ("<lon>1</lon><lat>2</lat><radius>-1</radius>", "radius -1.0 is negative"),
        ("<lon>NaN</lon><lat>2</lat><radius>3</radius>", "lon 'NaN' is not a finite xs:double"),
        ("<lon>1</lon><lat>2</lat><radius>INF</radius>", "radius 'INF' is not a finite xs:double"),
        ("<lon>1</lon><lat>2</lat><radius>1e999</radius>", "radius '1e999' is out of range"),
        ("<lon>1</lon><lat>2</lat><radius>3</radius><height>-INF</height>", "height '-INF' is not a finite"),
        ("<lon>1_0</lon><lat>2</lat><radius>3</radius>", "lon '1_0' is not a finite xs:double"),
        ("<lon>0x1</lon><lat>2</lat><radius>3</radius>", "lon '0x1' is not"),
        ("<lon></lon><lat>2</lat><radius>3</radius>", "lon '' is not"),
        ("<lon>1</lon><lat>2</lat><radius>3</radius><includeUnknown>yes</includeUnknown>",
         "includeUnknown 'yes' is not an xs:boolean"),
        ("<lon>1</lon><lat>2</lat><radius>3</radius><includeUnkown>true</includeUnkown>",
         "unexpected element 'includeUnkown'"),
        ("<lon><v>1</v></lon><lat>2</lat><radius>3</radius>", "lon must hold text"),
        ("5<lon>1</lon><lat>2</lat><radius>3</radius>", "LocationFilter has text '5'"),
    ],
)  # fmt: skip
def test_location_filter_refused(body: str, reason: str) -> None:
    fault = refused(f"<tt:LocationFilter>{body}</tt:LocationFilter>")
    assert f"LocationFilter: {reason}" in fault.reason
    assert unknown_filters(fault) == ["tt:LocationFilter"]


def test_duplicate_location_filter_refused() -> None:
    one = "<LocationFilter><lon>1</lon><lat>2</lat><radius>3</radius></LocationFilter>"
    assert "LocationFilter given 2 times" in refused(one + one).reason


def test_prefix_filters_or_together() -> None:
    body = """<PrefixFilter><Prefix>cam1</Prefix></PrefixFilter><PrefixFilter><Prefix> cam2: </Prefix></PrefixFilter>
              <PrefixFilter><Prefix>cam1:</Prefix></PrefixFilter>"""
    assert parse_filter(flt(body)).prefixes == ("cam1", "cam2")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "expected exactly one Prefix element, got []"),
        ("<Prefix>a</Prefix><Prefix>b</Prefix>", "expected exactly one Prefix element, got ['Prefix', 'Prefix']"),
        ("<Device>a</Device>", "got ['Device']"),
        ("<Prefix></Prefix>", "Prefix '': empty prefix"),
        ("<Prefix>:</Prefix>", "Prefix ':': empty prefix"),
        ("<Prefix>a:b</Prefix>", "Prefix 'a:b': prefix 'a:b' contains ':'"),
        ("<Prefix>a b</Prefix>", "contains whitespace"),
        ("<Prefix>" + "p" * 63 + "</Prefix>", "at most 62"),
    ],
)
def test_prefix_filter_refused(body: str, reason: str) -> None:
    message = refused(f"<PrefixFilter>{body}</PrefixFilter>").reason
    assert message.startswith("PrefixFilter: ") and reason in message


def test_scope_filters() -> None:
    body = f"""<ScopeFilter><Scope>onvif://www.onvif.org/location</Scope>
                 <Scope Match="{RFC2396}">onvif://www.onvif.org/name</Scope></ScopeFilter>
               <ScopeFilter><Scope Match=" {STRCMP0} ">urn:exact</Scope>
                 <Scope>onvif://www.onvif.org/location</Scope></ScopeFilter>"""
    assert parse_filter(flt(body)).scopes == (
        ScopeTerm(uri="onvif://www.onvif.org/location", rule=RFC3986),
        ScopeTerm(uri="onvif://www.onvif.org/name", rule=RFC3986),
        ScopeTerm(uri="urn:exact", rule=STRCMP0),
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "expected at least one Scope element"),
        ("<Path>/x</Path>", "unexpected element 'Path'; expected Scope"),
        ("<Scope></Scope>", "empty Scope"),
        ('<Scope Match="http://schemas.xmlsoap.org/ws/2005/04/discovery/ldap">x:y</Scope>', "Match rule"),
        ("<Scope>not a uri</Scope>", "Scope 'not a uri' is not an absolute URI"),
        ("<Scope>onvif://www.onvif.org/../x</Scope>", "is not an absolute URI the rfc3986 rule can match"),
    ],
)
def test_scope_filter_refused(body: str, reason: str) -> None:
    message = refused(f"<ScopeFilter>{body}</ScopeFilter>").reason
    assert message.startswith("ScopeFilter: ") and reason in message


def test_select_filter() -> None:
    body = """<SelectFilter><Path>/Name</Path><Path> /Scope/Location </Path><Path>/Token</Path>
              <Path>/Offline</Path><Path>/Name</Path><Path>/Scope</Path></SelectFilter>"""
    assert parse_filter(flt(body)).select == (
        SelectPath(item="Name"), SelectPath(item="Scope", sub=("Location",)), SelectPath(item="Token"),
        SelectPath(item="Offline"), SelectPath(item="Scope"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "expected at least one Path element"),
        ("<Path>Name</Path>", "Path 'Name' is not /<item>"),
        ("<Path>/</Path>", "Path '/' is not /<item>"),
        ("<Path>/Colour</Path>", "Path '/Colour' is not /<item>"),
        ("<Path>/name</Path>", "Path '/name' is not /<item>"),
        ("<Path>/Location/lon</Path>", "only /Scope takes a sub-step"),
        ("<Path>/Scope/</Path>", "only /Scope takes a sub-step"),
        ("<Path>/Scope/a/b</Path>", "only /Scope takes a sub-step"),
        ("<Path>/Scope/a b</Path>", "only /Scope takes a sub-step"),
        ("<Path>//Name</Path>", "is not /<item>"),
    ],
)
def test_select_filter_refused(body: str, reason: str) -> None:
    message = refused(f"<SelectFilter>{body}</SelectFilter>").reason
    assert message.startswith("SelectFilter: ") and reason in message


def test_duplicate_select_filter_refused() -> None:
    one = "<SelectFilter><Path>/Name</Path></SelectFilter>"
    assert "SelectFilter given 2 times" in refused(one + one).reason


def test_subscription_policy() -> None:
    assert parse_filter(None, policy("<tev:ChangedOnly/>")) == ResourceQuery(changed_only=True)
    assert parse_filter(None, policy("")).changed_only is False
    assert parse_filter(flt(""), policy(" <tev:ChangedOnly>  </tev:ChangedOnly> ")).changed_only is True
    with pytest.raises(SoapFault) as exc:
        parse_filter(None, policy("<tev:ChangedOnly/><wsnt:UseRaw/>"))
    assert etree.QName(exc.value.subcodes[0]).localname == "UnrecognizedPolicyRequestFault"
    policies = [c.text for c in exc.value.detail[0].iterchildren(f"{{{WSNT}}}UnrecognizedPolicy")]
    assert policies == ["wsnt:UseRaw"]
    with pytest.raises(SoapFault, match="policy ChangedOnly is not supported"):
        parse_filter(None, policy("<tt:ChangedOnly/>"))


def test_query_survives_json() -> None:
    body = f"""<wsnt:TopicExpression Dialect="{SET}">tns1:Resource/MediaProfile</wsnt:TopicExpression>
               <LocationFilter><lon>1</lon><lat>2</lat><radius>3</radius><height>4</height></LocationFilter>
               <PrefixFilter><Prefix>cam1</Prefix></PrefixFilter>
               <ScopeFilter><Scope Match="{STRCMP0}">x</Scope></ScopeFilter>
               <SelectFilter><Path>/Scope/name</Path></SelectFilter>
               <wsnt:MessageContent Dialect="{ITEM}">boolean(//tt:SimpleItem[@Name="a"])</wsnt:MessageContent>"""
    query = parse_filter(flt(body), policy("<tev:ChangedOnly/>"))
    assert ResourceQuery.from_json(query.to_json()) == query
