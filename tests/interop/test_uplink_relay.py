"""A device behind a plain third-party relay, reached through the city's uplink listener: real processes, real sockets.

The relay is what deployed ones do: it opens TLS to the city, writes its
upgrade request line with a lower-case ``http/1.1``, authenticates with a
bearer token, and then forwards every HTTP/2 request it is sent, unchanged,
to the device behind it over plain HTTP.  The device is a vmsgw leaf that
authenticates each request itself (nothing grants the relay's requests a
level), so the city must send the device's login as WS-UsernameToken through
the uplink: without one, and with a wrong password, the leaf's answer is
NotAuthorized and the segment is down; with the right one it syncs.
Convergence is waited for with deadlines, never fixed sleeps.
"""
from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.uplink.connecting.h2server import H2Server
from gateway.uplink.shared.stream import AsyncioStream
from tests.interop.conftest import PASSWORD, USER, Gateway, run_cli, seeded
from tests.interop.test_federation import free_port, leaf_rows
from tests.interop.test_uplink import _pki

pytestmark = pytest.mark.interop

TOKEN = "relay-token.7Qx"
HEARTBEAT = "2"
#: The relay connects at once; a sync (and its restart after a configuration change) takes a few seconds,
#: more on a loaded machine.
DEADLINE = 60.0
#: The upgrade request as the widely copied relay writes it.
UPGRADE = (f"GET /uplink http/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: h2c-reverse\r\n"
           f"Authorization: Bearer {TOKEN}\r\n\r\n").encode()


class Relay(threading.Thread):
    """The relay, on its own event loop: an uplink to the city, every request forwarded to ``device``.

    Like deployed relays it connects again, after half a second, whenever its uplink ends.
    """

    def __init__(self, uplink_port: int, ca: Path, device: str) -> None:
        super().__init__(daemon=True)
        self.uplink_port, self.ca, self.device = uplink_port, ca, device
        self.response = b""  # the city's answer to the latest upgrade
        self.connections = 0  # upgrades the city accepted
        self.history: list[str] = []  # how each connection ended, for the test's messages
        self.forwarded = 0
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc
        finally:
            self._ready.set()

    def stop(self) -> None:
        self._ready.wait(10)
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(10)

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        context = ssl.create_default_context(cafile=str(self.ca))
        async with httpx.AsyncClient(timeout=30) as device:
            while not self._stopping.is_set():
                try:
                    self.history.append(await self._connection(context, device, self._stopping))
                except (OSError, TimeoutError) as exc:
                    self.history.append(f"{type(exc).__name__}: {exc}")
                self._ready.set()
                try:
                    await asyncio.wait_for(self._stopping.wait(), 0.5)
                except TimeoutError:
                    pass

    async def _connection(self, context: ssl.SSLContext, device: httpx.AsyncClient, stopping: asyncio.Event) -> str:
        """One uplink, served until it ends or the relay stops; how it ended."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.uplink_port, ssl=context,
                                                       server_hostname="localhost")
        try:
            writer.write(UPGRADE)
            received = b""
            while b"\r\n\r\n" not in received and (chunk := await asyncio.wait_for(reader.read(65536), 10)):
                received += chunk
            self.response, _, rest = received.partition(b"\r\n\r\n")
            self._ready.set()
            if not self.response.startswith(b"HTTP/1.1 101 "):
                return f"refused: {self.response!r}"
            self.connections += 1
            server = H2Server(self._forwarder(device), AsyncioStream(reader, writer, pending=rest), extensions={})
            serving, stopped = asyncio.create_task(server.serve()), asyncio.create_task(stopping.wait())
            await asyncio.wait([serving, stopped], return_when=asyncio.FIRST_COMPLETED)
            for task in (serving, stopped):
                task.cancel()
            [outcome] = await asyncio.gather(serving, return_exceptions=True)
            return f"link ended: {outcome!r}"
        finally:
            writer.close()

    def _forwarder(self, device: httpx.AsyncClient) -> Callable[..., Any]:
        async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            keep = {b"host", b"content-type"}
            headers = [(n, v) for n, v in scope["headers"] if n in keep]
            query = b"?" + scope["query_string"] if scope["query_string"] else b""
            reply = await device.request(scope["method"], self.device + (scope["raw_path"] + query).decode(),
                                         headers=headers, content=body)
            self.forwarded += 1
            await send({"type": "http.response.start", "status": reply.status_code,
                        "headers": [(b"content-type", reply.headers.get("content-type", "text/plain").encode())]})
            await send({"type": "http.response.body", "body": reply.content})

        return app


@dataclass
class Relayed:
    city: Gateway
    leaf: Gateway
    relay: Relay
    tokens: set[str]


@pytest.fixture
def relayed(tmp_path: Path) -> Iterator[Relayed]:
    """The city listening for uplinks, the leaf (user ``USER``) behind the relay, the relay connected."""
    pem = _pki(tmp_path)
    (tmp_path / "leaf").mkdir()
    (tmp_path / "city").mkdir()
    rows = leaf_rows(1)
    leaf = seeded("sqlite", tmp_path / "leaf", rows).start()
    city = seeded("sqlite", tmp_path / "city", [])
    run_cli("segment", "add", "leaf", "--uplink-token-stdin", "--heartbeat", HEARTBEAT, db=city.db,
            input=TOKEN + "\n")
    uplink_port = free_port()
    city.start("--uplink-listen", f"127.0.0.1:{uplink_port}", "--uplink-cert", str(pem["server"]),
               "--uplink-key", str(pem["server"]))
    relay = Relay(uplink_port, pem["ca"], leaf.base)
    relay.start()
    try:
        yield Relayed(city=city, leaf=leaf, relay=relay, tokens={r["token"] for r in rows})
    finally:
        relay.stop()
        city.stop()
        leaf.stop()


def wait_status(r: Relayed, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        [status] = json.loads(run_cli("segment", "status", "--json", db=r.city.db).stdout)
        if done(status):
            return dict(status)
        assert r.relay.error is None, r.relay.error
        assert time.monotonic() < deadline, f"{what}: {status}; relay connections: {r.relay.history}"
        time.sleep(0.3)


def test_the_city_logs_in_to_a_device_behind_a_plain_relay_through_the_uplink(relayed: Relayed) -> None:
    r = relayed
    # No login: the device refuses what the relay forwards, and says why.
    status = wait_status(r, lambda s: "NotAuthorized" in (s["last_error"] or ""), "refused without a login")
    assert status["state"] in ("new", "down") and status["resources"] == 0
    assert r.relay.response.startswith(b"HTTP/1.1 101 "), r.relay.response
    assert r.relay.forwarded > 0  # it did reach the device, through the uplink and the relay

    # A wrong password: refused by the device's own verification.
    run_cli("segment", "add", "leaf", "--uplink-token-stdin", "--user", USER, "--heartbeat", HEARTBEAT, "--update",
            db=r.city.db, input=f"{TOKEN}\nnot the password\n")
    status = wait_status(r, lambda s: "authentication failed" in (s["last_error"] or ""), "a wrong password refused")
    assert "NotAuthorized" in status["last_error"] and status["resources"] == 0

    # The right one: the leaf's resources arrive at the city, through the same relay connection.
    run_cli("segment", "add", "leaf", "--uplink-token-stdin", "--user", USER, "--heartbeat", HEARTBEAT, "--update",
            db=r.city.db, input=f"{TOKEN}\n{PASSWORD}\n")
    status = wait_status(r, lambda s: s["state"] == "up" and s["resources"] == len(r.tokens), "synced with the login")
    assert status["user"] == USER
    listed = run_cli("segment", "list", "--json", db=r.city.db).stdout
    assert PASSWORD not in listed and json.loads(listed)[0]["user"] == USER

    log = r.city.log.read_text()
    assert log.count("deviates from HTTP/1.1") == 1, log  # the lower-case version, once however often it connected
