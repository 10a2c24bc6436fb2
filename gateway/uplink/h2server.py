"""The device side of an uplink: an HTTP/2 server over an open byte stream, one ASGI call per stream.

Theory of operation
-------------------
After the upgrade the remote client is the HTTP/2 *client* on a connection
this gateway opened (digest §3.2, phase 3); h2 runs with ``client_side=False``
on it.  :meth:`H2Server.serve` owns three kinds of task:

* the **reader** (the ``serve`` task itself) feeds received bytes to h2 and
  turns its events into per-stream state: a request starts an app task,
  DATA is queued for the app, a reset cancels the app task, a window update
  wakes the senders;
* one **app task** per stream runs the ASGI app with a scope built from the
  request headers plus ``extensions`` (the connector passes
  ``{"vmsgw.uplink": {"level", "remote"}}``, which the SOAP layer reads);
* the **keepalive** sends a PING every ``ping_interval`` and ends the link when
  nothing at all was received for ``silence_timeout`` (digest §3.4: reconnect
  after 30 s without a packet; the peer's PING ACK counts).

Rules:

1. Memory is bounded by flow control.  Received DATA is acknowledged to the
   peer only when the app takes it (``receive()``), so a stream buffers at
   most its window and the connection at most :data:`CONNECTION_WINDOW`.  A
   body over ``max_body_bytes`` is answered 413 and the stream reset.
2. Concurrency is bounded by ``max_streams``, advertised as
   SETTINGS_MAX_CONCURRENT_STREAMS; h2 answers a peer that opens more with
   GOAWAY, and :meth:`serve` raises :class:`LinkBroken`.
3. Responses honour the peer's windows and frame size: a sender waits for a
   WINDOW_UPDATE instead of overrunning (large responses, many streams).
4. An app that fails before its response starts gets a 500; after, or one
   that returns without finishing, gets its stream reset.  A stream the app
   finished while the peer still sends is reset with NO_ERROR (RFC 9113 §8.1).
5. Bytes are written in the order h2 produced them: ``data_to_send()`` and the
   write happen under one FIFO lock.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes

from gateway.uplink.stream import ByteStream

log = logging.getLogger("gateway.uplink")

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]],
                    Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]

#: Connection-level receive window: bounds the request bytes buffered across all streams together.
CONNECTION_WINDOW = 1 << 20
#: Seconds a GOAWAY gets to leave when the server stops.
GOODBYE_TIMEOUT = 1.0
#: Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2); an app written for HTTP/1.1 may set them.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})


@dataclass(frozen=True, kw_only=True)
class ServerLimits:
    max_streams: int = 100  # SETTINGS_MAX_CONCURRENT_STREAMS; RFC 9113 §6.5.2 recommends at least 100
    max_body_bytes: int = 2 << 20  # above the SOAP app's own 1 MiB cap, so the app answers first
    ping_interval: float = 10.0  # digest §3.4 rec: traffic at least every ~20 s
    silence_timeout: float = 30.0  # digest §3.4: no packet for 30 s -> close and reconnect


#: The limits the uplink runs with unless a caller (a test) scales them down.
DEFAULT_LIMITS = ServerLimits()


class LinkError(Exception):
    """The uplink connection ended abnormally; ``str()`` is the reason."""


class LinkSilent(LinkError):
    """Nothing was received within the silence timeout."""


class LinkBroken(LinkError):
    """The peer violated HTTP/2; a GOAWAY naming the error was sent."""


class _Stream:
    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.body: deque[tuple[bytes, int]] = deque()  # (data, flow-controlled length) not yet taken
        self.received = 0
        self.request_ended = False  # the peer sent END_STREAM
        self.request_delivered = False  # the app got the last http.request
        self.started = self.finished = self.reset = False
        self.changed = asyncio.Event()  # body arrived, the window opened, or the stream ended
        self.task: asyncio.Task[None] | None = None  # the app's


class H2Server:
    def __init__(self, app: ASGIApp, stream: ByteStream, *, extensions: Mapping[str, Any],
                 server: tuple[str, int] | None = None, client: tuple[str, int] | None = None,
                 limits: ServerLimits = DEFAULT_LIMITS) -> None:
        self._app, self._io, self._limits = app, stream, limits
        self._extensions, self._server, self._client = dict(extensions), server, client
        self._conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self._conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_streams})
        self._streams: dict[int, _Stream] = {}
        self._write_lock = asyncio.Lock()
        self._last_received = 0.0
        self._outcome: asyncio.Future[None]  # set by serve(): how the link ended
        self.active_high_water = 0  # most app tasks ever running at once, for tests and logs

    async def serve(self) -> None:
        """Serve until the peer ends the connection (returns) or a :class:`LinkError` ends it."""
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
            pending = [*helpers, *(s.task for s in self._streams.values() if s.task is not None)]
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
        except LinkError as exc:
            self._end(exc)
        except Exception as exc:  # a bug here must end the link visibly, not hang it
            log.exception("uplink: HTTP/2 server failure")
            self._end(LinkBroken(f"internal error: {exc!r}"))

    def _end(self, exc: LinkError | None) -> None:
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
        stream = self._streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.RequestReceived):
            self._start(event.stream_id, event.headers or [])
        elif isinstance(event, h2.events.DataReceived):
            if stream is None or stream.finished:  # nobody will read it: hand the window back at once
                self._conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                return
            stream.received += len(event.data or b"")
            stream.body.append((event.data or b"", event.flow_controlled_length))
            if stream.received > self._limits.max_body_bytes:
                self._refuse_body(stream)
        elif isinstance(event, h2.events.StreamEnded) and stream is not None:
            stream.request_ended = True
        elif isinstance(event, h2.events.StreamReset) and stream is not None:
            stream.reset = True
            if stream.task is not None:
                stream.task.cancel()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)) and stream is None:
            for each in self._streams.values():
                each.changed.set()
        if stream is not None:
            stream.changed.set()

    def _start(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        scope = self._scope(headers)
        if scope is None:  # CONNECT: no :path to route (extended CONNECT is not offered)
            self._conn.send_headers(stream_id, [(b":status", b"501")], end_stream=True)
            return
        stream = self._streams[stream_id] = _Stream(stream_id)
        stream.task = asyncio.create_task(self._run_app(stream, scope), name=f"uplink-stream-{stream_id}")
        stream.task.add_done_callback(lambda _: self._streams.pop(stream_id, None))
        self.active_high_water = max(self.active_high_water, len(self._streams))

    def _scope(self, headers: list[tuple[bytes, bytes]]) -> dict[str, Any] | None:
        pseudo = {name: value for name, value in headers if name.startswith(b":")}
        regular = [(name, value) for name, value in headers if not name.startswith(b":")]
        if b":path" not in pseudo:
            return None
        if b":authority" in pseudo and not any(name == b"host" for name, _ in regular):
            regular.insert(0, (b"host", pseudo[b":authority"]))
        raw_path, _, query = pseudo[b":path"].partition(b"?")
        return {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "2",
            "method": pseudo.get(b":method", b"GET").decode("latin-1"), "scheme": "https",
            "path": unquote(raw_path.decode("latin-1")), "raw_path": raw_path, "query_string": query,
            "root_path": "", "headers": regular, "server": self._server, "client": self._client,
            "extensions": dict(self._extensions),
        }

    def _refuse_body(self, stream: _Stream) -> None:
        if stream.task is not None:
            stream.task.cancel()
        self._discard_body(stream)
        stream.finished = True
        if not stream.started:
            self._conn.send_headers(stream.id, [(b":status", b"413")], end_stream=True)
        self._conn.reset_stream(stream.id, ErrorCodes.NO_ERROR if not stream.started else ErrorCodes.CANCEL)

    def _discard_body(self, stream: _Stream) -> None:
        for _, flow in stream.body:
            self._conn.acknowledge_received_data(flow, stream.id)
        stream.body.clear()

    async def _run_app(self, stream: _Stream, scope: dict[str, Any]) -> None:
        async def receive() -> dict[str, Any]:
            try:
                return await self._receive(stream)
            except h2.exceptions.ProtocolError:  # the connection closed under us
                stream.reset = True
                return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            try:
                await self._send(stream, message)
            except h2.exceptions.ProtocolError:  # the stream or the connection closed under us
                stream.reset = True

        try:
            await self._app(scope, receive, send)
        except Exception:
            log.exception("uplink: the application failed on %s %s", scope["method"], scope["path"])
        if stream.finished or stream.reset:
            return
        stream.finished = True
        try:
            if not stream.started:
                self._conn.send_headers(stream.id, [(b":status", b"500"), (b"content-length", b"0")],
                                        end_stream=True)
            else:
                self._conn.reset_stream(stream.id, ErrorCodes.INTERNAL_ERROR)
        except h2.exceptions.ProtocolError:
            return
        await self._flush()

    async def _receive(self, stream: _Stream) -> dict[str, Any]:
        while True:
            if stream.reset or stream.finished:
                return {"type": "http.disconnect"}
            if stream.body:
                data, flow = stream.body.popleft()
                self._conn.acknowledge_received_data(flow, stream.id)
                await self._flush()
                more = bool(stream.body) or not stream.request_ended
                stream.request_delivered = not more
                return {"type": "http.request", "body": data, "more_body": more}
            if stream.request_ended and not stream.request_delivered:
                stream.request_delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            stream.changed.clear()
            await stream.changed.wait()

    async def _send(self, stream: _Stream, message: dict[str, Any]) -> None:
        if stream.reset or stream.finished:
            return  # the peer is gone (or the body was refused): nobody reads this
        if message["type"] == "http.response.start":
            if stream.started:
                raise RuntimeError("http.response.start sent twice")
            headers = [(b":status", str(message["status"]).encode())]
            headers += [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())
                        if bytes(n).lower() not in _HOP_BY_HOP]
            stream.started = True
            self._conn.send_headers(stream.id, headers)
            await self._flush()
        elif message["type"] == "http.response.body":
            if not stream.started:
                raise RuntimeError("http.response.body before http.response.start")
            end = not message.get("more_body", False)
            await self._send_data(stream, bytes(message.get("body", b"")), end=end)
            if end:
                stream.finished = True
                if not stream.request_ended:  # the app answered without reading it all: stop the upload
                    self._conn.reset_stream(stream.id, ErrorCodes.NO_ERROR)
                self._discard_body(stream)
                await self._flush()

    async def _send_data(self, stream: _Stream, data: bytes, *, end: bool) -> None:
        view = memoryview(data)
        while True:
            if stream.reset:
                return
            if not view:
                if end:
                    self._conn.end_stream(stream.id)
                return
            room = min(self._conn.local_flow_control_window(stream.id), self._conn.max_outbound_frame_size)
            if room > 0:
                chunk, view = view[:room], view[room:]
                self._conn.send_data(stream.id, chunk.tobytes(), end_stream=end and not view)
                await self._flush()
                if not view:
                    return
                continue
            stream.changed.clear()
            await stream.changed.wait()

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
