"""The connector against an in-process remote client: a TLS listener (trustme certificates) that answers the
upgrade and then drives HTTP/2 as the client, with the real catalog for configurations, keys and status."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
import trustme
from lxml import etree
from zeep.wsse.username import UsernameToken

from gateway.catalog.model import KeyEntry, UplinkConfig
from gateway.catalog.store import Catalog
from gateway.uplink.connecting.connector import MAX_DELAY, Connector, Uplink
from gateway.uplink.connecting.h2server import ServerLimits
from gateway.uplink.shared.stream import AsyncioStream, ByteStream
from gateway.uplink.shared.ws import WebSocketStream
from tests.unit.soap.soapkit import CONTENT_TYPE, VOCAB, fault_of, make_app, request
from tests.unit.uplink.connecting.h2kit import H2TestClient

Session = Callable[[H2TestClient], Awaitable[None]]
SOAP = [(b"content-type", CONTENT_TYPE.encode())]


class Remote:
    """The remote client: TLS server, upgrade answer (``refuse`` = a status instead of 101), then ``session``."""

    def __init__(self, ca: trustme.CA, session: Session, *, refuse: int | None = None) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(self.context)
        self.context.verify_mode = ssl.CERT_OPTIONAL  # mTLS when the connector presents a certificate
        ca.configure_trust(self.context)
        self.session, self.refuse = session, refuse
        self.heads: list[bytes] = []
        self.peer_certs: list[dict | None] = []
        self.connected = asyncio.Event()
        self.sessions_done = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        try:
            yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        self.heads.append(head)
        self.peer_certs.append(writer.get_extra_info("peercert"))
        if self.refuse is not None:
            writer.write(f"HTTP/1.1 {self.refuse} No\r\ncontent-length: 0\r\n\r\n".encode())
            writer.close()
            return
        stream: ByteStream = AsyncioStream(reader, writer)
        key = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")), None)
        if key is None:
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c-reverse\r\n\r\n")
        else:
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: h2c-reverse\r\n\r\n")
            stream = WebSocketStream(stream, client=False)
        client = H2TestClient(stream)
        self.connected.set()
        try:
            await client.start()
            await self.session(client)
            self.sessions_done += 1
        finally:
            await client.close()


async def silent(client: H2TestClient) -> None:
    """A remote client that answers nothing, not even PINGs, and never closes: only the connector ends this."""
    await client.go_silent()


async def idle(client: H2TestClient) -> None:
    """A remote client that sends no request but acknowledges PINGs, until the connector leaves."""
    await client.until_closed()


def keys(catalog: Catalog, ca: trustme.CA) -> None:
    device = ca.issue_cert("device-1")
    catalog.add_key(KeyEntry(id="device-cert", kind="certificate", cert_pem=device.cert_chain_pems[0].bytes().decode(),
                             key_pem=device.private_key_pem.bytes().decode()))
    catalog.add_key(KeyEntry(id="remote-ca", kind="ca", cert_pem=ca.cert_pem.bytes().decode()))
    catalog.add_key(KeyEntry(id="stranger-ca", kind="ca", cert_pem=trustme.CA().cert_pem.bytes().decode()))
    catalog.add_key(KeyEntry(id="bearer", kind="token", secret="tok3n.value"))


def configure(catalog: Catalog, address: str, *, level: str = "Operator", mtls: bool = True,
              policy: str | None = "remote-ca") -> UplinkConfig:
    config = UplinkConfig(remote_address=address, user_level=level, cert_path_validation_policy=policy,
                          certificate_id="device-cert" if mtls else None,
                          authorization_server=None if mtls else "bearer")
    catalog.set_uplink(config, max_uplinks=8)
    return next(c for c in catalog.get_uplinks() if c.remote_address == address)


def status(catalog: Catalog, address: str) -> tuple[str, str | None]:
    config = next(c for c in catalog.get_uplinks() if c.remote_address == address)
    return config.status, config.error


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def first_error(catalog: Catalog, address: str) -> str:
    """The first recorded error, from the same read that saw it: a reconnecting uplink soon clears it again."""
    seen: list[str | None] = []
    await until(lambda: seen.append(status(catalog, address)[1]) or seen[-1] is not None)
    assert seen[-1] is not None
    return seen[-1]


def text(body: bytes, name: str) -> str | None:
    return etree.fromstring(body).findtext(f".//{{urn:test:soap}}{name}")


@pytest.mark.parametrize("scheme,mtls", [("https", True), ("wss", False)])
def test_connects_upgrades_and_serves_soap_with_the_configured_level(catalog: Catalog, scheme: str,
                                                                     mtls: bool) -> None:
    ca = trustme.CA()
    keys(catalog, ca)
    replies: dict[str, tuple[int, bytes]] = {}
    statuses: list[tuple[str, str | None]] = []

    async def session(client: H2TestClient) -> None:
        statuses.append(await asyncio.to_thread(status, catalog, address))
        for name, envelope in [("echo", request("Echo")), ("admin", request("Admin")), ("alice", alice_admin())]:
            reply = await client.request("POST", "/onvif/event_service", envelope, headers=SOAP)
            replies[name] = (reply.status, bytes(reply.body))

    async def go() -> None:
        nonlocal address
        remote = Remote(ca, session)
        async with remote.running() as hostport:
            address = f"{scheme}://{hostport}/uplink"
            configure(catalog, address, mtls=mtls)
            stop = asyncio.Event()
            connector = asyncio.create_task(Connector(catalog, make_app(), interval=0.05).run(stop))
            await until(lambda: remote.sessions_done == 1)
            stop.set()
            await connector
        head = remote.heads[0]
        assert head.startswith(b"GET /uplink HTTP/1.1\r\n")
        if mtls:
            assert ("DNS", "device-1") in remote.peer_certs[0]["subjectAltName"]
            assert b"Authorization" not in head
        else:
            assert remote.peer_certs[0] is None and b"Authorization: Bearer tok3n.value\r\n" in head
            assert b"Sec-WebSocket-Protocol: h2c-reverse" in head

    address = ""
    asyncio.run(asyncio.wait_for(go(), 30))
    assert statuses == [("Connected", None)]
    assert (replies["echo"][0], text(replies["echo"][1], "User")) == (200, f"uplink:{address}")
    assert (replies["admin"][0], fault_of(replies["admin"][1])[1]) == (400, list(VOCAB.not_authorized))
    assert (replies["alice"][0], text(replies["alice"][1], "User")) == (200, "alice")  # WS-Security still counts
    assert status(catalog, address) == ("Offline", None)  # stopped with the gateway


def alice_admin() -> bytes:
    root = etree.fromstring(request("Admin"))
    UsernameToken("alice", "wonderland", use_digest=True, created=datetime.now(UTC)).apply(root, {})
    return etree.tostring(root)


@pytest.mark.parametrize("policy", ["stranger-ca", None])
def test_server_certificate_from_an_unknown_ca_is_refused_with_error_status(catalog: Catalog,
                                                                            policy: str | None) -> None:
    ca = trustme.CA()
    keys(catalog, ca)

    async def go() -> tuple[str, str | None]:
        remote = Remote(ca, silent)
        async with remote.running() as hostport:
            config = configure(catalog, f"https://{hostport}/uplink", policy=policy)
            uplink = Uplink(config, catalog, make_app(), sleep=lambda _: asyncio.Event().wait())
            task = asyncio.create_task(uplink.run())
            await until(lambda: status(catalog, config.remote_address)[1] is not None)
            found = status(catalog, config.remote_address)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert remote.heads == []  # nothing was sent over the untrusted connection
            return found

    state, error = asyncio.run(asyncio.wait_for(go(), 30))
    assert state == "Offline" and error is not None and "not trusted" in error and "certificate" in error


def test_reconnects_with_growing_delays_and_starts_over_after_a_stable_connection(catalog: Catalog) -> None:
    ca = trustme.CA()
    keys(catalog, ca)

    async def delays_of(refuse: int | None, clock: Callable[[], float]) -> tuple[list[float], int, tuple]:
        delays: list[float] = []
        enough = asyncio.Event()

        async def sleep(delay: float) -> None:
            delays.append(delay)
            if len(delays) == 7:
                enough.set()
                await asyncio.Event().wait()

        remote = Remote(ca, lambda client: asyncio.sleep(0), refuse=refuse)
        async with remote.running() as hostport:
            config = configure(catalog, f"https://{hostport}/uplink")
            uplink = Uplink(config, catalog, make_app(), rng=random.Random(7), sleep=sleep, clock=clock)
            task = asyncio.create_task(uplink.run())
            await enough.wait()
            found = status(catalog, config.remote_address)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return delays, len(remote.heads), found

    async def go() -> None:
        delays, attempts, found = await delays_of(503, lambda: 0.0)
        first = delays[0]
        assert 1.0 <= first <= 5.0 and attempts == 7 and found == ("Offline", "upgrade refused: 503 No")
        assert delays == [min(first * 2 ** n, MAX_DELAY) for n in range(7)] and delays[-1] == MAX_DELAY
        ticks = iter(range(0, 10_000, 61))  # every connection "lasts" 61 s: stable, so the backoff restarts
        delays, attempts, found = await delays_of(None, lambda: float(next(ticks)))
        assert delays == [first] * 7 and found == ("Offline", "the remote client closed the uplink")

    asyncio.run(asyncio.wait_for(go(), 30))


def test_reconnects_after_silence(catalog: Catalog) -> None:
    ca = trustme.CA()
    keys(catalog, ca)
    limits = ServerLimits(ping_interval=0.05, silence_timeout=0.3)

    async def go() -> tuple[int, str]:
        remote = Remote(ca, silent)
        async with remote.running() as hostport:
            config = configure(catalog, f"https://{hostport}/uplink")
            uplink = Uplink(config, catalog, make_app(), limits=limits, sleep=lambda _: asyncio.sleep(0.01))
            task = asyncio.create_task(uplink.run())
            started = asyncio.get_running_loop().time()
            await until(lambda: len(remote.heads) >= 3)
            elapsed = asyncio.get_running_loop().time() - started
            assert 0.6 <= elapsed < 5  # two silences of 0.3 s each before the third connection
            error = await first_error(catalog, config.remote_address)  # the third silence
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return len(remote.heads), error

    count, error = asyncio.run(asyncio.wait_for(go(), 30))
    assert count >= 3 and error == "nothing received from the remote client for 0.3 s"


def test_uplinks_run_in_parallel_and_follow_the_catalog(catalog: Catalog) -> None:
    ca = trustme.CA()
    keys(catalog, ca)

    async def go() -> None:
        first, second = Remote(ca, idle), Remote(ca, idle)
        async with first.running() as one, second.running() as two:
            a, b = configure(catalog, f"https://{one}/a"), configure(catalog, f"wss://{two}/b", mtls=False)
            stop = asyncio.Event()
            connector = asyncio.create_task(Connector(catalog, make_app(), interval=0.05).run(stop))
            await until(lambda: [status(catalog, c.remote_address)[0] for c in (a, b)] == ["Connected"] * 2)
            catalog.delete_uplink(a.remote_address)
            await until(lambda: first.sessions_done == 1)  # its connection was closed by the connector
            configure(catalog, b.remote_address, level="Administrator", mtls=False)  # changed: reconnects
            await until(lambda: len(second.heads) == 2 and status(catalog, b.remote_address)[0] == "Connected")
            stop.set()
            await connector
            assert status(catalog, b.remote_address) == ("Offline", None)

    asyncio.run(asyncio.wait_for(go(), 30))
