"""The Uplink listener (docs/wire-format.md §9.2-9.4): segments behind firewalls connect here, and we become their
HTTP/2 client.

Theory of operation
-------------------
One asyncio server; per connection, within one deadline
(:data:`UPGRADE_TIMEOUT`, against slowloris): the TLS handshake, then the
upgrade request (handshake.py, head capped), then authentication.  Only then
the 101, after which :class:`~gateway.uplink.listening.link.Link` runs HTTP/2 over the
socket (native) or over WebSocket binary messages (ws.py), and the link is
registered as its segment's current one until it dies.

Authentication (docs/wire-format.md §9.3, docs/decisions.md §8.20), decided before anything is
answered and before anything reaches the catalog beyond one lookup:

1. TLS: ``--uplink-ca`` makes the client certificate optional but verified:
   a certificate from another CA, or expired, fails the handshake.  Without
   it no certificate is asked for, and only tokens identify.
2. A bearer token (``Authorization`` or ``access_token=``) must belong to a
   segment: otherwise **401** ``invalid_token`` (RFC 6750 §3.1; a token is a
   credential we do not recognise, not a known identity without rights).
3. Otherwise the certificate's subject CN must be a segment's uplink
   identity: otherwise **403** (authenticated, but no segment of ours).
4. Both given and naming different segments: **403**.  Neither: **401**.

Every refusal and TLS failure is logged with the peer's address; a
connection's failure never touches another's.  A tolerated deviation of the
upgrade request (handshake.py rule 2) is logged once per segment, after
authentication: a relay reconnects from ever new ports and possibly through
changing or shared NAT addresses, while the segment is stable, is what the
operator can act on, and only authenticated peers can add one to the
remembered set (which the catalog's segments bound).  Refused peers are logged
at every refusal anyway.  A segment that connects again
replaces its older link (registry.py), which is closed.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Protocol

from gateway.catalog.model import Segment
from gateway.uplink.listening.errors import LinkClosed
from gateway.uplink.listening.handshake import (
    NEED_DATA,
    Kind,
    Refusal,
    UpgradeParser,
    UpgradeRequest,
    refusal_response,
    switching_protocols,
)
from gateway.uplink.listening.link import Link, LinkLimits
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.shared.stream import (
    READ_SIZE,
    AsyncioStream,
    ByteStream,
    close_writer,
    describe_peer,
)
from gateway.uplink.shared.ws import WebSocketStream

log = logging.getLogger("gateway.uplink")

#: Seconds from accept to a complete, authenticated upgrade request (TLS included): a slow peer is cut.
UPGRADE_TIMEOUT = 10.0


class Identities(Protocol):
    """The catalog's segment lookups (gateway.catalog.store.Catalog)."""

    def find_segment_by_uplink_identity(self, identity: str) -> Segment | None: ...

    def find_segment_by_uplink_token(self, token: str) -> Segment | None: ...


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    certfile: str  # the listener's certificate chain, PEM
    keyfile: str
    cafile: str | None = None  # CAs of client certificates; None: tokens only


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2+ server context; client certificates optional but verified when a CA is given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.certfile, files.keyfile)
    if files.cafile:
        ctx.load_verify_locations(cafile=files.cafile)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])  # the first exchange is HTTP/1.1, never h2 (docs/wire-format.md §9.2)
    return ctx


def certificate_cn(writer: asyncio.StreamWriter) -> str | None:
    """The subject CN of the peer's verified certificate, or None without one."""
    tls = writer.get_extra_info("ssl_object")
    cert = tls.getpeercert() if tls is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class UplinkListener:
    def __init__(self, sock: socket.socket, context: ssl.SSLContext, identities: Identities,
                 registry: UplinkRegistry, *, limits: LinkLimits | None = None,
                 upgrade_timeout: float = UPGRADE_TIMEOUT) -> None:
        self._sock, self._context, self._identities, self.registry = sock, context, identities, registry
        self._limits, self._upgrade_timeout = limits, upgrade_timeout
        self._connections: set[asyncio.Task[None]] = set()
        self._deviations_logged: set[tuple[str, str]] = set()  # (segment, deviation)

    async def serve(self, stop: asyncio.Event) -> None:
        """Accept until ``stop``; then stop accepting and close every connection and link."""
        server = await asyncio.start_server(self._accept, sock=self._sock, limit=READ_SIZE)
        try:
            await stop.wait()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Called inside connection_made: nothing is read until start_tls, which must see the ClientHello.

        TLS is started by us, not by start_server, so that its failures are ours to log.  The
        connection runs in our own task: 3.11's streams callback logs an error for a cancelled one.
        """
        transport = writer.transport
        assert isinstance(transport, asyncio.Transport)  # a TCP connection reads and writes
        transport.pause_reading()
        task = asyncio.create_task(self._guarded(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _guarded(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = describe_peer(writer)
        try:
            await self._connection(reader, writer, peer)
        except Exception:  # a bug costs this connection only
            log.exception("uplink from %s failed", peer)
            await close_writer(writer)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        try:
            async with asyncio.timeout(self._upgrade_timeout):
                await writer.start_tls(self._context)
                request = await _read_upgrade(reader)
                segment, how = await self._authenticate(writer, request)
        except TimeoutError:
            log.warning("uplink from %s cut: no complete upgrade within %g s", peer, self._upgrade_timeout)
            return await close_writer(writer)
        except Refusal as refusal:
            log.warning("uplink from %s refused: %d %s", peer, refusal.status, refusal.reason)
            writer.write(refusal_response(refusal))
            return await close_writer(writer)
        except ssl.SSLCertVerificationError as exc:  # rule 1: another CA, expired, ...
            log.warning("uplink from %s refused in the TLS handshake: client certificate: %s", peer, exc.verify_message)
            return await close_writer(writer)
        except OSError as exc:  # ssl.SSLError included: not TLS, no common cipher, a reset ...
            reason = getattr(exc, "reason", None) or exc
            log.warning("uplink from %s: TLS handshake or connection failed: %s", peer, reason)
            return await close_writer(writer)
        self._log_deviations(segment.name, peer, request.deviations)
        writer.write(switching_protocols(request))
        stream: ByteStream = AsyncioStream(reader, writer, pending=request.trailing)
        if request.kind is Kind.WEBSOCKET:
            stream = WebSocketStream(AsyncioStream(reader, writer), client=False, trailing=request.trailing)
        link = Link(stream, authority=segment.name, limits=self._limits)
        try:
            await link.start()
        except LinkClosed as exc:
            log.warning("uplink from %s (segment %s) closed before HTTP/2 started: %s", peer, segment.name, exc)
            return
        await self._hold(link, segment.name, f"{peer}, {request.kind.value}, {how}")

    def _log_deviations(self, name: str, peer: str, deviations: tuple[str, ...]) -> None:
        for deviation in deviations:
            if (name, deviation) not in self._deviations_logged:
                self._deviations_logged.add((name, deviation))
                log.warning("uplink of segment %s (from %s) deviates from HTTP/1.1, accepted: %s; "
                            "not logged again for this segment", name, peer, deviation)

    async def _hold(self, link: Link, name: str, what: str) -> None:
        old = self.registry.attach(name, link)
        log.info("uplink of segment %s connected (%s)%s", name, what, "; replaces its older one" if old else "")
        if old is not None:
            await old.aclose("replaced by a newer uplink of the same segment")
        try:
            await link.wait_closed()
        finally:
            self.registry.detach(name, link)
            await link.aclose()
        log.info("uplink of segment %s closed: %s", name, link.reason)

    async def _authenticate(self, writer: asyncio.StreamWriter, request: UpgradeRequest) -> tuple[Segment, str]:
        """The segment the peer proves to be, and how; a Refusal otherwise (rules 2-4 above)."""
        cn = certificate_cn(writer)
        try:
            by_token = await asyncio.to_thread(self._identities.find_segment_by_uplink_token, request.token) \
                if request.token is not None else None
            by_cert = await asyncio.to_thread(self._identities.find_segment_by_uplink_identity, cn) \
                if cn is not None else None
        except Exception:  # the catalog is down: not the peer's fault
            log.exception("uplink identity lookup failed")
            raise Refusal(503, "identities cannot be checked now; retry later") from None
        if request.token is not None and by_token is None:
            raise Refusal.unauthorized("unknown access token", invalid_token=True)
        if by_token is not None and by_cert is not None and by_token.name != by_cert.name:
            raise Refusal(403, "the certificate and the access token name different segments")
        if by_token is not None:
            return by_token, "access token"
        if by_cert is not None:
            return by_cert, f"certificate CN={cn}"
        if cn is not None:
            raise Refusal(403, f"certificate identity {cn!r} is not a segment of this gateway")
        raise Refusal.unauthorized("a client certificate or an access token is required")


async def _read_upgrade(reader: asyncio.StreamReader) -> UpgradeRequest:
    parser = UpgradeParser()
    while (result := parser.receive_data(await reader.read(READ_SIZE))) is NEED_DATA:
        pass
    assert isinstance(result, UpgradeRequest)
    return result
