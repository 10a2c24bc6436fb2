"""Federation through real processes: three leaves under a district under a city (issue 3).

Segments are configured with the real CLI (`vmsgw segment add`), and the city
is queried with the official-WSDL zeep client, so everything a user would do
is on the path.  Convergence is waited for with a deadline, never a fixed sleep.
"""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop.conftest import CENTRE, PASSWORD, USER, Gateway, offset, run_cli, seeded, write_csv
from tests.interop.expect import tokens, within
from tests.interop.onvif_client import Client, Event, location_filter, topic_expression

pytestmark = pytest.mark.interop

HEARTBEAT = "2"
#: Heartbeat + the sync's grace + one supervisor interval + a city pull: when a dead leaf must show.
OFFLINE_DEADLINE = 2 + 5 + 2 + 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def leaf_rows(n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(20):
        lat, lon = offset(*CENTRE, 40 * i - 400, 30 * n)
        rows.append({"token": f"3201000{n}071320{i:07d}:Profile_1", "kind": "MediaProfile", "name": f"leaf{n} cam {i}",
                     "lat": repr(lat), "lon": repr(lon), "elevation": "", "offline": "false",
                     "scopes": f"onvif://www.onvif.org/location/district/d{n}"})
    if n in (2, 3):  # the same device prefix in two independent systems
        rows.append({"token": "dup:Profile_1", "kind": "MediaProfile", "name": f"duplicate in leaf{n}",
                     "lat": repr(CENTRE[0]), "lon": repr(CENTRE[1]), "elevation": "", "offline": "", "scopes": ""})
    return rows


@dataclass
class Hierarchy:
    leaves: list[Gateway]
    ports: list[int]
    rows: list[list[dict[str, str]]]
    district: Gateway
    city: Gateway


def add_segment(upper: Gateway, name: str, lower: Gateway) -> None:
    run_cli("segment", "add", name, "--url", lower.url, "--user", USER, "--heartbeat", HEARTBEAT,
            db=upper.db, input=PASSWORD + "\n")


@pytest.fixture
def hierarchy(backend: str, tmp_path: Path) -> Iterator[Hierarchy]:
    """Leaves on SQLite; the district and the city on each tested backend."""
    rows = [leaf_rows(n) for n in (1, 2, 3)]
    ports = [free_port() for _ in rows]
    leaves = []
    for n, (leaf_data, port) in enumerate(zip(rows, ports, strict=True), 1):
        (tmp_path / f"leaf{n}").mkdir()
        leaves.append(seeded("sqlite", tmp_path / f"leaf{n}", leaf_data).start(port=port))
    (tmp_path / "district").mkdir()
    (tmp_path / "city").mkdir()
    district = seeded(backend, tmp_path / "district", [])
    for n, leaf in enumerate(leaves, 1):
        add_segment(district, f"leaf{n}", leaf)
    district.start(port=free_port())
    city = seeded(backend, tmp_path / "city", [])
    add_segment(city, "district", district)
    city.start()
    h = Hierarchy(leaves=leaves, ports=ports, rows=rows, district=district, city=city)
    try:
        yield h
    finally:
        for gw in [city, district, *leaves]:
            gw.stop()


class View:
    """The state a client holds after applying every event of one subscription."""

    def __init__(self, client: Client, address: str) -> None:
        self.client, self.address, self.state = client, address, {}

    def apply(self, events: list[Event]) -> list[Event]:
        for e in events:
            if e.operation == "Deleted":
                self.state.pop(e.token, None)
            else:
                self.state[e.token] = e
        return events

    def wait(self, done: Callable[[dict[str, Event]], bool], deadline: float, what: str) -> float:
        started = time.monotonic()
        while not done(self.state):
            if time.monotonic() - started > deadline:
                raise AssertionError(f"not within {deadline} s: {what}; have {len(self.state)} resources")
            self.apply(self.client.pull(self.address, "PT1S"))
        return time.monotonic() - started


def city_view(h: Hierarchy, *filters) -> View:  # type: ignore[no-untyped-def]
    client = Client(h.city.url, USER, PASSWORD)
    address = client.subscribe(topic_expression(), *filters, termination="PT10M")
    return View(client, address)


def leaf_tokens(h: Hierarchy) -> set[str]:
    return {r["token"] for rows in h.rows for r in rows}


def test_the_city_answers_for_every_leaf_and_follows_their_changes(hierarchy: Hierarchy, tmp_path: Path) -> None:
    h = hierarchy
    view = city_view(h)
    expected_count = sum(len(r) for r in h.rows)
    view.wait(lambda s: len(s) == expected_count, 30, "every leaf resource at the city")
    got = set(view.state)
    # Unique prefixes keep their tokens; the duplicated device prefix survives twice, once remapped.
    assert leaf_tokens(h) - {"dup:Profile_1"} <= got
    dups = sorted(t for t in got if t.startswith("dup"))
    assert len(dups) == 2 and "dup:Profile_1" in dups
    assert {view.state[t].name for t in dups} == {"duplicate in leaf2", "duplicate in leaf3"}

    # A location query at the city is the union of the leaves' matches.
    client = Client(h.city.url, USER, PASSWORD)
    near = client.drain(client.subscribe(topic_expression(), location_filter(*CENTRE, 150.0)))
    expected = set().union(*(tokens(rows, lambda r: within(r, *CENTRE, 150.0)) for rows in h.rows)) - {"dup:Profile_1"}
    got_near = {e.token for e in near}
    assert expected <= got_near and len(got_near) == len(expected) + 2

    # Moving, adding and deleting cameras at a leaf reaches the open city subscription.
    rows = [dict(r) for r in h.rows[0]]
    moved, removed = rows[0]["token"], rows[1]["token"]
    rows[0]["lat"] = repr(float(rows[0]["lat"]) + 0.01)
    del rows[1]
    rows.append({**rows[2], "token": "32010001071329999999:Profile_1", "name": "brand new"})
    run_cli("catalog", "import", str(write_csv(tmp_path / "leaf1-v2.csv", rows)), db=h.leaves[0].db)
    seen: list[Event] = []
    started = time.monotonic()
    while {(e.operation, e.token) for e in seen} < {("Changed", moved), ("Deleted", removed),
                                                  ("Initialized", "32010001071329999999:Profile_1")}:
        assert time.monotonic() - started < 10, seen
        seen += view.apply(view.client.pull(view.address, "PT1S"))
    assert time.monotonic() - started < 5  # two levels, in seconds not minutes


def test_a_dead_leaf_goes_offline_and_comes_back_with_the_same_tokens(hierarchy: Hierarchy) -> None:
    h = hierarchy
    view = city_view(h)
    total = sum(len(r) for r in h.rows)
    view.wait(lambda s: len(s) == total, 30, "every leaf resource at the city")
    before = dict(view.state)
    leaf2 = {r["token"] for r in h.rows[1]} - {"dup:Profile_1"}
    assert {view.state[t].offline for t in leaf2} == {"false"}, {t: view.state[t].offline for t in leaf2}

    h.leaves[1].proc.kill()  # type: ignore[union-attr]
    h.leaves[1].proc.wait()  # type: ignore[union-attr]
    h.leaves[1].proc = None
    took = view.wait(lambda s: all(s[t].offline == "true" for t in leaf2), OFFLINE_DEADLINE, "leaf2 offline")
    others = {r["token"] for r in h.rows[0]}
    assert all(view.state[t].offline == "false" for t in others)
    print(f"leaf2 offline at the city after {took:.1f} s")

    h.leaves[1].start(port=h.ports[1])
    view.wait(lambda s: all(s[t].offline == "false" for t in leaf2), 30, "leaf2 back online")
    assert set(view.state) == set(before)  # same tokens, no duplicates


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="lists child processes through /proc")
def test_restarting_the_district_loses_nothing(hierarchy: Hierarchy) -> None:
    h = hierarchy
    view = city_view(h)
    total = sum(len(r) for r in h.rows)
    view.wait(lambda s: len(s) == total, 30, "every leaf resource at the city")
    before = {t: (e.name, e.location) for t, e in view.state.items()}
    parsers = h.district.children()
    assert parsers  # the district reads its segments' replies in worker processes ...
    assert h.district.stop() == 0
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in parsers):  # ... that end with it
        assert time.monotonic() < deadline, "reply parsers outlived their gateway"
        time.sleep(0.05)
    h.district.start(port=int(h.district.url.split(":")[2].split("/")[0]))
    fresh = city_view(h)
    fresh.wait(lambda s: len(s) == total, 30, "city complete after the district restart")
    assert {t: (e.name, e.location) for t, e in fresh.state.items()} == before


def test_segment_status_reports_health_and_the_prefix_collision(hierarchy: Hierarchy) -> None:
    h = hierarchy
    deadline = time.monotonic() + 30
    while True:
        status = json.loads(run_cli("segment", "status", "--json", db=h.district.db).stdout)
        if all(s["state"] == "up" and s["resources"] == len(rows) for s, rows in zip(status, h.rows, strict=False)):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    by_name = {s["name"]: s for s in status}
    assert set(by_name) == {"leaf1", "leaf2", "leaf3"}
    assert any(s["remapped_prefixes"] for s in status)
    assert all(s["last_seen"] for s in status)
