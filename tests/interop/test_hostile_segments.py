"""Hostile segments behind a real district gateway: bad data is refused, nothing else is disturbed (issue 3)."""
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import PASSWORD, USER, Gateway, run_cli, seeded
from tests.interop.fake_segment import FakeSegment, flood, message, pull_response
from tests.interop.onvif_client import Client, topic_expression, tt
from tests.interop.test_federation import HEARTBEAT, add_segment, free_port, leaf_rows

pytestmark = pytest.mark.interop

SCRIPTS = {
    "truncated": lambda n: pull_response(message("trunc:1"))[:-60],
    "wrong-namespace": lambda n: pull_response(message("wrongns:1")).replace(
        b"http://www.w3.org/2003/05/soap-envelope", b"urn:not-soap"),
    "long-token": lambda n: pull_response(message("good:1") + message("p:" + "x" * 63)) if n == 1 else pull_response(""),
    "silent": lambda n: None,
    "flood": lambda n: flood(),
}


@pytest.fixture
def district(tmp_path: Path) -> Iterator[tuple[Gateway, Gateway, dict[str, FakeSegment]]]:
    (tmp_path / "leaf").mkdir()
    (tmp_path / "district").mkdir()
    leaf = seeded("sqlite", tmp_path / "leaf", leaf_rows(1)).start()
    gw = seeded("sqlite", tmp_path / "district", [])
    add_segment(gw, "leaf", leaf)
    fakes = {name: FakeSegment(script) for name, script in SCRIPTS.items()}
    for name, fake in fakes.items():
        run_cli("segment", "add", name, "--url", fake.url, "--user", "u", "--heartbeat", HEARTBEAT,
                db=gw.db, input="p\n")
    gw.start(port=free_port())
    try:
        yield gw, leaf, fakes
    finally:
        gw.stop()
        leaf.stop()
        for fake in fakes.values():
            fake.close()


def status(gw: Gateway) -> dict[str, dict]:
    return {s["name"]: s for s in json.loads(run_cli("segment", "status", "--json", db=gw.db).stdout)}


def test_hostile_segments_are_contained(district: tuple[Gateway, Gateway, dict[str, FakeSegment]]) -> None:
    gw, _, fakes = district
    deadline = time.monotonic() + 30
    while True:
        st = status(gw)
        settled = (st["leaf"]["state"] == "up" and st["leaf"]["resources"] == 20
                   and all(st[n]["state"] == "down" for n in ("truncated", "wrong-namespace", "flood"))
                   and st["long-token"]["rejected"] >= 1 and fakes["flood"].pulls >= 1)
        if settled:
            break
        assert time.monotonic() < deadline, st
        time.sleep(0.5)
    # Good items of a partly bad segment are kept, bad ones are not.
    assert st["long-token"]["resources"] == 1 and st["long-token"]["state"] == "up"
    assert all(st[n]["resources"] == 0 for n in ("truncated", "wrong-namespace", "flood", "silent"))
    assert "reply larger than" in st["flood"]["last_error"]

    # Queries at the district stay fast and correct while the silent segment hangs and the others fail.
    client = Client(gw.url, USER, PASSWORD)
    started = time.monotonic()
    token = leaf_rows(1)[0]["token"]
    got = client.drain(client.subscribe(topic_expression(), tt("PrefixFilter", tt("Prefix", text=token.split(":")[0]))))
    assert time.monotonic() - started < 1.0
    assert [e.token for e in got] == [token]


def test_a_hung_segment_is_down_within_its_heartbeat_deadline(tmp_path: Path) -> None:
    (tmp_path / "leaf").mkdir()
    (tmp_path / "district").mkdir()
    leaf = seeded("sqlite", tmp_path / "leaf", leaf_rows(1)).start()
    gw = seeded("sqlite", tmp_path / "district", [])
    add_segment(gw, "leaf", leaf)
    gw.start()
    try:
        client = Client(gw.url, USER, PASSWORD)
        address = client.subscribe(topic_expression(), termination="PT10M")
        state: dict[str, str | None] = {}
        deadline = time.monotonic() + 30
        while len(state) < 20 or set(state.values()) != {"false"}:
            assert time.monotonic() < deadline, state
            state.update({e.token: e.offline for e in client.pull(address, "PT1S")})
        os.kill(leaf.proc.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        stopped = time.monotonic()
        while set(state.values()) != {"true"}:
            assert time.monotonic() - stopped < 2 + 5 + 3, state  # heartbeat + grace + a pull
            state.update({e.token: e.offline for e in client.pull(address, "PT1S")})
        print(f"hung leaf offline after {time.monotonic() - stopped:.1f} s")
        os.kill(leaf.proc.pid, signal.SIGCONT)  # type: ignore[union-attr]
        resumed = time.monotonic()
        while set(state.values()) != {"false"}:
            assert time.monotonic() - resumed < 30, state
            state.update({e.token: e.offline for e in client.pull(address, "PT1S")})
        assert len(state) == 20
    finally:
        gw.stop()
        leaf.stop()
