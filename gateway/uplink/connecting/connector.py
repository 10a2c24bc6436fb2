"""The Uplink connector: this gateway, behind a firewall, keeps each configured uplink up
(docs/wire-format.md §9.2-9.4).

Theory of operation
-------------------
:class:`Connector` re-reads the catalog's uplink configurations every
:data:`INTERVAL` seconds (``vmsgw uplink set`` and SetUplink write them from
anywhere): a new configuration gets an :class:`Uplink` task, a deleted one
loses it, a changed one restarts it, and a task that died of a bug is logged
and started again.  Stopping an uplink (removed, changed, or the gateway
shutting down) lets the requests in flight through it finish within
:data:`GRACE` seconds first.  All uplinks run in parallel, each on its own (docs/wire-format.md §9.4).
The reconciling is :class:`gateway.supervision.reconciler.Reconciler`, with the
uplink's drain as its stop hook.

Each :class:`Uplink` loops through the statuses GetUplinks reports::

    Connecting --TLS, upgrade, 101--> Connected --link ends--> Offline + Error --backoff--> Connecting ...

One attempt (:meth:`Uplink.attempt`): build the TLS context from the keystore
(the CertPathValidationPolicyID's CA bundle, else the system trust store;
never unverified), connect, send the upgrade (:mod:`gateway.uplink.connecting.dial`),
and on the 101 serve the gateway's ASGI app to the remote client with
:class:`~gateway.uplink.connecting.h2server.H2Server` until the link ends — by the
remote client, by 30 s of silence, or by a protocol error.  Whatever ended it
is the Error text.  Key material is read at every attempt, so a replaced
keystore entry is used from the next connection on.

Between attempts the uplink waits an individual ascending interval: a random
start in [1, 5] s, doubling, capped at 30 s, back to the start after a
connection that stayed up :data:`STABLE` seconds (docs/wire-format.md §9.4 rec); the
counting is :class:`gateway.supervision.backoff.Backoff`.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from gateway.catalog.model import KeyEntry, UplinkConfig
from gateway.supervision.backoff import Backoff
from gateway.supervision.reconciler import Job, Messages, Reconciler
from gateway.uplink.connecting import tls
from gateway.uplink.connecting.dial import NEED_DATA, Dial, DialError, Switched, Target, Variant
from gateway.uplink.connecting.h2server import DEFAULT_LIMITS, H2Server, LinkEnded, ServerLimits
from gateway.uplink.connecting.h2stream import ASGIApp
from gateway.uplink.extension import UPLINK_EXTENSION
from gateway.uplink.shared.stream import AsyncioStream, ByteStream
from gateway.uplink.shared.ws import WebSocketStream

log = logging.getLogger("gateway.uplink")

#: Seconds between reads of the uplink configurations.
INTERVAL = 2.0
#: Seconds for TCP + TLS, and then for the 101, before an attempt counts as failed.
CONNECT_TIMEOUT = 15.0
HANDSHAKE_TIMEOUT = 15.0
#: Reconnect backoff (docs/wire-format.md §9.4): random first delay in this range, doubling up to the cap.
FIRST_DELAY = (1.0, 5.0)
MAX_DELAY = 30.0
#: A connection that lasted this long was stable: the next failure starts the backoff over.
STABLE = 60.0
#: Seconds requests in flight through an uplink get to finish when it is stopped (as runtime.GRACE).
GRACE = 5.0
#: Bytes read per chunk while waiting for the 101.
_READ = 16 * 1024


class UplinkCatalog(Protocol):
    def get_uplinks(self) -> list[UplinkConfig]: ...

    def set_uplink_status(self, remote_address: str, status: str, error: str | None) -> None: ...

    def get_key(self, key_id: str) -> KeyEntry | None: ...


class Uplink:
    """One configuration's connection, kept up until cancelled."""

    def __init__(self, config: UplinkConfig, catalog: UplinkCatalog, app: ASGIApp, *,
                 limits: ServerLimits = DEFAULT_LIMITS, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.catalog, self.app, self.limits = config, catalog, app, limits
        self.backoff = Backoff.random_start(FIRST_DELAY, MAX_DELAY, rng=rng or random.Random())
        self._sleep, self._clock = sleep, clock
        self._connected_at: float | None = None  # when the last attempt got its 101
        self._server: H2Server | None = None  # while connected

    async def run(self) -> None:
        error: str | None = None
        try:
            while True:
                await self._report("Connecting", error)
                self._connected_at = None
                error = await self.attempt()
                log.warning("uplink %s: %s", self.config.remote_address, error)
                await self._report("Offline", error)
                if self._connected_at is not None and self._clock() - self._connected_at >= STABLE:
                    self.backoff.reset()
                await self._sleep(self.backoff.next())
        finally:
            await asyncio.shield(self._report("Offline", None))

    async def attempt(self) -> str:
        """Connect, upgrade and serve until the link ends; returns why it ended."""
        try:
            target = Target.parse(self.config.remote_address)
            context, token = await asyncio.to_thread(tls.credentials, self.config, self.catalog.get_key)
            dial = Dial(target, token=token)
            upgrade = dial.request()
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that races completion.
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(target.host, target.port, ssl=context,
                                                               server_hostname=target.host)
        except ssl.SSLCertVerificationError as exc:
            return f"the remote client's certificate is not trusted: {exc.verify_message}"
        except (tls.CredentialError, ValueError) as exc:  # incl. BadRemoteAddress and Unsendable
            return str(exc)
        except TimeoutError:
            return f"no TLS connection within {CONNECT_TIMEOUT:g} s"
        except OSError as exc:  # refused, unreachable, reset, TLS alerts
            return f"cannot connect: {exc.strerror or exc}"
        stream: ByteStream = AsyncioStream(reader, writer)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                switched = await self._upgrade(dial, upgrade, reader, writer)
            if switched.variant is Variant.WEBSOCKET:  # we are the WebSocket client: our frames are masked
                stream = WebSocketStream(stream, client=True, trailing=switched.leftover)
            else:
                stream = AsyncioStream(reader, writer, pending=switched.leftover)
            self._connected_at = self._clock()
            await self._report("Connected", None)
            log.info("uplink %s: connected", self.config.remote_address)
            server = H2Server(self.app, stream, limits=self.limits,
                              extensions={UPLINK_EXTENSION: {"level": self.config.user_level,
                                                             "remote": self.config.remote_address}},
                              server=writer.get_extra_info("sockname")[:2],
                              client=writer.get_extra_info("peername")[:2])
            self._server = server
            await server.serve()
            return "the remote client closed the uplink"
        except (DialError, LinkEnded) as exc:
            return str(exc)
        except TimeoutError:
            return f"no reply to the upgrade within {HANDSHAKE_TIMEOUT:g} s"
        except OSError as exc:
            return f"connection lost: {exc.strerror or exc}"
        finally:
            self._server = None
            await stream.aclose()

    async def drain(self, grace: float) -> None:
        """Let requests in flight through the current connection finish within ``grace`` seconds."""
        if self._server is not None:
            await self._server.drain(grace)

    async def _upgrade(self, dial: Dial, upgrade: bytes, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> Switched:
        writer.write(upgrade)
        await writer.drain()
        while (result := dial.receive_data(await reader.read(_READ))) is NEED_DATA:
            pass
        assert isinstance(result, Switched)
        return result

    async def _report(self, status: str, error: str | None) -> None:
        try:
            await asyncio.to_thread(self.catalog.set_uplink_status, self.config.remote_address, status, error)
        except Exception:  # the database may be briefly unavailable; the link matters more than its status
            log.exception("uplink %s: recording status %s failed", self.config.remote_address, status)


def _identity(config: UplinkConfig) -> tuple[object, ...]:
    return (config.user_level, config.certificate_id, config.authorization_server, config.cert_path_validation_policy)


class Connector:
    """Keeps one :class:`Uplink` task per configuration in the catalog (module docstring)."""

    def __init__(self, catalog: UplinkCatalog, app: ASGIApp, *, interval: float = INTERVAL, grace: float = GRACE,
                 make: Callable[[UplinkConfig], Uplink] | None = None) -> None:
        self.catalog, self.interval, self.grace = catalog, interval, grace
        self._make = make or (lambda config: Uplink(config, catalog, app))
        self.uplinks: Reconciler[UplinkConfig] = Reconciler(
            key=lambda config: config.remote_address, identity=_identity, start=self._start, log=log,
            messages=Messages(task="uplink:%s", removed="uplink %s removed; disconnecting",
                              crashed="uplink %s crashed; restarting"))

    async def run(self, stopping: asyncio.Event) -> None:
        await self.uplinks.run(stopping, self.catalog.get_uplinks, interval=self.interval,
                               what="reading the uplink configurations")

    def _start(self, config: UplinkConfig) -> Job:
        uplink = self._make(config)
        return Job(run=uplink.run(), drain=functools.partial(uplink.drain, self.grace))
