"""Events a district gateway forwards from its segments are re-emitted schema-valid: from a real leaf gateway,
and from a segment that still writes the items in the old, invalid order (the Location ElementItem between
the SimpleItems), whose Scope and Offline items must survive the reordering."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from lxml import etree

from tests.conformance.wire import items, messages, pull, subscribe
from tests.interop.conftest import PASSWORD, USER, Gateway, fixture_rows, run_cli, seeded
from tests.interop.fake_segment import FakeSegment, pull_response
from tests.interop.onvif_client import TT, Client, topic_expression
from tests.interop.test_federation import HEARTBEAT, add_segment, free_port

pytestmark = pytest.mark.interop
OLD_ORDER_TOKEN = "oldorder:Profile_1"


def old_order_message(token: str) -> str:
    """A resource event as the gateway used to write it: Name, Location, Scope..., Offline."""
    return ('<wsnt:NotificationMessage>'
            '<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
            'tns1:Resource/MediaProfile</wsnt:Topic><wsnt:Message>'
            '<tt:Message UtcTime="2026-01-01T00:00:00Z" PropertyOperation="Initialized"><tt:Source>'
            f'<tt:SimpleItem Name="Token" Value="{token}"/></tt:Source><tt:Data>'
            '<tt:SimpleItem Name="Name" Value="Old order"/>'
            '<tt:ElementItem Name="Location"><tt:GeoLocation lon="118.79" lat="32.06" elevation="7.5"/>'
            '</tt:ElementItem>'
            '<tt:SimpleItem Name="Scope" Value="onvif://www.onvif.org/name/Old"/>'
            '<tt:SimpleItem Name="Scope" Value="onvif://www.onvif.org/location/city/nanjing"/>'
            '<tt:SimpleItem Name="Offline" Value="true"/>'
            "</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>")


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("federation")
    (tmp / "leaf").mkdir()
    (tmp / "district").mkdir()
    leaf = seeded("sqlite", tmp / "leaf", fixture_rows(extra=0)).start()
    old = FakeSegment(lambda n: pull_response(old_order_message(OLD_ORDER_TOKEN) if n == 1 else ""))
    gw = seeded("sqlite", tmp / "district", [])
    add_segment(gw, "leaf", leaf)
    run_cli("segment", "add", "old", "--url", old.url, "--user", "u", "--heartbeat", HEARTBEAT, db=gw.db,
            input="p\n")
    gw.start(port=free_port())
    try:
        deadline = time.monotonic() + 30
        while True:
            st = {s["name"]: s for s in json.loads(run_cli("segment", "status", "--json", db=gw.db).stdout)}
            if st["leaf"]["resources"] == len(fixture_rows(extra=0)) and st["old"]["resources"] == 1:
                break
            assert time.monotonic() < deadline, st
            time.sleep(0.5)
        yield gw
    finally:
        gw.stop()
        leaf.stop()
        old.close()


def test_forwarded_events_are_schema_valid_with_every_item(district: Gateway) -> None:
    client = Client(district.url, USER, PASSWORD)
    address = subscribe(client, topic_expression())
    found: list[etree._Element] = []
    while batch := messages(pull(client, address)):  # each reply validated as it arrives
        found.extend(batch)
    assert len(found) == len(fixture_rows(extra=0)) + 1

    def source(m: etree._Element) -> str:
        return str(m.find(f"{{{TT}}}Source/{{{TT}}}SimpleItem").get("Value"))

    [old] = [m for m in found if source(m).endswith(OLD_ORDER_TOKEN)]
    assert items(old) == ["Name", "Scope", "Scope", "Offline", "Location"]
    assert old.find(f".//{{{TT}}}GeoLocation").get("elevation") == "7.5"
    [gate8] = [m for m in found if source(m).endswith("32010001071321008015:Profile_1")]
    assert items(gate8) == ["Name", "Scope", "Scope", "Scope", "Offline", "Location"]
