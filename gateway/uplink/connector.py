"""The Uplink connector: this gateway, behind a firewall, keeps each configured uplink up (digest §3.2-3.4).

Theory of operation
-------------------
:class:`Connector` re-reads the catalog's uplink configurations every
:data:`INTERVAL` seconds (``vmsgw uplink set`` and SetUplink write them from
anywhere): a new configuration gets an :class:`Uplink` task, a deleted one
loses it, a changed one restarts it, and a task that died of a bug is logged
and started again.  Stopping an uplink (removed, changed, or the gateway
shutting down) lets the requests in flight through it finish within
:data:`GRACE` seconds first.  All uplinks run in parallel, each on its own (digest §3.4).

Each :class:`Uplink` loops through the statuses GetUplinks reports::

    Connecting --TLS, upgrade, 101--> Connected --link ends--> Offline + Error --backoff--> Connecting ...

One attempt (:meth:`Uplink.attempt`): build the TLS context from the keystore
(the CertPathValidationPolicyID's CA bundle, else the system trust store;
never unverified), connect, send the upgrade (:mod:`gateway.uplink.dial`),
and on the 101 serve the gateway's ASGI app to the remote client with
:class:`~gateway.uplink.h2server.H2Server` until the link ends — by the
remote client, by 30 s of silence, or by a protocol error.  Whatever ended it
is the Error text.  Key material is read at every attempt, so a replaced
keystore entry is used from the next connection on.

Between attempts the uplink waits an individual ascending interval: a random
start in [1, 5] s, doubling, capped at 30 s, back to the start after a
connection that stayed up :data:`STABLE` seconds (digest §3.4 rec).
"""
from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from gateway.catalog.model import KeyEntry, UplinkConfig
from gateway.uplink import tls
from gateway.uplink.dial import NEED_DATA, Dial, DialError, Switched, Target, Variant
from gateway.uplink.extension import UPLINK_EXTENSION
from gateway.uplink.h2server import (
    DEFAULT_LIMITS,
    ASGIApp,
    H2Server,
    LinkError,
    ServerLimits,
)
from gateway.uplink.stream import AsyncioStream, ByteStream
from gateway.uplink.ws import WebSocketStream

log = logging.getLogger("gateway.uplink")

#: Seconds between reads of the uplink configurations.
INTERVAL = 2.0
#: Seconds for TCP + TLS, and then for the 101, before an attempt counts as failed.
CONNECT_TIMEOUT = 15.0
HANDSHAKE_TIMEOUT = 15.0
#: Reconnect backoff (digest §3.4): random first delay in this range, doubling up to the cap.
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


class Backoff:
    """Individual ascending reconnect delays: ``rng`` picks the start once, then it doubles to the cap."""

    def __init__(self, rng: random.Random) -> None:
        self._first = rng.uniform(*FIRST_DELAY)
        self._next = self._first

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, MAX_DELAY)
        return delay

    def reset(self) -> None:
        self._next = self._first


class Uplink:
    """One configuration's connection, kept up until cancelled."""

    def __init__(self, config: UplinkConfig, catalog: UplinkCatalog, app: ASGIApp, *,
                 limits: ServerLimits = DEFAULT_LIMITS, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.catalog, self.app, self.limits = config, catalog, app, limits
        self.backoff = Backoff(rng or random.Random())
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
        except (DialError, LinkError) as exc:
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
        self._tasks: dict[str, tuple[tuple[object, ...], Uplink, asyncio.Task[None]]] = {}

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            while not stopping.is_set():
                try:
                    configs = await asyncio.to_thread(self.catalog.get_uplinks)
                except Exception:  # keep the running uplinks through a database hiccup
                    log.exception("reading the uplink configurations failed")
                else:
                    await self._reconcile({c.remote_address: c for c in configs})
                try:
                    async with asyncio.timeout(self.interval):
                        await stopping.wait()
                except TimeoutError:
                    pass
        finally:
            await asyncio.gather(*(self._stop(address) for address in list(self._tasks)))

    async def _reconcile(self, configs: dict[str, UplinkConfig]) -> None:
        for address in [a for a in self._tasks if a not in configs]:
            log.info("uplink %s removed; disconnecting", address)
            await self._stop(address)
        for address, config in configs.items():
            running = self._tasks.get(address)
            if running is not None and running[0] == _identity(config) and not running[2].done():
                continue
            if running is not None:
                task = running[2]
                if task.done() and not task.cancelled() and task.exception():
                    log.error("uplink %s crashed; restarting", address, exc_info=task.exception())
                await self._stop(address)  # its last status write lands before the new task's first
            uplink = self._make(config)
            task = asyncio.create_task(uplink.run(), name=f"uplink:{address}")
            self._tasks[address] = (_identity(config), uplink, task)

    async def _stop(self, address: str) -> None:
        _, uplink, task = self._tasks.pop(address)
        await uplink.drain(self.grace)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
