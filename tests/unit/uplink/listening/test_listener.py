"""The Uplink listener over real TLS sockets with trustme certificates, dialled by the connector's own upgrade machine.

Every accepted uplink is proven by a request through the registry's link to an
in-process h2 server peer; every refusal by its status, its log line and an
empty registry.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import trustme

from gateway.catalog.model import Segment
from gateway.uplink.connecting.dial import (
    NEED_DATA,
    CredentialsRefused,
    Dial,
    DialError,
    Switched,
    Target,
)
from gateway.uplink.listening.link import LinkLimits
from gateway.uplink.listening.listener import TlsFiles, UplinkListener, server_context
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.listening.transport import UplinkTransport
from gateway.uplink.shared.stream import AsyncioStream, ByteStream
from gateway.uplink.shared.ws import WebSocketStream
from tests.unit.uplink.listening.h2peer import H2Peer

FAST = LinkLimits(ping_interval=0.2, dead_after=2.0, start_timeout=1.0, write_timeout=1.0, request_timeout=5.0)


@dataclass
class Pki:
    ca: trustme.CA
    files: TlsFiles
    leaf1: trustme.LeafCert
    leaf2: trustme.LeafCert
    stranger: trustme.LeafCert  # our CA, but no segment of ours
    expired: trustme.LeafCert
    foreign: trustme.LeafCert  # CN leaf-1, from another CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    server.private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return Pki(ca=ca, files=TlsFiles(certfile=str(tmp / "server.pem"), keyfile=str(tmp / "server.pem"),
                                     cafile=str(tmp / "ca.pem")),
               leaf1=ca.issue_cert("leaf-1", common_name="leaf-1"), leaf2=ca.issue_cert("leaf-2", common_name="leaf-2"),
               stranger=ca.issue_cert("stranger", common_name="stranger"),
               expired=ca.issue_cert("leaf-1", common_name="leaf-1", not_before=past - dt.timedelta(days=9),
                                     not_after=past),
               foreign=trustme.CA().issue_cert("leaf-1", common_name="leaf-1"))


@dataclass
class Directory:
    """The catalog's two lookups, over fixed tables."""

    certs: dict[str, str] = field(default_factory=lambda: {"leaf-1": "leaf1", "leaf-2": "leaf2"})
    tokens: dict[str, str] = field(default_factory=lambda: {"tok-3.x": "leaf3"})

    @staticmethod
    def _segment(name: str) -> Segment:
        return Segment(name=name, url=f"https://{name}/onvif/device_service", user="", password="")

    def find_segment_by_uplink_identity(self, identity: str) -> Segment | None:
        return self._segment(self.certs[identity]) if identity in self.certs else None

    def find_segment_by_uplink_token(self, token: str) -> Segment | None:
        return self._segment(self.tokens[token]) if token in self.tokens else None


@dataclass
class Listening:
    port: int
    registry: UplinkRegistry


@asynccontextmanager
async def listening(pki: Pki, *, directory: Directory | None = None, upgrade_timeout: float = 5.0,
                    limits: LinkLimits = FAST) -> AsyncIterator[Listening]:
    sock = socket.create_server(("127.0.0.1", 0), backlog=2048)
    registry = UplinkRegistry()
    listener = UplinkListener(sock, server_context(pki.files), directory or Directory(), registry, limits=limits,
                              upgrade_timeout=upgrade_timeout)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.serve(stop))
    try:
        yield Listening(port=sock.getsockname()[1], registry=registry)
    finally:
        stop.set()
        await task
        sock.close()


def client_context(pki: Pki, cert: trustme.LeafCert | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    pki.ca.configure_trust(ctx)
    if cert is not None:
        cert.configure_cert(ctx)
    return ctx


async def upgrade(port: int, ctx: ssl.SSLContext, *, scheme: str = "https", token: str | None = None,
                  in_query: bool = False) -> tuple[ByteStream, Switched]:
    """Connect and upgrade as the connector does; the tunnel's byte stream, or the DialError raised."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    dial = Dial(Target.parse(f"{scheme}://localhost:{port}/uplink"), token=token, token_in_query=in_query)
    writer.write(dial.request())
    try:
        while (result := dial.receive_data(await reader.read(65536))) is NEED_DATA:
            pass
    except BaseException:
        writer.close()
        raise
    assert isinstance(result, Switched)
    if scheme == "wss":
        return WebSocketStream(AsyncioStream(reader, writer), client=True, trailing=result.leftover), result
    return AsyncioStream(reader, writer, pending=result.leftover), result


@asynccontextmanager
async def serving(stream: ByteStream) -> AsyncIterator[H2Peer]:
    """A local service answering requests on an upgraded ``stream`` for the duration of the block, then closed."""
    peer = H2Peer(stream)
    task = asyncio.create_task(peer.run())
    try:
        yield peer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stream.aclose()


@asynccontextmanager
async def uplink(port: int, ctx: ssl.SSLContext, **how: object) -> AsyncIterator[H2Peer]:
    """A connected local service answering requests, for the duration of the block."""
    stream, _ = await upgrade(port, ctx, **how)  # type: ignore[arg-type]
    async with serving(stream) as peer:
        yield peer


async def request_through(listening: Listening, segment: str) -> bytes:
    link = await listening.registry.wait(segment, 5)
    assert link is not None, f"no link for {segment}"
    return (await link.request("GET", "/onvif/device_service")).body


def run(coro) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(asyncio.wait_for(coro, 60))


@pytest.mark.parametrize(("scheme", "cert", "token", "in_query", "segment"), [
    ("https", "leaf1", None, False, "leaf1"),  # mTLS, native
    ("https", None, "tok-3.x", False, "leaf3"),  # no certificate, a bearer token
    ("wss", None, "tok-3.x", True, "leaf3"),  # WebSocket, token in the query
    ("wss", "leaf2", None, False, "leaf2"),  # WebSocket, mTLS
])
def test_a_valid_identity_is_accepted_and_its_link_serves_requests(pki: Pki, scheme: str, cert: str | None,
                                                                    token: str | None, in_query: bool,
                                                                    segment: str) -> None:
    async def main() -> None:
        async with listening(pki) as on:
            ctx = client_context(pki, getattr(pki, cert) if cert else None)
            async with uplink(on.port, ctx, scheme=scheme, token=token, in_query=in_query):
                assert await request_through(on, segment) == b"GET /onvif/device_service "
                assert on.registry.segments() == [segment]

    run(main())


def test_federation_reaches_the_segment_through_the_transport_and_loses_it_when_the_link_dies(pki: Pki) -> None:
    async def main() -> None:
        async with listening(pki) as on:
            client = httpx.AsyncClient(transport=UplinkTransport(on.registry, "leaf1", connect_wait=0.5))
            async with uplink(on.port, client_context(pki, pki.leaf1)) as peer:
                reply = await client.post("https://leaf1/onvif/event_service", content=b"<x/>", timeout=3)
                assert (reply.status_code, reply.http_version) == (200, "HTTP/2")
                assert reply.content == b"POST /onvif/event_service <x/>"
                assert dict(peer.requests[1][0])[b":authority"] == b"leaf1"
            with pytest.raises(httpx.TransportError):  # the link is gone: the segment is unreachable
                await client.get("https://leaf1/onvif/device_service", timeout=3)
            await client.aclose()

    run(main())


@pytest.mark.parametrize(("cert", "token", "status", "logged"), [
    (None, None, 401, "a client certificate or an access token is required"),
    (None, "wrong-token", 401, "unknown access token"),
    ("leaf1", "wrong-token", 401, "unknown access token"),
    ("stranger", None, 403, "certificate identity 'stranger' is not a segment"),
    ("leaf1", "tok-3.x", 403, "the certificate and the access token name different segments"),
])
def test_unknown_or_missing_identities_are_refused_and_logged(pki: Pki, caplog: pytest.LogCaptureFixture,
                                                              cert: str | None, token: str | None, status: int,
                                                              logged: str) -> None:
    async def main() -> None:
        async with listening(pki) as on:
            with pytest.raises(CredentialsRefused) as info:
                await upgrade(on.port, client_context(pki, getattr(pki, cert) if cert else None), token=token)
            assert info.value.status == status
            assert len(on.registry) == 0

    with caplog.at_level(logging.WARNING, logger="gateway.uplink"):
        run(main())
    assert any(f"refused: {status} {logged}" in r.getMessage() for r in caplog.records), caplog.text


@pytest.mark.parametrize("cert", ["foreign", "expired"])
def test_a_certificate_of_another_ca_or_expired_fails_the_tls_handshake(pki: Pki, caplog: pytest.LogCaptureFixture,
                                                                        cert: str) -> None:
    async def main() -> None:
        async with listening(pki) as on:
            with pytest.raises((ssl.SSLError, ConnectionError, DialError)):
                await upgrade(on.port, client_context(pki, getattr(pki, cert)))
            assert len(on.registry) == 0
            async with uplink(on.port, client_context(pki, pki.leaf1)):  # and the next peer is served
                assert await request_through(on, "leaf1")

    with caplog.at_level(logging.WARNING, logger="gateway.uplink"):
        run(main())
    reason = {"foreign": "unable to get local issuer certificate", "expired": "certificate has expired"}[cert]
    assert f"refused in the TLS handshake: client certificate: {reason}" in caplog.text, caplog.text


def test_a_slowloris_upgrade_is_cut_at_the_deadline_while_another_uplink_connects(
        pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with listening(pki, upgrade_timeout=1.0) as on:
            reader, writer = await asyncio.open_connection("127.0.0.1", on.port, ssl=client_context(pki, pki.leaf1),
                                                           server_hostname="localhost")
            started = asyncio.get_running_loop().time()

            async def drip() -> None:
                for byte in b"GET /uplink HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n":
                    writer.write(bytes([byte]))
                    await asyncio.sleep(0.1)

            dripping = asyncio.create_task(drip())
            async with uplink(on.port, client_context(pki, pki.leaf2)):
                assert await request_through(on, "leaf2")
            assert await reader.read() == b""  # cut, without an answer
            assert 0.9 < asyncio.get_running_loop().time() - started < 3
            dripping.cancel()
            writer.close()

    with caplog.at_level(logging.WARNING, logger="gateway.uplink"):
        run(main())
    assert "no complete upgrade within 1 s" in caplog.text


def test_garbage_after_the_upgrade_closes_that_link_only(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with listening(pki) as on, uplink(on.port, client_context(pki, pki.leaf2)):
            stream, _ = await upgrade(on.port, client_context(pki, pki.leaf1))
            await stream.write(b"HTTP/1.1 200 OK\r\n\r\nthis is not HTTP/2 at all")
            while await asyncio.wait_for(stream.read(), 5):  # our preface, then the end
                pass
            assert on.registry.get("leaf1") is None
            assert await request_through(on, "leaf2")

    with caplog.at_level(logging.WARNING, logger="gateway.uplink"):
        run(main())
    assert "closed before HTTP/2 started" in caplog.text


def test_a_reconnecting_segment_replaces_its_older_link(pki: Pki) -> None:
    async def main() -> None:
        async with listening(pki) as on, uplink(on.port, client_context(pki, pki.leaf1)) as first:
            old = await on.registry.wait("leaf1", 5)
            async with uplink(on.port, client_context(pki, pki.leaf1)):
                await asyncio.wait_for(old.wait_closed(), 5)  # type: ignore[union-attr]
                assert first.terminated is not None  # told with a GOAWAY
                assert await request_through(on, "leaf1")
                assert len(on.registry) == 1

    run(main())


def test_one_listener_holds_1000_uplinks(pki: Pki) -> None:
    """Token-authenticated local services in this same process: 2,000 sockets and TLS ends in all."""
    n = 1000

    async def main() -> None:
        directory = Directory(tokens={f"tok-{i}": f"seg{i}" for i in range(n)})
        # The production limits: FAST's 1 s for the peer's SETTINGS is too short for a storm on a busy CI box.
        async with listening(pki, directory=directory, upgrade_timeout=60, limits=LinkLimits()) as on:
            ctx = client_context(pki, None)
            streams: list[ByteStream] = []
            peers: list[asyncio.Task[None]] = []

            async def one(i: int) -> None:
                stream, _ = await upgrade(on.port, ctx, token=f"tok-{i}")
                streams.append(stream)
                peers.append(asyncio.create_task(H2Peer(stream).run()))

            for start in range(0, n, 100):  # a reconnect storm, in waves
                await asyncio.gather(*(one(i) for i in range(start, min(n, start + 100))))
            deadline = asyncio.get_running_loop().time() + 30
            while len(on.registry.segments()) < n:
                assert asyncio.get_running_loop().time() < deadline, len(on.registry.segments())
                await asyncio.sleep(0.1)
            bodies = await asyncio.gather(*(request_through(on, f"seg{i}") for i in range(0, n, 10)))
            assert all(b == b"GET /onvif/device_service " for b in bodies)
            for task in peers:
                task.cancel()
            await asyncio.gather(*peers, return_exceptions=True)
            await asyncio.gather(*(s.aclose() for s in streams))

    run(main())
