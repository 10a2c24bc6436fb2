"""The device side of an uplink: an HTTP/2 server over an open byte stream, one ASGI call per stream.

Theory of operation
-------------------
After the upgrade the remote client is the HTTP/2 *client* on a connection
this gateway opened (docs/wire-format.md §9.2, phase 3); h2 runs with ``client_side=False``
on it.  :meth:`H2Server.serve` owns three kinds of task:

* the **reader** feeds received bytes to h2 and hands its events to the
  streams (:class:`~gateway.uplink.connecting.h2stream.StreamCall`): a request starts an
  app task, DATA is queued for the app, a reset cancels the app task, a
  window update wakes the senders;
* one **app task** per stream runs the ASGI app with a scope built from the
  request headers plus ``extensions`` (the connector passes
  ``{"vmsgw.uplink": {"level", "remote"}}``, which the runtime's pre-authentication hook reads);
* the **keepalive** sends a PING every ``ping_interval`` and ends the link when
  nothing at all was received for ``silence_timeout`` (docs/wire-format.md §9.4: reconnect
  after 30 s without a packet; the peer's PING ACK counts).

Whichever of reader and keepalive ends first decides how :meth:`serve` ends:
it returns when the peer closed the connection or sent GOAWAY, and raises
:class:`LinkSilent` or :class:`LinkBroken` otherwise; the app tasks are
cancelled and a GOAWAY is sent if the connection still stands.  At shutdown
:meth:`H2Server.drain` first refuses new streams and lets running ones finish
within a grace period (a waiting PullMessages answers empty meanwhile).

Rules:

1. Memory is bounded by flow control: a stream buffers at most its window
   (65,535 bytes), because its DATA is handed back to the stream's window only
   when the app takes it, and all streams together at most ``max_streams``
   windows.  The connection's window is credited on arrival, so an app that
   stops reading (a long-lived stream, docs/wire-format.md §13) stalls its own
   stream only.  A body over ``max_body_bytes`` is answered 413 and the stream
   reset, except an RTSP tunnel's POST (``unbounded_types``), whose body lasts
   the session.
2. Concurrency is bounded by ``max_streams``, advertised as
   SETTINGS_MAX_CONCURRENT_STREAMS; h2 answers a peer that opens more with
   GOAWAY(PROTOCOL_ERROR), and :meth:`serve` raises :class:`LinkBroken`.
3. Bytes are written in the order h2 produced them: ``data_to_send()`` and the
   write happen under one FIFO lock.  A failed write ends the link.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.connection import ConnectionState
from h2.errors import ErrorCodes

from gateway.uplink.connecting.h2stream import ASGIApp, StreamCall, build_scope
from gateway.uplink.shared.stream import ByteStream

log = logging.getLogger("gateway.uplink")

#: Connection-level receive window, credited on arrival (rule 1): room for several streams' frames in flight.
CONNECTION_WINDOW = 1 << 20
#: Seconds a GOAWAY gets to leave when the server stops.
GOODBYE_TIMEOUT = 1.0


@dataclass(frozen=True, kw_only=True)
class ServerLimits:
    """What one uplink's server allows; tests scale the timers down."""

    #: SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2 recommends at least 100): an RTSP tunnel takes two
    #: streams, so this leaves room for 100 streamed sessions and the SOAP exchanges (docs/wire-format.md §13.3).
    max_streams: int = 256
    max_body_bytes: int = 2 << 20  # above the SOAP app's own 1 MiB cap, so the app answers first
    ping_interval: float = 10.0  # docs/wire-format.md §9.4 rec: traffic at least every ~20 s
    silence_timeout: float = 30.0  # docs/wire-format.md §9.4: no packet for 30 s -> close and reconnect
    #: Request content types whose body is a stream for the exchange's lifetime, exempt from ``max_body_bytes``.
    unbounded_types: frozenset[bytes] = frozenset({b"application/x-rtsp-tunnelled"})


#: The limits the uplink runs with unless a caller (a test) scales them down.
DEFAULT_LIMITS = ServerLimits()


class LinkEnded(Exception):
    """The uplink connection ended abnormally; ``str()`` is the reason."""


class LinkSilent(LinkEnded):
    """Nothing was received within the silence timeout."""


class LinkBroken(LinkEnded):
    """The peer violated HTTP/2; a GOAWAY naming the error was sent."""


class H2Server:
    """Serves ``app`` on ``stream``; ``server``/``client`` are the scope's addresses (local and remote socket)."""

    def __init__(self, app: ASGIApp, stream: ByteStream, *, extensions: Mapping[str, Any],
                 server: tuple[str, int] | None = None, client: tuple[str, int] | None = None,
                 limits: ServerLimits = DEFAULT_LIMITS) -> None:
        self._app, self._io, self._limits = app, stream, limits
        self._extensions, self._server, self._client = dict(extensions), server, client
        self._conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self._conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_streams})
        self._streams: dict[int, StreamCall] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}  # the app's, per stream
        self._write_lock = asyncio.Lock()
        self._last_received = 0.0
        self._outcome: asyncio.Future[None]  # set by serve(): how the link ended
        self.active_high_water = 0  # most app tasks ever running at once, for tests and logs
        self._draining = False  # new streams are refused (REFUSED_STREAM: the peer may retry them elsewhere)

    async def serve(self) -> None:
        """Serve until the peer ends the connection (returns) or a :class:`LinkEnded` ends it."""
        loop = asyncio.get_running_loop()
        self._last_received = loop.time()
        self._outcome = loop.create_future()
        self._conn.initiate_connection()
        self._conn.increment_flow_control_window(CONNECTION_WINDOW - self._conn.inbound_flow_control_window)
        helpers = [asyncio.create_task(self._guard(self._read())), asyncio.create_task(self._guard(self._keepalive()))]
        try:
            await self._flush()
            await self._outcome
        finally:
            pending = [*helpers, *self._tasks.values()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if self._conn.state_machine.state is not h2.connection.ConnectionState.CLOSED:
                self._conn.close_connection()
                try:
                    async with asyncio.timeout(GOODBYE_TIMEOUT):
                        await self._flush()
                except TimeoutError:
                    pass

    async def _guard(self, work: Awaitable[None]) -> None:
        """Run the reader or the keepalive; whichever ends first decides how :meth:`serve` ends."""
        try:
            await work
            self._end(None)
        except LinkEnded as exc:
            self._end(exc)
        except Exception as exc:  # a bug here must end the link visibly, not hang it
            log.exception("uplink: HTTP/2 server failure")
            self._end(LinkBroken(f"internal error: {exc!r}"))

    def _end(self, exc: LinkEnded | None) -> None:
        if self._outcome.done():
            return
        if exc is None:
            self._outcome.set_result(None)
        else:
            self._outcome.set_exception(exc)

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while data := await self._io.read():
            self._last_received = loop.time()
            try:
                events = self._conn.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                await self._flush()  # the GOAWAY h2 queued
                raise LinkBroken(f"HTTP/2 protocol error from the remote client: {exc}") from None
            for event in events:
                if isinstance(event, h2.events.ConnectionTerminated):
                    log.info("uplink: the remote client sent GOAWAY (%s)", event.error_code)
                    return
                self._dispatch(event)
            await self._flush()

    def _dispatch(self, event: h2.events.Event) -> None:
        stream_id = getattr(event, "stream_id", 0) or 0
        call = self._streams.get(stream_id)
        if isinstance(event, h2.events.RequestReceived):
            self._start(stream_id, event.headers or [])
        elif isinstance(event, h2.events.DataReceived):
            # Rule 1: the connection's window at once (unless a GOAWAY in the same read closed it), the stream's
            # when taken.
            if event.flow_controlled_length and self._conn.state_machine.state is not ConnectionState.CLOSED:
                self._conn.increment_flow_control_window(event.flow_controlled_length)
            if call is None or call.finished:  # nobody will read it
                return
            call.on_data(event.data or b"", event.flow_controlled_length)
            if call.capped and call.received > self._limits.max_body_bytes:
                self._tasks[stream_id].cancel()
                call.refuse_body()
        elif isinstance(event, h2.events.StreamEnded) and call is not None:
            call.on_end()
        elif isinstance(event, h2.events.StreamReset) and call is not None:
            call.on_reset()
            self._tasks[stream_id].cancel()
        elif isinstance(event, h2.events.WindowUpdated) and call is not None:
            call.wake()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)) and stream_id == 0:
            for each in self._streams.values():
                each.wake()

    async def drain(self, grace: float) -> None:
        """End gracefully: refuse new streams, give running ones ``grace`` seconds, then :meth:`serve` returns."""
        self._draining = True
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=grace)
        self._end(None)

    def _start(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        if self._draining:
            self._conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        scope = build_scope(headers, server=self._server, client=self._client, extensions=self._extensions)
        if scope is None:  # CONNECT: no :path to route (extended CONNECT is not offered)
            self._conn.send_headers(stream_id, [(b":status", b"501")], end_stream=True)
            return
        call = self._streams[stream_id] = StreamCall(self._conn, stream_id, self._flush)
        call.capped = _content_type(headers) not in self._limits.unbounded_types
        task = self._tasks[stream_id] = asyncio.create_task(call.run(self._app, scope), name=f"uplink-{stream_id}")
        task.add_done_callback(lambda _: (self._streams.pop(stream_id, None), self._tasks.pop(stream_id, None)))
        self.active_high_water = max(self.active_high_water, len(self._tasks))

    async def _keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self._limits.ping_interval
        while True:
            now = loop.time()
            deadline = self._last_received + self._limits.silence_timeout
            if now >= deadline:
                raise LinkSilent(f"nothing received from the remote client for {self._limits.silence_timeout:g} s")
            if now >= next_ping:
                try:
                    self._conn.ping(os.urandom(8))
                except h2.exceptions.ProtocolError:  # the connection is closing; the reader ends it
                    return
                await self._flush()
                next_ping = now + self._limits.ping_interval
            await asyncio.sleep(min(deadline, next_ping) - now)

    async def _flush(self) -> None:
        data = self._conn.data_to_send()
        if not data:
            return
        async with self._write_lock:
            try:
                await self._io.write(data)
            except (ConnectionError, OSError) as exc:  # every later write fails the same way; serve() ends
                self._end(LinkBroken(f"writing to the remote client failed: {exc}"))


def _content_type(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The media type of a request, lower-cased, without parameters."""
    for name, value in headers:
        if name == b"content-type":
            return value.partition(b";")[0].strip().lower()
    return b""
