"""A leaf the city cannot reach uplinks to it (IEC 62676-2-33 clause 8), through real processes and the real CLI.

The city knows the leaf only as ``vmsgw segment add leaf --uplink-identity ...``
(no URL it could dial); the leaf knows the city only as ``vmsgw uplink set
https://localhost:PORT/uplink ...`` with trustme key material in its
keystore.  The city is queried with the official-WSDL zeep client, so the
whole path is what a user runs: connector, upgrade, TLS identity, the
listener's HTTP/2 client, federation over the link.  Variants: mTLS over
native h2c-reverse, an access token over native, an access token over
WebSocket.  Convergence is waited for with deadlines, never fixed sleeps.
"""
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.interop.conftest import PASSWORD, USER, Gateway, run_cli, seeded
from tests.interop.onvif_client import Client, topic_expression
from tests.interop.test_federation import View, free_port, leaf_rows

pytestmark = pytest.mark.interop

HEARTBEAT = "2"
#: Heartbeat + the sync's grace + one supervisor interval + a city pull: when a stopped leaf must show.
OFFLINE_DEADLINE = 2 + 5 + 2 + 3
#: The connector's first backoff (up to 5 s) + its 2 s re-read + a sync: when an uplinked leaf must show.
CONNECT_DEADLINE = 45
TOKEN = "leaf-token.3f9a_c2~e"


@dataclass
class Uplinked:
    leaf: Gateway
    city: Gateway
    tokens: set[str]


def _pki(tmp: Path) -> dict[str, Path]:
    ca = trustme.CA()
    files = {name: tmp / f"{name}.pem" for name in ("ca", "server", "leaf-cert", "leaf-key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(files["server"]))
    leaf = ca.issue_cert("leaf-cn", common_name="leaf-cn")
    leaf.cert_chain_pems[0].write_to_path(str(files["leaf-cert"]))
    leaf.private_key_pem.write_to_path(str(files["leaf-key"]))
    return files


@pytest.fixture(params=["mtls-https", "token-https", "token-wss"])
def uplinked(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Uplinked]:
    """The city (on each tested backend) listening for uplinks; the leaf (SQLite) uplinked to it."""
    mode, scheme = str(request.param).split("-")
    pem = _pki(tmp_path)
    uplink_port = free_port()
    (tmp_path / "leaf").mkdir()
    (tmp_path / "city").mkdir()

    city = seeded(backend, tmp_path / "city", [])
    if mode == "mtls":
        run_cli("segment", "add", "leaf", "--uplink-identity", "leaf-cn", "--heartbeat", HEARTBEAT, db=city.db)
    else:
        run_cli("segment", "add", "leaf", "--uplink-token-stdin", "--heartbeat", HEARTBEAT, db=city.db,
                input=TOKEN + "\n")
    city.start("--uplink-listen", f"127.0.0.1:{uplink_port}", "--uplink-cert", str(pem["server"]),
               "--uplink-key", str(pem["server"]), "--uplink-ca", str(pem["ca"]))

    rows = leaf_rows(1)
    leaf = seeded("sqlite", tmp_path / "leaf", rows)
    run_cli("uplink", "key", "add", "city-ca", "--ca", str(pem["ca"]), db=leaf.db)
    if mode == "mtls":
        run_cli("uplink", "key", "add", "leaf-cert", "--cert", str(pem["leaf-cert"]), "--key", str(pem["leaf-key"]),
                db=leaf.db)
        credential = ["--cert-id", "leaf-cert"]
    else:
        run_cli("uplink", "key", "add", "leaf-token", "--token-stdin", db=leaf.db, input=TOKEN + "\n")
        credential = ["--token-id", "leaf-token"]
    run_cli("uplink", "set", f"{scheme}://localhost:{uplink_port}/uplink", "--level", "operator", *credential,
            "--ca-id", "city-ca", db=leaf.db)
    leaf.start()
    try:
        yield Uplinked(leaf=leaf, city=city, tokens={r["token"] for r in rows})
    finally:
        for gw in (leaf, city):
            if gw.proc is not None and gw.proc.poll() is None:
                os.kill(gw.proc.pid, signal.SIGCONT)  # a stopped process cannot honour SIGTERM
            gw.stop()


def city_view(u: Uplinked) -> View:
    client = Client(u.city.url, USER, PASSWORD)
    return View(client, client.subscribe(topic_expression(), termination="PT10M"))


def test_the_city_serves_the_uplinked_leaf_and_follows_its_health(uplinked: Uplinked) -> None:
    u = uplinked
    view = city_view(u)
    took = view.wait(lambda s: u.tokens <= set(s) and all(s[t].offline == "false" for t in u.tokens),
                     CONNECT_DEADLINE, "every leaf resource online at the city, through the uplink")
    print(f"leaf resources at the city {took:.1f} s after subscribing")
    status = json.loads(run_cli("uplink", "list", "--json", db=u.leaf.db).stdout)
    assert [s["status"] for s in status] == ["Connected"], status
    [segment] = json.loads(run_cli("segment", "status", "--json", db=u.city.db).stdout)
    assert (segment["name"], segment["state"], segment["resources"]) == ("leaf", "up", len(u.tokens))

    assert u.leaf.proc is not None
    os.kill(u.leaf.proc.pid, signal.SIGSTOP)  # alive but silent: the link stays open, nothing answers
    try:
        took = view.wait(lambda s: all(s[t].offline == "true" for t in u.tokens), OFFLINE_DEADLINE,
                         "the stopped leaf's resources Offline at the city")
        print(f"leaf offline at the city after {took:.1f} s")
    finally:
        os.kill(u.leaf.proc.pid, signal.SIGCONT)
    took = view.wait(lambda s: all(s[t].offline == "false" for t in u.tokens), CONNECT_DEADLINE,
                     "the resumed leaf's resources online again")
    print(f"leaf back online at the city after {took:.1f} s")
    assert set(view.state) == u.tokens  # same tokens, nothing duplicated


def test_a_wrong_credential_is_refused_and_reported_at_the_leaf(uplinked: Uplinked) -> None:
    u = uplinked
    view = city_view(u)
    view.wait(lambda s: u.tokens <= set(s), CONNECT_DEADLINE, "the leaf at the city")
    # The city forgets the leaf's identity: the leaf's next connection is refused, and it says so.
    run_cli("segment", "add", "leaf", "--uplink-identity", "someone-else", "--heartbeat", HEARTBEAT, "--update",
            db=u.city.db)
    u.leaf.stop()  # its current link was authenticated before; a restart reconnects
    u.leaf.start()
    deadline = time.monotonic() + CONNECT_DEADLINE
    while True:
        [status] = json.loads(run_cli("uplink", "list", "--json", db=u.leaf.db).stdout)
        if status["error"] and ("401" in status["error"] or "403" in status["error"]):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert "refused" in (u.city.log.read_text())
    view.wait(lambda s: all(s[t].offline == "true" for t in u.tokens), OFFLINE_DEADLINE + 10,
              "the refused leaf's resources Offline at the city")
