"""One request stream of the uplink's HTTP/2 server, served by one ASGI HTTP call.

:class:`StreamCall` sits between the connection's reader
(:mod:`gateway.uplink.connecting.h2server`), which feeds it h2 events through the
``on_*`` methods, and the app, which calls ``receive()`` and ``send()``.

Rules:

1. Request DATA is handed back to the peer's stream window only when the app
   takes it (the server credits the connection's window on arrival), so a
   stream never buffers more than its window and a stalled app stalls only
   its own stream.
2. Response DATA never overruns the peer's windows or frame size: the sender
   waits for a WINDOW_UPDATE (:meth:`StreamCall.wake`).
3. An app that fails before its response starts gets a 500; after, or one
   that returns without finishing, gets its stream reset (INTERNAL_ERROR).
4. A response finished while the peer still uploads resets the stream with
   NO_ERROR (RFC 9113 §8.1), and what the app left unread is dropped.
5. After a reset, ``send()`` is a no-op and ``receive()`` says
   ``http.disconnect``; the reader also cancels the app task.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

import h2.connection
import h2.exceptions
from h2.connection import ConnectionState
from h2.errors import ErrorCodes

log = logging.getLogger("gateway.uplink")

Message = dict[str, Any]
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]
Flush = Callable[[], Awaitable[None]]

#: Stream window handed back once the app took this much: fewer WINDOW_UPDATEs, half the default window.
CREDIT_BATCH = 32 * 1024
#: Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2); an app written for HTTP/1.1 may set them.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})


def build_scope(headers: list[tuple[bytes, bytes]], *, server: tuple[str, int] | None,
                client: tuple[str, int] | None, extensions: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ASGI http scope of a request, ``:authority`` as ``host``; None without ``:path`` (CONNECT)."""
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
        "root_path": "", "headers": regular, "server": server, "client": client, "extensions": dict(extensions),
    }


class StreamCall:
    def __init__(self, conn: h2.connection.H2Connection, stream_id: int, flush: Flush) -> None:
        self._conn, self.id, self._flush = conn, stream_id, flush
        self._body: deque[tuple[bytes, int]] = deque()  # (data, flow-controlled length) not yet taken
        self.received = 0  # request body bytes so far
        self.capped = True  # the server's body cap applies (not to a tunnel's POST)
        self._uncredited = 0  # taken by the app, not yet handed back to the stream's window
        self._request_ended = False  # the peer sent END_STREAM
        self._request_delivered = False  # the app got the last http.request
        self._started = self.finished = self._reset = False
        self._changed = asyncio.Event()  # body arrived, a window opened, or the stream ended

    # -- fed by the connection's reader -------------------------------------------------------------
    def on_data(self, data: bytes, flow: int) -> None:
        self.received += len(data)
        self._body.append((data, flow))
        self._changed.set()

    def on_end(self) -> None:
        self._request_ended = True
        self._changed.set()

    def on_reset(self) -> None:
        self._reset = True
        self._changed.set()

    def wake(self) -> None:
        self._changed.set()

    def refuse_body(self) -> None:
        """The body passed the cap: 413 if the response has not started, and the stream reset."""
        self._discard_body()
        self.finished = True
        self._changed.set()
        if not self._started:
            self._conn.send_headers(self.id, [(b":status", b"413")], end_stream=True)
        self._conn.reset_stream(self.id, ErrorCodes.CANCEL if self._started else ErrorCodes.NO_ERROR)

    # -- the app's side -----------------------------------------------------------------------------
    async def run(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self._guarded_receive, self._guarded_send)
        except Exception:
            log.exception("uplink: the application failed on %s %s", scope["method"], scope["path"])
        if self.finished or self._reset:
            return
        self.finished = True
        try:
            if not self._started:
                self._conn.send_headers(self.id, [(b":status", b"500"), (b"content-length", b"0")], end_stream=True)
            else:
                self._conn.reset_stream(self.id, ErrorCodes.INTERNAL_ERROR)
        except h2.exceptions.ProtocolError:
            return
        await self._flush()

    async def _guarded_receive(self) -> Message:
        try:
            return await self._receive()
        except h2.exceptions.ProtocolError:  # the connection closed under us
            self._reset = True
            return {"type": "http.disconnect"}

    async def _guarded_send(self, message: Message) -> None:
        try:
            await self._send(message)
        except h2.exceptions.ProtocolError:  # the stream or the connection closed under us
            self._reset = True

    async def _receive(self) -> Message:
        while True:
            if self._reset or self.finished:
                return {"type": "http.disconnect"}
            if self._body:
                data, flow = self._body.popleft()
                await self._credit(flow)
                more = bool(self._body) or not self._request_ended
                self._request_delivered = not more
                return {"type": "http.request", "body": data, "more_body": more}
            if self._request_ended and not self._request_delivered:
                self._request_delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            self._changed.clear()
            await self._changed.wait()

    async def _send(self, message: Message) -> None:
        if self._reset or self.finished:
            return  # the peer is gone (or the body was refused): nobody reads this
        if message["type"] == "http.response.start":
            if self._started:
                raise RuntimeError("http.response.start sent twice")
            headers = [(b":status", str(message["status"]).encode())]
            headers += [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())
                        if bytes(n).lower() not in _HOP_BY_HOP]
            self._started = True
            self._conn.send_headers(self.id, headers)
            await self._flush()
        elif message["type"] == "http.response.body":
            if not self._started:
                raise RuntimeError("http.response.body before http.response.start")
            end = not message.get("more_body", False)
            await self._send_data(bytes(message.get("body", b"")), end=end)
            if end and not self._reset:
                self.finished = True
                self._changed.set()  # a receive() still waiting learns the call is over
                if not self._request_ended:  # answered without reading it all: stop the upload
                    self._conn.reset_stream(self.id, ErrorCodes.NO_ERROR)
                self._discard_body()
                await self._flush()

    async def _send_data(self, data: bytes, *, end: bool) -> None:
        view = memoryview(data)
        while not self._reset:
            if not view:
                if end:
                    self._conn.end_stream(self.id)
                return
            room = min(self._conn.local_flow_control_window(self.id), self._conn.max_outbound_frame_size)
            if room <= 0:
                self._changed.clear()
                await self._changed.wait()
                continue
            chunk, view = view[:room], view[room:]
            self._conn.send_data(self.id, chunk.tobytes(), end_stream=end and not view)
            await self._flush()
            if not view:
                return

    async def _credit(self, flow: int) -> None:
        """Hand taken bytes back to the stream's window in batches, while the peer may still send."""
        self._uncredited += flow
        if self._uncredited < CREDIT_BATCH or self._request_ended:
            return
        increment, self._uncredited = self._uncredited, 0
        stream = self._conn.streams.get(self.id)
        if stream is not None and not stream.closed and self._conn.state_machine.state is not ConnectionState.CLOSED:
            self._conn.increment_flow_control_window(increment, stream_id=self.id)
            await self._flush()

    def _discard_body(self) -> None:
        self._body.clear()
