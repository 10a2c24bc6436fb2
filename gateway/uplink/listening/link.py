"""The remote client's HTTP/2 over an uplink (docs/wire-format.md §9.2 phase 3): a client on a connection the peer
opened.

Theory of operation
-------------------
After the 101, this gateway speaks first: the connection preface and its
SETTINGS, then requests on odd streams, "as if the connection were initiated
from the cloud".  h2 does the protocol (``client_side=True``); :class:`Link`
is its I/O shell, with three tasks under one supervisor (``_run``):

* the **reader** feeds every received byte to h2 and dispatches the events
  through a table (responses, data, ends, resets, window and settings changes);
* the **writer** alone writes, whatever h2 has queued, whenever woken; a write
  that the peer does not take within ``write_timeout`` kills the link;
* the **watchdog** sends a PING every ``ping_interval`` (the connector must
  hear from us at least every 30 s, docs/wire-format.md §9.4) and kills the link when
  nothing at all has arrived for ``dead_after``.

Rules:

1. Everything that ends the link goes through ``_die(reason)``, once: every
   waiting request fails with :class:`LinkClosed`, the queued GOAWAY (if any)
   is flushed when the writer is idle, the stream is closed.
2. A request waits for a slot below the peer's SETTINGS_MAX_CONCURRENT_STREAMS
   and, for its body, for flow-control window; both waits end when the reader
   reports a change, and all of it is bounded by the request's timeout, after
   which the stream is reset (CANCEL) and :class:`LinkTimeout` raised.
3. Responses are collected up to ``max_response`` bytes (then the stream is
   reset and :class:`StreamError` raised); received data is acknowledged at
   once, so the window never starves other streams.
4. The peer is an HTTP/2 *server*: it may not open streams.  We advertise
   ENABLE_PUSH=0 and MAX_CONCURRENT_STREAMS=0, so a PUSH_PROMISE or a HEADERS
   on a new stream is a connection error: h2 queues GOAWAY(PROTOCOL_ERROR) and
   the link dies, without touching any other link.
5. A GOAWAY from the peer ends the link at once: h2 refuses every frame after
   it, so even the streams the peer promised to finish cannot; their requests
   fail with :class:`LinkClosed` and are retried on the connector's next link.
6. A :class:`Channel` (``open_channel``) is an exchange whose bodies flow while
   it lasts, both ways (an RTSP tunnel's GET and POST, docs/wire-format.md §13).
   Its DATA is credited to the connection on arrival but to the stream only as
   the caller reads it: a reader that stalls holds at most one stream window
   and stalls only its own stream.  Its writes wait for the peer's windows.
"""
from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from h2 import events as ev
from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.errors import ErrorCodes
from h2.exceptions import NoAvailableStreamIDError, ProtocolError
from h2.settings import SettingCodes, Settings

from gateway.uplink.listening.errors import LinkClosed, LinkError, LinkTimeout, StreamError
from gateway.uplink.shared.stream import ByteStream

log = logging.getLogger("gateway.uplink")

#: Our receive windows: large enough that a 1 MB SOAP reply needs no round trip per 64 KiB.
STREAM_WINDOW = 1024 * 1024
CONNECTION_WINDOW = 16 * 1024 * 1024
#: Largest response header block we accept (SETTINGS_MAX_HEADER_LIST_SIZE).
MAX_HEADER_LIST = 64 * 1024
#: A channel hands stream window back once this much of it was read: fewer WINDOW_UPDATEs, never a stall.
CREDIT_BATCH = 64 * 1024
#: Headers HTTP/2 forbids (RFC 9113 §8.2.2); Host travels as :authority.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade",
                         b"host", b"te"})


@dataclass(frozen=True, kw_only=True)
class LinkLimits:
    #: A PING this often: well inside the connector's 30 s silence rule (docs/wire-format.md §9.4).
    ping_interval: float = 10.0
    #: Dead when nothing arrived for this long: two PINGs unanswered, and still before the peer's 30 s.
    dead_after: float = 25.0
    #: The peer's SETTINGS must arrive this soon after our preface.
    start_timeout: float = 10.0
    #: A write the peer does not take within this means it stopped reading.
    write_timeout: float = 20.0
    #: Per request, when the caller gives none.
    request_timeout: float = 30.0
    #: Largest response body; a segment reply is capped at 8 MiB above us, media may be more.
    max_response: int = 16 * 1024 * 1024

    @classmethod
    def idle_timeout(cls, seconds: float) -> LinkLimits:
        """Limits under which a link that hears nothing for ``seconds`` is dead (``serve --uplink-idle-timeout``).

        The PINGs keep their share of it (``dead_after / ping_interval`` as by default: two go
        unanswered before the link dies) but never grow rarer than the default interval,
        which the peer's 30 s silence rule needs.  A peer that answers them is never cut
        while idle, whatever ``seconds``.
        """
        default = cls()
        return cls(dead_after=seconds,
                   ping_interval=min(default.ping_interval, seconds * default.ping_interval / default.dead_after))


class Response(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class _Exchange:
    future: asyncio.Future[None]
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


@dataclass
class _Flow:
    """What a channel's stream has received and not yet handed to its reader."""

    head: asyncio.Event = field(default_factory=asyncio.Event)  # the response headers came, or it failed
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: deque[tuple[bytes, int]] = field(default_factory=deque)  # (data, flow-controlled length)
    readable: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False  # END_STREAM received
    error: LinkError | None = None
    uncredited: int = 0  # read but not yet handed back to the peer's stream window


class Channel:
    """One stream of a link whose request and response bodies flow while it lasts; made by :meth:`Link.open_channel`.

    ``read()`` gives the response body as it arrives and ``b""`` at its end;
    ``write()`` sends request body under the peer's flow control.  Both raise
    :class:`StreamError` once the stream is reset or closed and
    :class:`LinkClosed` once the link is gone.  ``close()`` resets the stream
    if it is still open and is idempotent.
    """

    def __init__(self, link: Link, sid: int, flow: _Flow) -> None:
        self._link, self.id, self._flow = link, sid, flow

    async def response(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The response's status and headers, once they arrive."""
        await self._flow.head.wait()
        if self._flow.status == 0:
            raise self._flow.error or StreamError("no response")
        return self._flow.status, self._flow.headers

    async def read(self) -> bytes:
        flow = self._flow
        while True:
            if flow.chunks:
                data, length = flow.chunks.popleft()
                self._link._credit(self.id, flow, length)
                return data
            if flow.error is not None:
                raise flow.error
            if flow.ended:
                return b""
            flow.readable.clear()
            await flow.readable.wait()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            room = self._link._room(self.id, self._flow)
            if room <= 0:
                await self._link._changed.wait()
                continue
            chunk, view = view[:room], view[room:]
            try:
                self._link._h2.send_data(self.id, chunk.tobytes())
            except ProtocolError:  # the request body was ended
                raise StreamError("the request body is closed") from None
            self._link._wake.set()

    async def end(self) -> None:
        """END_STREAM on the request body."""
        self._link._room(self.id, self._flow)
        try:
            self._link._h2.end_stream(self.id)
        except ProtocolError:
            raise StreamError("the request body is closed") from None
        self._link._wake.set()

    def close(self) -> None:
        if self._flow.error is None:
            self._flow.error = StreamError("the channel is closed")
        self._link._forget_channel(self.id)


class Link:
    """An HTTP/2 client over ``stream``; ``authority`` is the default ``:authority`` (the segment's name)."""

    def __init__(self, stream: ByteStream, *, authority: str, limits: LinkLimits | None = None) -> None:
        self._stream, self.authority, self.limits = stream, authority, limits or LinkLimits()
        self._h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self._h2.local_settings = Settings(client=True, initial_values={
            SettingCodes.ENABLE_PUSH: 0, SettingCodes.MAX_CONCURRENT_STREAMS: 0,
            SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW, SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST})
        self._exchanges: dict[int, _Exchange] = {}
        self._channels: dict[int, _Flow] = {}
        self._wake = asyncio.Event()  # the writer has something to send
        self._changed = asyncio.Event()  # a slot or a window may have opened; replaced at each change
        self._started = asyncio.Event()  # the peer's SETTINGS arrived, or the link died
        self._dead = asyncio.Event()
        self._closed = asyncio.Event()
        self._writing = False
        self._last_received = 0.0
        self._head = b""  # the first frame header received, to check the preface
        self._pings = 0
        self._main: asyncio.Task[None] | None = None
        self.reason: str | None = None  # why it died

    @property
    def alive(self) -> bool:
        return self._main is not None and not self._dead.is_set()

    async def start(self) -> None:
        """Send the preface and SETTINGS; return once the peer's SETTINGS arrived, else LinkClosed."""
        self._last_received = asyncio.get_running_loop().time()
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - 65_535)
        self._main = asyncio.create_task(self._run(), name=f"uplink:{self.authority}")
        self._wake.set()
        try:
            async with asyncio.timeout(self.limits.start_timeout):
                await self._started.wait()
        except TimeoutError:
            self._die(f"no HTTP/2 SETTINGS from the peer within {self.limits.start_timeout:g} s")
        if self._dead.is_set():
            await self._closed.wait()
            raise LinkClosed(self.reason or "closed")

    async def request(self, method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = b"",
                      *, authority: str | None = None, timeout: float | None = None) -> Response:
        """One exchange; raises LinkClosed, LinkTimeout or StreamError (gateway.uplink.listening.errors)."""
        timeout = self.limits.request_timeout if timeout is None else timeout
        sid = None
        try:
            async with asyncio.timeout(timeout):
                sid = await self._open(method, path, headers, authority or self.authority, end_stream=not body)
                exchange = self._exchanges[sid] = _Exchange(future=asyncio.get_running_loop().create_future())
                if body:
                    await self._send_body(sid, body, exchange)
                await exchange.future
                return Response(exchange.status, exchange.headers, b"".join(exchange.chunks))
        except TimeoutError:
            raise LinkTimeout(f"no response to {method} {path} within {timeout:g} s") from None
        finally:
            if sid is not None:
                self._forget(sid)

    async def _open(self, method: str, path: str, headers: Sequence[tuple[bytes, bytes]], authority: str, *,
                    end_stream: bool, spare: int = 0) -> int:
        while True:
            if not self.alive:
                raise LinkClosed(self.reason or "closed")
            if self._h2.open_outbound_streams + spare < self._h2.remote_settings.max_concurrent_streams:
                break
            await self._changed.wait()
        try:
            sid = self._h2.get_next_available_stream_id()
        except NoAvailableStreamIDError:
            self._die("stream ids exhausted; the peer reconnects")
            raise LinkClosed(self.reason or "") from None
        pseudo = [(b":method", method.encode()), (b":scheme", b"https"), (b":authority", authority.encode()),
                  (b":path", path.encode())]
        regular = [(n.lower(), v) for n, v in headers if n.lower() not in _HOP_BY_HOP]
        try:
            self._h2.send_headers(sid, pseudo + regular, end_stream=end_stream)
        except ProtocolError as exc:  # h2 has half-encoded them (HPACK state) and opened the stream: unusable
            self._die(f"request headers h2 refuses: {exc}")
            raise LinkClosed(self.reason or "") from None
        self._wake.set()
        return sid

    async def open_channel(self, method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = (), *,
                           authority: str | None = None, end_request: bool = False, spare: int = 0,
                           timeout: float | None = None) -> Channel:
        """Open a stream (within ``timeout``, waiting for a slot) whose bodies flow while it lasts (rule 6).

        ``end_request`` sends the request without a body (a GET).  ``spare`` waits until that many more
        slots are free as well: the first of a pair of streams (a tunnel's GET) must not take the slot its
        partner needs, or pairs opening at once deadlock under the peer's stream limit.
        Raises LinkClosed or LinkTimeout.
        """
        timeout = self.limits.request_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(timeout):
                sid = await self._open(method, path, headers, authority or self.authority, end_stream=end_request,
                                       spare=spare)
        except TimeoutError:
            raise LinkTimeout(f"no stream for {method} {path} within {timeout:g} s") from None
        flow = self._channels[sid] = _Flow()
        return Channel(self, sid, flow)

    def _room(self, sid: int, flow: _Flow) -> int:
        """How much a channel may send now; raises when it never may again."""
        if flow.error is not None:
            raise flow.error
        if not self.alive:
            raise LinkClosed(self.reason or "closed")
        stream = self._h2.streams.get(sid)
        if stream is None or stream.closed:
            raise StreamError("the stream is closed")
        return min(self._h2.local_flow_control_window(sid), self._h2.max_outbound_frame_size)

    def _credit(self, sid: int, flow: _Flow, length: int) -> None:
        """Hand read bytes back to the stream's window, in batches, while the peer may still send on it."""
        flow.uncredited += length
        if flow.uncredited < CREDIT_BATCH or flow.ended or flow.error is not None or not self.alive:
            return
        stream = self._h2.streams.get(sid)
        if stream is not None and not stream.closed:
            self._h2.increment_flow_control_window(flow.uncredited, stream_id=sid)
            self._wake.set()
        flow.uncredited = 0

    def _forget_channel(self, sid: int) -> None:
        if self._channels.pop(sid, None) is None:
            return
        stream = self._h2.streams.get(sid)
        if stream is not None and not stream.closed and not self._dead.is_set():
            self._h2.reset_stream(sid, ErrorCodes.CANCEL)
            self._wake.set()
        self._notify()

    async def _send_body(self, sid: int, body: bytes, exchange: _Exchange) -> None:
        offset = 0
        while offset < len(body) and not exchange.future.done():
            window = min(self._h2.local_flow_control_window(sid), self._h2.max_outbound_frame_size,
                         len(body) - offset)
            if window <= 0:
                await self._changed.wait()
                continue
            offset += window
            self._h2.send_data(sid, body[offset - window:offset], end_stream=offset == len(body))
            self._wake.set()

    def _forget(self, sid: int) -> None:
        del self._exchanges[sid]
        stream = self._h2.streams.get(sid)
        # Abandoned (timeout), or answered before we finished sending: close it, or its slot stays taken.
        if stream is not None and not stream.closed and not self._dead.is_set():
            self._h2.reset_stream(sid, ErrorCodes.CANCEL)
            self._wake.set()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _die(self, reason: str) -> None:
        if self._dead.is_set():
            return
        self.reason = reason
        self._dead.set()
        self._started.set()
        for exchange in self._exchanges.values():
            if not exchange.future.done():
                exchange.future.set_exception(LinkClosed(reason))
        for flow in self._channels.values():
            self._stop(flow, LinkClosed(reason))
        self._notify()

    async def aclose(self, reason: str = "closed by this gateway") -> None:
        """GOAWAY, then close; idempotent, waits until the stream is closed."""
        if self._main is None:
            self._dead.set()
            await self._stream.aclose()
            return
        if not self._dead.is_set():
            self._h2.close_connection()
            self._die(reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def _run(self) -> None:
        tasks = [asyncio.create_task(self._guarded(work)) for work in (self._read, self._write, self._watch)]
        try:
            await self._dead.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not self._writing and (last := self._h2.data_to_send()):  # a GOAWAY, when the writer is idle
                try:
                    async with asyncio.timeout(1.0):
                        await self._stream.write(last)
                except (TimeoutError, ConnectionError, OSError):
                    pass
            await self._stream.aclose()
            self._closed.set()

    async def _guarded(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await work()
        except Exception as exc:  # a bug ends this link, never the process nor other links
            log.exception("uplink %s: %s failed", self.authority, work.__name__)
            self._die(f"internal error: {exc!r}")

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await self._stream.read()
            if not data:
                return self._die("the peer closed the connection")
            self._last_received = loop.time()
            if len(self._head) < 9:  # RFC 9113 §3.4: the server's preface is a SETTINGS frame on stream 0
                self._head += data[:9 - len(self._head)]
                if len(self._head) == 9 and (self._head[3] != 0x4 or self._head[5:] != b"\0\0\0\0"):
                    return self._die("HTTP/2 protocol error from the peer: its first frame is not SETTINGS")
            try:
                received = self._h2.receive_data(data)
            except ProtocolError as exc:  # h2 has queued the GOAWAY with the right code
                return self._die(f"HTTP/2 protocol error from the peer: {exc}")
            for event in received:
                handler = _HANDLERS.get(type(event))
                if handler is not None:
                    handler(self, event)
            self._wake.set()

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not (data := self._h2.data_to_send()):
                continue
            self._writing = True
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow our cancellation
                async with asyncio.timeout(self.limits.write_timeout):
                    await self._stream.write(data)
            except TimeoutError:
                return self._die(f"the peer read nothing for {self.limits.write_timeout:g} s")
            except (ConnectionError, OSError) as exc:
                return self._die(f"writing failed: {exc}")
            self._writing = False

    async def _watch(self) -> None:
        loop, limits = asyncio.get_running_loop(), self.limits
        next_ping = loop.time() + limits.ping_interval
        while True:
            now = loop.time()
            if now - self._last_received >= limits.dead_after:
                return self._die(f"nothing received for {limits.dead_after:g} s")
            if now >= next_ping and self.alive:
                self._pings += 1
                self._h2.ping(struct.pack(">Q", self._pings))
                self._wake.set()
                next_ping = now + limits.ping_interval
            await asyncio.sleep(min(next_ping, self._last_received + limits.dead_after) - now)

    # Reader events, dispatched through _HANDLERS below.

    def _on_settings(self, event: ev.RemoteSettingsChanged) -> None:
        self._started.set()
        self._notify()  # the stream limit or the initial window may have grown

    def _on_response(self, event: ev.ResponseReceived) -> None:
        sid = event.stream_id or 0
        if (flow := self._channels.get(sid)) is not None:
            status, flow.headers = _head(event.headers or [])
            if 200 <= status <= 599:
                flow.status = status
                flow.head.set()
            else:
                self._h2.reset_stream(sid, ErrorCodes.PROTOCOL_ERROR)
                self._stop(flow, StreamError("a response without a valid :status"))
            return
        exchange = self._exchanges.get(sid)
        if exchange is None or exchange.future.done():
            return
        exchange.status, exchange.headers = _head(event.headers or [])
        if not 200 <= exchange.status <= 599:
            self._fail(sid, exchange, "a response without a valid :status")

    @staticmethod
    def _stop(flow: _Flow, error: LinkError) -> None:
        if flow.error is None:
            flow.error = error
        flow.head.set()
        flow.readable.set()

    def _on_data(self, event: ev.DataReceived) -> None:
        sid, length = event.stream_id or 0, event.flow_controlled_length or 0
        if (flow := self._channels.get(sid)) is not None:  # rule 6: the connection at once, the stream when read
            if length and self._h2.state_machine.state is not ConnectionState.CLOSED:  # a GOAWAY in this read
                self._h2.increment_flow_control_window(length)
            flow.chunks.append((event.data or b"", length))
            flow.readable.set()
            return
        self._h2.acknowledge_received_data(length, sid)
        exchange = self._exchanges.get(sid)
        if exchange is None or exchange.future.done():
            return
        exchange.size += len(event.data or b"")
        if exchange.size > self.limits.max_response:
            self._fail(sid, exchange, f"response larger than {self.limits.max_response} bytes")
        else:
            exchange.chunks.append(event.data or b"")

    def _fail(self, sid: int, exchange: _Exchange, reason: str) -> None:
        self._h2.reset_stream(sid, ErrorCodes.CANCEL)
        exchange.future.set_exception(StreamError(reason))
        self._notify()

    def _on_end(self, event: ev.StreamEnded) -> None:
        if (flow := self._channels.get(event.stream_id or 0)) is not None:
            flow.ended = True
            flow.head.set()  # ended without headers: response() reports it
            flow.readable.set()
        exchange = self._exchanges.get(event.stream_id or 0)
        if exchange is not None and not exchange.future.done():
            exchange.future.set_result(None)
        self._notify()

    def _on_reset(self, event: ev.StreamReset) -> None:
        if (flow := self._channels.get(event.stream_id or 0)) is not None:
            self._stop(flow, StreamError(f"the peer reset the stream ({event.error_code!r})"))
        exchange = self._exchanges.get(event.stream_id or 0)
        if exchange is not None and not exchange.future.done():
            exchange.future.set_exception(StreamError(f"the peer reset the stream ({event.error_code!r})"))
        self._notify()

    def _on_window(self, event: ev.WindowUpdated) -> None:
        self._notify()

    def _on_goaway(self, event: ev.ConnectionTerminated) -> None:
        self._die(f"the peer went away (GOAWAY, {event.error_code!r})")


def _head(fields: list[tuple[bytes, bytes]]) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The status (0 when missing or malformed) and the regular headers of a response."""
    status, headers = 0, []
    for name, value in fields:
        if name == b":status":
            status = int(value) if value.isdigit() else 0
        elif not name.startswith(b":"):
            headers.append((name, value))
    return status, headers


_HANDLERS: dict[type[ev.Event], Callable[[Link, Any], None]] = {
    ev.RemoteSettingsChanged: Link._on_settings,
    ev.ResponseReceived: Link._on_response,
    ev.DataReceived: Link._on_data,
    ev.StreamEnded: Link._on_end,
    ev.StreamReset: Link._on_reset,
    ev.WindowUpdated: Link._on_window,
    ev.ConnectionTerminated: Link._on_goaway,
}
