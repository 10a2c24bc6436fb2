"""Resource Query filters through a real gateway process and the official-WSDL zeep client."""
from __future__ import annotations

import pytest
import zeep.exceptions

from tests.interop.conftest import CENTRE, PASSWORD, USER, Gateway
from tests.interop.expect import scope_matches, tokens, within
from tests.interop.onvif_client import Client, location_filter, topic_expression, tt

pytestmark = pytest.mark.interop
CITY = "onvif://www.onvif.org/location/city/nanjing"


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Client:
    return Client(gateway.url, USER, PASSWORD)


def test_connect_flow_reports_addresses_as_the_client_used_them(gateway: Gateway, client: Client) -> None:
    services = {s.Namespace: s.XAddr for s in client.device.GetServices(IncludeCapability=True)}
    assert services["http://www.onvif.org/ver10/device/wsdl"] == gateway.base + "/onvif/device_service"
    assert services["http://www.onvif.org/ver10/events/wsdl"] == gateway.base + "/onvif/event_service"
    assert client.device.GetSystemDateAndTime().UTCDateTime.Date.Year >= 2024
    assert client.device.GetDeviceInformation().Model == "vms-gateway"
    assert client.device.GetCapabilities().Events.XAddr == gateway.base + "/onvif/event_service"
    assert len(client.device.GetScopes()) >= 1


def test_event_properties_declare_resource_topics(client: Client) -> None:
    props = client.events.GetEventProperties()
    dialects = set(props.TopicExpressionDialect)
    assert "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" in dialects
    topics = client.capture.last.find(".//{http://docs.oasis-open.org/wsn/t-1}TopicSet")
    resource = topics.find("{http://www.onvif.org/ver10/topics}Resource")
    leaves = {child.tag for child in resource}
    assert {"MediaProfile", "VideoSource", "Recording", "VideoEncoderConfiguration"} <= leaves


def test_location_filter_returns_exactly_the_profiles_within_100m(client: Client, city_rows: list) -> None:
    address = client.subscribe(topic_expression("tns1:Resource/MediaProfile"), location_filter(*CENTRE, 100.0))
    events = client.drain(address)
    expected = tokens(city_rows, lambda r: r["kind"] == "MediaProfile" and within(r, *CENTRE, 100.0))
    assert {e.token for e in events} == expected
    assert len(events) == len(expected)
    assert {"32010001071321008015:Profile_1", "cam-x:Profile_1"} <= expected
    assert "cam-y:Profile_1" not in expected
    assert {e.operation for e in events} == {"Initialized"}
    gate8 = next(e for e in events if e.token == "32010001071321008015:Profile_1")
    assert gate8.kind == "MediaProfile" and gate8.name == "Gate 8 Profile_1" and gate8.offline == "false"
    assert len(gate8.scopes) == 3 and gate8.location is not None


def test_include_unknown_adds_resources_without_location(client: Client, city_rows: list) -> None:
    address = client.subscribe(topic_expression(), location_filter(*CENTRE, 100.0, include_unknown=True))
    expected = tokens(city_rows, lambda r: within(r, *CENTRE, 100.0, include_unknown=True))
    assert {e.token for e in client.drain(address)} == expected
    assert "nowhere:Profile_1" in expected


def test_prefix_filter_selects_one_device(client: Client) -> None:
    address = client.subscribe(topic_expression(), tt("PrefixFilter", tt("Prefix", text="32010001071321008015")))
    events = client.drain(address)
    assert {e.token for e in events} == {f"32010001071321008015:{x}" for x in ("Profile_1", "Profile_2", "VS_1", "Rec_1")}
    assert {e.kind for e in events} == {"MediaProfile", "VideoSource", "Recording"}


def test_scope_filter_rfc3986_is_segmentwise_and_case_sensitive_in_the_path(client: Client, city_rows: list) -> None:
    address = client.subscribe(topic_expression(), tt("ScopeFilter", tt("Scope", text=CITY)))
    expected = tokens(city_rows, lambda r: any(scope_matches(CITY, s) for s in r["scopes"].split()))
    got = {e.token for e in client.drain(address)}
    assert got == expected
    assert "cam-x:Profile_1" not in got  # .../Location/... differs in case in the path
    assert "32010001071321008016:Profile_1" in got  # .../nanjing/district/xuanwu is below .../nanjing


def test_several_scopes_and_strcmp0(client: Client, city_rows: list) -> None:
    ptz, xuanwu = "onvif://www.onvif.org/type/ptz", CITY + "/district/xuanwu"
    address = client.subscribe(topic_expression(), tt("ScopeFilter", tt("Scope", text=ptz), tt("Scope", text=xuanwu)))
    expected = tokens(city_rows, lambda r: ptz in r["scopes"].split() and xuanwu in r["scopes"].split())
    assert expected and {e.token for e in client.drain(address)} == expected
    strict = client.subscribe(topic_expression(), tt("ScopeFilter", tt(
        "Scope", text=CITY, Match="http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0")))
    assert {e.token for e in client.drain(strict)} == tokens(city_rows, lambda r: CITY in r["scopes"].split())


def test_topic_concrete_set_union(client: Client, city_rows: list) -> None:
    address = client.subscribe(topic_expression("tns1:Resource/VideoSource|tns1:Resource/Recording"))
    events = client.drain(address)
    assert {e.token for e in events} == tokens(city_rows, lambda r: r["kind"] in ("VideoSource", "Recording"))


def test_select_filter_projects_items_but_keeps_the_token(client: Client) -> None:
    address = client.subscribe(
        topic_expression("tns1:Resource/MediaProfile"),
        tt("PrefixFilter", tt("Prefix", text="32010001071321008015")),
        tt("SelectFilter", tt("Path", text="/Name"), tt("Path", text="/Scope/name")),
    )
    events = client.drain(address)
    assert len(events) == 2
    for event in events:
        assert event.name is not None and event.location is None and event.offline is None
        assert event.scopes == ("onvif://www.onvif.org/name/Gate8",)


def test_filters_combine_with_and(client: Client, city_rows: list) -> None:
    address = client.subscribe(
        topic_expression(), location_filter(*CENTRE, 1500.0),
        tt("ScopeFilter", tt("Scope", text="onvif://www.onvif.org/type/ptz")))
    expected = tokens(city_rows, lambda r: within(r, *CENTRE, 1500.0)
                      and any(scope_matches("onvif://www.onvif.org/type/ptz", s) for s in r["scopes"].split()))
    assert expected and {e.token for e in client.drain(address)} == expected


def test_message_limit_pages_without_loss_or_duplicates(client: Client, city_rows: list) -> None:
    address = client.subscribe(topic_expression())
    seen: list[str] = []
    while batch := client.pull(address, "PT0S", 7):
        assert len(batch) <= 7
        seen.extend(e.token for e in batch)
    assert sorted(seen) == sorted(r["token"] for r in city_rows)


def test_renew_unsubscribe_and_synchronization_point(client: Client) -> None:
    address = client.subscribe(topic_expression(), tt("PrefixFilter", tt("Prefix", text="32010001071321008015")))
    assert len(client.drain(address)) == 4
    client.pull_point(address).SetSynchronizationPoint()
    again = client.drain(address)
    assert len(again) == 4 and {e.operation for e in again} == {"Initialized"}
    renewed = client.manager(address).Renew(TerminationTime="PT5M")
    assert (renewed.TerminationTime - renewed.CurrentTime).total_seconds() == pytest.approx(300, abs=2)
    client.manager(address).Unsubscribe()
    with pytest.raises(zeep.exceptions.Fault) as info:
        client.pull(address)
    assert info.value.detail is not None and info.value.detail[0].tag.endswith("ResourceUnknownFault")


def test_another_user_cannot_use_my_pull_point(gateway: Gateway, client: Client) -> None:
    from tests.interop.conftest import run_cli

    run_cli("user", "add", "mallory", "--level", "user", db=gateway.db, input="other password\n")
    address = client.subscribe(topic_expression())
    intruder = Client(gateway.url, "mallory", "other password")
    with pytest.raises(zeep.exceptions.Fault) as info:
        intruder.pull(address)
    assert info.value.detail is not None and info.value.detail[0].tag.endswith("ResourceUnknownFault")
