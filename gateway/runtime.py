"""Running the gateway: assembly, supervision and graceful shutdown, in one place.

``serve`` binds the listening sockets itself (so ``--listen HOST:0`` works and
the real addresses are printed before the first request can arrive), then runs
the siblings of one TaskGroup: the HTTP server, the change-feed watcher, the
pull-point reaper, the federation supervisor (one sync task per segment), the
uplink connector (one task per uplink configuration, serving this same
app to its remote client), with ``--rtsp-listen`` the RTSP relay listener and,
with ``--uplink-listen``, the uplink listener (segments behind firewalls
connect to us; the supervisor reaches them through its registry of links).
The web-service port serves one composite app: the relay's paths (RTSP over
HTTP, snapshots) go to the relay's ASGI app, everything else to the SOAP
services.  Shutdown order (SIGINT/SIGTERM): release waiting
PullMessages (they answer empty rather than being cancelled), stop accepting,
let in-flight requests finish within ``GRACE``, cancel the rest, dispose of
the engine.  A second SIGINT exits at once.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import signal
import socket
import ssl
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from gateway.catalog.store import Catalog
from gateway.device import discovery
from gateway.device.service import DEVICE_SERVICE, DeviceIdentity
from gateway.downstream.forward import Forwarder
from gateway.downstream.pool import Downstream
from gateway.events import service as events
from gateway.events.context import EventContext, EventLimits
from gateway.events.pullpoint import PULL_POINT_SERVICE
from gateway.events.waiter import FeedWatcher
from gateway.federation.supervisor import Supervisor
from gateway.media import service as media
from gateway.media.resolve import STREAMS_PER_SEGMENT, MediaResolver, OpenTunnel
from gateway.onvif.access import authorize, granted
from gateway.onvif.faults import ONVIF_FAULTS
from gateway.onvif.ns import NSMAP
from gateway.onvif.services import DEVICE, EVENTS, MEDIA, MEDIA2, PTZ, PULL_POINT, UPLINK, OfferedService
from gateway.onvif.wsdl_files import wsdl_files
from gateway.onvif.xml import utcnow
from gateway.ptz import service as ptz
from gateway.relay.asgi import RelayApp
from gateway.relay.listener import RtspListener
from gateway.relay.paths import is_relay_path
from gateway.relay.session import Relay
from gateway.relay.upstream import AtCapacity, NotAllowed, RelayError, UnknownToken, UpstreamFailed, UpstreamTimeout
from gateway.soap.asgi import SoapApp
from gateway.soap.dispatch import Principal
from gateway.supervision.periodic import every
from gateway.uplink.connecting.connector import Connector
from gateway.uplink.extension import UPLINK_EXTENSION
from gateway.uplink.listening.errors import LinkError, LinkTimeout
from gateway.uplink.listening.link import LinkLimits
from gateway.uplink.listening.listener import TlsFiles, UplinkListener, server_context
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.listening.tunnel import TunnelRefused, open_tunnel
from gateway.uplink.shared.stream import ByteStream
from gateway.uplink_config import service as uplink_service

log = logging.getLogger("gateway")

#: Seconds in-flight requests get to finish after shutdown starts.
GRACE = 5.0
#: How often expired pull points are removed and the change feed is pruned.
REAP_INTERVAL = 10.0
#: How often the SQLite WAL is copied back into the database, off the writers' path (catalog.db.checkpoint).
CHECKPOINT_INTERVAL = 1.0
#: How long a looked-up user stays cached; a user added by another process is seen within this.
CREDENTIAL_TTL = 5.0
#: Descriptors wanted when uplinks are accepted: 1,000 uplinks are 1,000 sockets, beyond the usual 1,024.
FILE_LIMIT = 65_536
#: Seconds an idle HTTP connection is kept open (``serve --keep-alive``).  Hypercorn's own 5 s
#: closed a relay's or a proxy's pooled connections every 5 s; this outlasts the idle limits of
#: common pools and proxies (60 to 120 s), so that they close first and never send a request on
#: a connection the gateway is closing at that moment.
KEEP_ALIVE = 300.0


@dataclass(frozen=True, kw_only=True)
class UplinkListen:
    """``--uplink-listen``: where segments behind firewalls connect to us (gateway.uplink.listening.listener)."""

    host: str
    port: int
    tls: TlsFiles
    #: Seconds of hearing nothing after which a link is dead (``--uplink-idle-timeout``; LinkLimits.idle_timeout).
    idle_timeout: float = LinkLimits().dead_after


class UplinkListenError(Exception):
    """The uplink listener cannot start: its address or its TLS files; ``str()`` says which."""


@dataclass(kw_only=True)
class ServeOptions:
    db_url: str
    host: str = "127.0.0.1"
    port: int = 8080
    certfile: str | None = None
    keyfile: str | None = None
    limits: EventLimits = field(default_factory=EventLimits)
    identity: DeviceIdentity = field(default_factory=DeviceIdentity)
    uplink: UplinkListen | None = None
    keep_alive: float = KEEP_ALIVE
    #: ``--rtsp-listen``: where RTSP clients connect to the relay; None: no RTSP listener (RTSP over HTTP still works).
    rtsp: tuple[str, int] | None = None
    streams_per_segment: int = STREAMS_PER_SEGMENT


@dataclass(kw_only=True)
class AppState:
    """What handlers reach through ``request.state``."""

    events: EventContext
    identity: DeviceIdentity
    services: tuple[OfferedService, ...]  # what GetServices and GetCapabilities describe
    forwarder: Forwarder  # the media and PTZ services' way to the segments
    rtsp_port: int | None  # the RTSP listener's port, for the URIs GetStreamUri returns


class CredentialCache:
    """User lookups for WS-UsernameToken, cached briefly so a request costs no query.

    A miss queries the catalog in a worker thread, so the event loop goes on
    serving other requests meanwhile; a hit answers at once, without a
    thread hop.
    """

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._cache: dict[str, tuple[float, tuple[str, str] | None]] = {}

    async def __call__(self, name: str) -> tuple[str, str] | None:
        now = time.monotonic()
        hit = self._cache.get(name)
        if hit is not None and now - hit[0] < CREDENTIAL_TTL:
            return hit[1]
        user = await asyncio.to_thread(self._catalog.get_user, name)
        value = (user.password, user.level) if user is not None else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[name] = (now, value)
        return value


def tunnelled(scope: Mapping[str, Any]) -> Principal | None:
    """Who a request without WS-Security is: for one that arrived through an uplink this gateway opened
    (the scope extension its connector sets), the uplink's configured level (docs/wire-format.md §9.3); else
    anonymous."""
    uplink = (scope.get("extensions") or {}).get(UPLINK_EXTENSION)
    if not uplink:
        return None
    return granted(f"uplink:{uplink['remote']}", str(uplink.get("level", "")))


#: The services the device service lists, in the order it lists them.
OFFERED = (
    OfferedService(contract=DEVICE, capabilities=discovery.capabilities),
    OfferedService(contract=EVENTS, capabilities=events.capabilities),
    OfferedService(contract=UPLINK, capabilities=uplink_service.capabilities),
    OfferedService(contract=MEDIA, capabilities=media.media_capabilities),
    OfferedService(contract=MEDIA2, capabilities=media.media2_capabilities),
    OfferedService(contract=PTZ, capabilities=ptz.capabilities),
)


class Composite:
    """The web-service port's ASGI app: the relay's paths to the relay's app, the rest (and the lifespan) to SOAP."""

    def __init__(self, soap: SoapApp, relay: RelayApp) -> None:
        self.soap, self.relay = soap, relay

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and is_relay_path(scope["path"]):
            await self.relay(scope, receive, send)
        else:
            await self.soap(scope, receive, send)


#: A lower relay's refusal of a tunnel, as the relay's error for this level's client.
_REFUSALS: dict[int, type[RelayError]] = {401: NotAllowed, 403: NotAllowed, 404: UnknownToken, 503: AtCapacity}


def uplink_tunnels(links: UplinkRegistry) -> OpenTunnel:
    """How the relay reaches an uplinked segment's stream: an RTSP tunnel over its link (docs/wire-format.md §13)."""
    async def open_uplink(segment: str, url: str, timeout: float) -> ByteStream:
        try:
            return await open_tunnel(links, segment, url, timeout=timeout)
        except TunnelRefused as refused:
            raise _REFUSALS.get(refused.status, UpstreamFailed)(str(refused), segment=segment) from None
        except LinkTimeout as exc:
            raise UpstreamTimeout(str(exc), segment=segment) from None
        except LinkError as exc:
            raise UpstreamFailed(f"through its uplink: {exc}", segment=segment) from None
    return open_uplink


def build_app(catalog: Catalog, watcher: FeedWatcher, options: ServeOptions, *, downstream: Downstream | None = None,
              relay: Relay | None = None, rtsp_port: int | None = None) -> Composite:
    """The application; without ``downstream`` segments are reached with a client set of its own."""
    credentials = CredentialCache(catalog)
    forwarder = Forwarder(catalog, downstream if downstream is not None else Downstream())
    resolver = MediaResolver(forwarder, streams_per_segment=options.streams_per_segment,
                             open_tunnel=uplink_tunnels(forwarder.downstream.uplinks))
    relay = relay if relay is not None else Relay(resolver, credentials)
    state = AppState(events=EventContext(catalog=catalog, watcher=watcher, limits=options.limits),
                     identity=options.identity, services=OFFERED, forwarder=forwarder, rtsp_port=rtsp_port)
    soap = SoapApp(
        routes={
            DEVICE.path: DEVICE_SERVICE,
            EVENTS.path: events.EVENT_SERVICE,
            PULL_POINT.path: PULL_POINT_SERVICE,
            UPLINK.path: uplink_service.UPLINK_SERVICE,
            MEDIA.path: media.MEDIA_SERVICE,
            MEDIA2.path: media.MEDIA2_SERVICE,
            PTZ.path: ptz.PTZ_SERVICE,
        },
        authorizer=authorize,
        credentials=credentials,
        vocab=ONVIF_FAULTS,
        nsmap=NSMAP,
        state=state,
        wsdl=wsdl_files(),
        pre_authenticated=tunnelled,
    )
    return Composite(soap, RelayApp(resolver, credentials, resolver.open_snapshot, relay=relay,
                                    pre_authenticated=tunnelled))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def _reap(catalog: Catalog) -> None:
    expired = await asyncio.to_thread(catalog.delete_expired_pull_points, utcnow())
    pruned = await asyncio.to_thread(catalog.prune_feed)
    if expired or pruned:
        log.info("removed %d expired pull points, pruned %d change rows", expired, pruned)


async def _checkpoint(catalog: Catalog) -> None:
    await asyncio.to_thread(catalog.checkpoint)


async def _run(catalog: Catalog, sock: socket.socket, options: ServeOptions,
               uplink: tuple[socket.socket, ssl.SSLContext, LinkLimits] | None,
               rtsp: socket.socket | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_signal() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            os._exit(130)  # the operator insists
        log.info("shutting down")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    watcher = FeedWatcher(catalog.head_seq)
    # Segment syncs and the media and PTZ forwarding share one client per segment; uplinked segments are
    # reached over the links the listener registers.
    links = UplinkRegistry()
    downstream = Downstream(links)
    app = build_app(catalog, watcher, options, downstream=downstream,
                    rtsp_port=rtsp.getsockname()[1] if rtsp is not None else None)
    config = HypercornConfig()
    # Hypercorn closes the descriptor it is given; it gets a duplicate, ours is closed by serve().
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.graceful_timeout = GRACE
    config.keep_alive_timeout = options.keep_alive
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    if options.certfile:
        config.certfile, config.keyfile = options.certfile, options.keyfile

    async def shutdown_trigger() -> None:
        await stop.wait()
        watcher.stop()  # waiting PullMessages answer now, before the server drains

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger))  # type: ignore[arg-type]
            group.create_task(watcher.run())
            group.create_task(every(stop, REAP_INTERVAL, lambda: _reap(catalog), what="pull point reaper", log=log))
            group.create_task(every(stop, CHECKPOINT_INTERVAL, lambda: _checkpoint(catalog), what="WAL checkpoint",
                                    log=log))
            # Segment syncs write to the catalog and wake local pull points at once.
            group.create_task(Supervisor(catalog, watcher.notify, downstream).run(stop))
            if uplink is not None:
                listening, context, limits = uplink
                group.create_task(UplinkListener(listening, context, catalog, links, limits=limits).serve(stop))
            if rtsp is not None:
                # The listener ends its sessions when stop is set, so no camera streams to a gateway that has gone.
                listener = RtspListener(app.relay.relay)
                await listener.start(sock=rtsp)
                group.create_task(listener.serve(stop))
            # Uplinks serve the same app to remote clients over the connections this gateway opens
            # (docs/wire-format.md §9).
            group.create_task(Connector(catalog, app).run(stop))
    finally:
        await downstream.aclose()


def _shown(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _uplink_listener(listen: UplinkListen) -> tuple[socket.socket, ssl.SSLContext, LinkLimits]:
    """The bound socket, TLS context and link limits of the uplink listener, or UplinkListenError."""
    try:
        context = server_context(listen.tls)
    except (ssl.SSLError, OSError) as err:
        raise UplinkListenError(f"cannot use the uplink TLS files: {err}") from None
    try:
        sock = _bind(listen.host, listen.port)
    except OSError as err:
        raise UplinkListenError(f"cannot listen for uplinks on {listen.host}:{listen.port}: {err.strerror}") from None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FILE_LIMIT if hard == resource.RLIM_INFINITY else min(FILE_LIMIT, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return sock, context, LinkLimits.idle_timeout(listen.idle_timeout)


def serve(options: ServeOptions) -> None:
    """Check the catalog's schema revision (RevisionMismatch: run `vmsgw db upgrade`), bind, announce the
    addresses, and serve until a signal."""
    uplink = _uplink_listener(options.uplink) if options.uplink is not None else None
    catalog = Catalog.open(options.db_url, autocheckpoint=False, require_current=True)  # _checkpoint does it
    # What start-up made (modules, schema metadata, the engine) lives as long as the process.
    # Frozen out of the collector's sight, the full collections that a large reply's objects
    # set off walk only what requests made: 3 us a resource less when enumerating 100,000.
    gc.collect()
    gc.freeze()
    sock = _bind(options.host, options.port)
    scheme = "https" if options.certfile else "http"
    print(f"vmsgw: serving on {scheme}://{_shown(sock)}{DEVICE.path}", flush=True)
    if uplink is not None:
        print(f"vmsgw: accepting uplinks on {_shown(uplink[0])} (https and wss)", flush=True)
    rtsp = None
    if options.rtsp is not None:
        try:
            rtsp = _bind(*options.rtsp)
        except OSError:
            sock.close()
            raise
        print(f"vmsgw: relaying RTSP on rtsp://{_shown(rtsp)}", flush=True)
    try:
        asyncio.run(_run(catalog, sock, options, uplink, rtsp))
    finally:
        sock.close()
        if uplink is not None:
            uplink[0].close()
        if rtsp is not None:
            rtsp.close()
        catalog.close()
    print("vmsgw: stopped", file=sys.stderr, flush=True)
