"""Live checks, change propagation and restart survival against a real gateway process."""
from __future__ import annotations

import threading
import time

import pytest
import zeep.exceptions

from tests.interop.conftest import CENTRE, PASSWORD, USER, Gateway, offset, run_cli, write_csv
from tests.interop.onvif_client import Client, location_filter, topic_expression, tt

pytestmark = pytest.mark.interop


def test_empty_pull_answers_exactly_at_the_timeout_never_earlier(gateway: Gateway) -> None:
    client = Client(gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression(), tt("PrefixFilter", tt("Prefix", text="nowhere")))
    assert len(client.drain(address)) == 1
    for timeout in (1.0, 2.5):
        started = time.monotonic()
        assert client.pull(address, f"PT{timeout}S") == []
        elapsed = time.monotonic() - started
        assert timeout <= elapsed < timeout + 0.5, elapsed


def test_pending_messages_are_answered_at_once(gateway: Gateway) -> None:
    client = Client(gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression())
    started = time.monotonic()
    assert client.pull(address, "PT30S", 5)
    assert time.monotonic() - started < 2.0


def test_timeout_above_the_maximum_is_a_pull_messages_fault(gateway: Gateway) -> None:
    client = Client(gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression())
    with pytest.raises(zeep.exceptions.Fault) as info:
        client.pull(address, "PT1H")
    detail = info.value.detail
    assert detail is not None and detail[0].tag == "{http://www.onvif.org/ver10/events/wsdl}PullMessagesFaultResponse"
    assert {child.tag.split("}")[1] for child in detail[0]} == {"MaxTimeout", "MaxMessageLimit"}


def test_concurrent_pull_on_one_subscription_is_refused(gateway: Gateway) -> None:
    client, other = Client(gateway.url, USER, PASSWORD), Client(gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression(), tt("PrefixFilter", tt("Prefix", text="nowhere")))
    client.drain(address)
    waiting = threading.Thread(target=client.pull, args=(address, "PT3S"))
    waiting.start()
    time.sleep(0.5)  # let the first pull reach its wait
    with pytest.raises(zeep.exceptions.Fault) as info:
        other.pull(address, "PT1S")
    waiting.join()
    assert info.value.detail is not None and info.value.detail[0].tag.endswith("UnableToGetMessagesFault")


def test_catalog_changes_reach_an_open_pull_point(fresh_gateway: Gateway, city_rows: list, tmp_path) -> None:
    client = Client(fresh_gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression("tns1:Resource/MediaProfile"), location_filter(*CENTRE, 100.0),
                               tt("SelectFilter", tt("Path", text="/Name"), tt("Path", text="/Location")))
    before = {e.token for e in client.drain(address)}
    assert "32010001071321008015:Profile_1" in before and "cam-x:Profile_1" in before

    rows = [dict(r) for r in city_rows]
    by_token = {r["token"]: r for r in rows}
    by_token["32010001071321008015:Profile_1"]["name"] = "Gate 8 renamed"        # stays inside: Changed
    by_token["32010001071321008015:Profile_2"]["offline"] = "true"               # projected away: nothing
    lat, lon = offset(*CENTRE, 500, 0)
    by_token["cam-x:Profile_1"].update(lat=repr(lat), lon=repr(lon))             # leaves: Deleted
    lat, lon = offset(*CENTRE, -20, 0)
    by_token["cam-y:Profile_1"].update(lat=repr(lat), lon=repr(lon))             # enters: Initialized
    rows.append({"token": "new-cam:Profile_1", "kind": "MediaProfile", "name": "New", "lat": repr(CENTRE[0]),
                 "lon": repr(CENTRE[1]), "elevation": "", "scopes": "", "offline": ""})  # added: Initialized

    result: list = []
    waiting = threading.Thread(target=lambda: result.append((client.pull(address, "PT20S"), time.monotonic())))
    waiting.start()
    time.sleep(0.5)
    run_cli("catalog", "import", str(write_csv(tmp_path / "v2.csv", rows)), db=fresh_gateway.db)
    imported = time.monotonic()
    waiting.join()
    events, answered = result[0]
    assert answered - imported < 2.0  # woken by the other process's commit, not by the timeout
    events += client.drain(address)
    got = {(e.operation, e.token) for e in events}
    assert got == {
        ("Changed", "32010001071321008015:Profile_1"),
        ("Deleted", "cam-x:Profile_1"),
        ("Initialized", "cam-y:Profile_1"),
        ("Initialized", "new-cam:Profile_1"),
    }
    renamed = next(e for e in events if e.operation == "Changed")
    assert renamed.name == "Gate 8 renamed" and renamed.location is not None and renamed.offline is None


def test_pull_points_and_their_position_survive_a_restart(fresh_gateway: Gateway, city_rows: list) -> None:
    client = Client(fresh_gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression(), termination="PT10M")
    first = client.pull(address, "PT0S", 100)
    assert len(first) == 100
    assert fresh_gateway.stop() == 0  # graceful shutdown
    fresh_gateway.start()
    address = address.replace(address.split("/onvif/")[0], fresh_gateway.base)  # same path, new port
    rest = Client(fresh_gateway.url, USER, PASSWORD).drain(address)
    tokens = [e.token for e in first + rest]
    assert sorted(tokens) == sorted(r["token"] for r in city_rows)  # nothing lost, nothing twice


def test_shutdown_releases_a_waiting_pull_with_an_empty_answer(fresh_gateway: Gateway) -> None:
    client = Client(fresh_gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression(), tt("PrefixFilter", tt("Prefix", text="nowhere")))
    client.drain(address)
    result: list = []
    waiting = threading.Thread(target=lambda: result.append(client.pull(address, "PT60S")))
    waiting.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert fresh_gateway.stop() == 0
    waiting.join(10)
    assert result == [[]] and time.monotonic() - started < 5.0


def test_renew_during_a_waiting_pull_is_kept(gateway: Gateway) -> None:
    client, other = Client(gateway.url, USER, PASSWORD), Client(gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression(), tt("PrefixFilter", tt("Prefix", text="nowhere")))
    client.drain(address)
    waiting = threading.Thread(target=client.pull, args=(address, "PT2S"))
    waiting.start()
    time.sleep(0.5)
    renewed = other.manager(address).Renew(TerminationTime="PT1H")
    waiting.join()
    after = client.pull_point(address).PullMessages(Timeout="PT0S", MessageLimit=1)
    assert after.TerminationTime >= renewed.TerminationTime  # the pull did not shorten the renewal


def test_synchronization_point_during_a_waiting_pull_is_kept(gateway: Gateway) -> None:
    client, other = Client(gateway.url, USER, PASSWORD), Client(gateway.url, USER, PASSWORD)
    address = client.subscribe(topic_expression(), tt("PrefixFilter", tt("Prefix", text="nowhere")))
    client.drain(address)
    waiting = threading.Thread(target=client.pull, args=(address, "PT3S"))
    waiting.start()
    time.sleep(0.5)
    other.pull_point(address).SetSynchronizationPoint()
    waiting.join()
    # The waiting pull ran on its old cursor; the reset it would have overwritten takes effect after it.
    assert [(e.operation, e.token) for e in client.drain(address)] == [("Initialized", "nowhere:Profile_1")]
