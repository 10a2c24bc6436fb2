"""Every event-service and pull-point answer of a real gateway process validates against the official schemas:
capabilities, the event properties' topic descriptions, subscriptions with every filter, and pulls carrying
Initialized, Changed and Deleted events with every item."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from gateway.query.model import STRCMP0
from tests.conformance.schemas import assert_valid_as
from tests.conformance.wire import answer, fault_answer, items, messages, pull, subscribe
from tests.interop.conftest import CENTRE, PASSWORD, USER, Gateway, offset, run_cli, seeded, write_csv
from tests.interop.onvif_client import TEV, TT, WSNT, Client, location_filter, topic_expression, tt

pytestmark = pytest.mark.interop
A = "32010001071321008015:Profile_1"


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Client:
    return Client(gateway.url, USER, PASSWORD)


def test_service_capabilities(client: Client) -> None:
    body = answer(client, lambda: client.events.GetServiceCapabilities())
    assert body.tag == f"{{{TEV}}}GetServiceCapabilitiesResponse"


def test_event_properties_describe_every_item(client: Client) -> None:
    body = answer(client, lambda: client.events.GetEventProperties())
    assert body.tag == f"{{{TEV}}}GetEventPropertiesResponse"
    described = body.findall(f".//{{{TT}}}MessageDescription")
    assert described, "the TopicSet describes the Resource messages"
    for description in described:  # the TopicSet's lax wildcard lets them through unchecked otherwise
        assert_valid_as(description, f"{{{TT}}}MessageDescription")
        data = [item.get("Name") for item in description.find(f"{{{TT}}}Data")]
        assert data[-1] == "Location", data
    names = {item.get("Name") for d in described for item in d.iter(f"{{{TT}}}SimpleItemDescription",
                                                                    f"{{{TT}}}ElementItemDescription")}
    assert {"Token", "Name", "Location", "Scope", "Offline"} <= names


@pytest.mark.parametrize("filters", [
    pytest.param((), id="none"),
    pytest.param((topic_expression(),), id="topic"),
    pytest.param((topic_expression("tns1:Resource/MediaProfile"), location_filter(*CENTRE, 100.0)), id="location"),
    pytest.param((location_filter(*CENTRE, 100.0, include_unknown=True),), id="location-unknown"),
    pytest.param((tt("PrefixFilter", tt("Prefix", text="3201")),), id="prefix"),
    pytest.param((tt("ScopeFilter", tt("Scope", text="onvif://www.onvif.org/location/city/nanjing")),), id="scope"),
    pytest.param((tt("ScopeFilter", tt("Scope", text="onvif://www.onvif.org/name/Gate8",
                                       Match=STRCMP0)),), id="scope-match"),
    pytest.param((tt("SelectFilter", tt("Path", text="/Name"), tt("Path", text="/Location")),), id="select"),
])
def test_subscription_and_first_pull_with_each_filter(client: Client, filters: tuple[etree._Element, ...]) -> None:
    address = subscribe(client, *filters)
    pull(client, address, limit=50)


def test_initialized_events_carry_every_item_validly(client: Client) -> None:
    address = subscribe(client, topic_expression(), tt("PrefixFilter", tt("Prefix", text="32010001071321008015")),
                        tt("PrefixFilter", tt("Prefix", text="32010001071321008016")))
    found: list[etree._Element] = []
    while batch := messages(pull(client, address)):
        found.extend(batch)
    by_token = {m.find(f"{{{TT}}}Source/{{{TT}}}SimpleItem").get("Value"): m for m in found}
    gate8 = by_token[A]
    assert gate8.get("PropertyOperation") == "Initialized"
    assert items(gate8) == ["Name", "Scope", "Scope", "Scope", "Offline", "Location"]
    assert gate8.find(f".//{{{TT}}}GeoLocation").get("elevation") == "12.5"
    gate9 = by_token["32010001071321008016:Profile_1"]
    assert gate9.find(f".//{{{TT}}}GeoLocation").get("elevation") is None


def test_an_empty_pull_renew_sync_point_and_unsubscribe(client: Client) -> None:
    address = subscribe(client, tt("PrefixFilter", tt("Prefix", text="nowhere")))
    while messages(pull(client, address)):
        pass
    assert messages(pull(client, address)) == []
    manager = client.manager(address)
    assert answer(client, lambda: manager.Renew(TerminationTime="PT120S")).tag == f"{{{WSNT}}}RenewResponse"
    point = client.pull_point(address)
    assert answer(client, lambda: point.SetSynchronizationPoint()).tag == \
        f"{{{TEV}}}SetSynchronizationPointResponse"
    assert answer(client, lambda: manager.Unsubscribe()).tag == f"{{{WSNT}}}UnsubscribeResponse"
    fault = fault_answer(client, lambda: client.pull_point(address).PullMessages(Timeout="PT0S", MessageLimit=1))
    assert fault.find(".//{http://docs.oasis-open.org/wsrf/r-2}ResourceUnknownFault") is not None


@pytest.fixture
def own_gateway(city_rows: list[dict[str, str]], tmp_path: Path) -> Iterator[Gateway]:
    gw = seeded("sqlite", tmp_path, city_rows).start()
    yield gw
    gw.stop()


def test_changed_and_deleted_events_are_valid(own_gateway: Gateway, city_rows: list[dict[str, str]],
                                              tmp_path: Path) -> None:
    client = Client(own_gateway.url, USER, PASSWORD)
    address = subscribe(client, topic_expression("tns1:Resource/MediaProfile"), location_filter(*CENTRE, 100.0))
    while messages(pull(client, address)):
        pass
    rows = [dict(r) for r in city_rows]
    by_token = {r["token"]: r for r in rows}
    by_token[A].update(name="Gate 8 renamed", offline="true")
    lat, lon = offset(*CENTRE, 500, 0)
    by_token["cam-x:Profile_1"].update(lat=repr(lat), lon=repr(lon))
    result: list[etree._Element] = []
    waiting = threading.Thread(target=lambda: result.append(pull(client, address, "PT20S")))
    waiting.start()
    time.sleep(0.5)
    run_cli("catalog", "import", str(write_csv(tmp_path / "v2.csv", rows)), db=own_gateway.db)
    waiting.join()
    found = messages(result[0])
    while batch := messages(pull(client, address)):
        found.extend(batch)
    operations = {m.get("PropertyOperation") for m in found}
    assert {"Changed", "Deleted"} <= operations, operations
    changed = next(m for m in found if m.get("PropertyOperation") == "Changed")
    assert "Offline" in items(changed) and items(changed)[-1] == "Location"
