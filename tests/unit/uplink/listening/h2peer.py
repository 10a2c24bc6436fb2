"""A scripted HTTP/2 server peer for the uplink tests: the local service's side, in process.

It serves ``handler(method, path, body) -> (status, body)`` on a byte stream,
respects flow control when it answers, counts the streams it has open at
once, and can misbehave on request: stop reading, push, open streams of its
own, or go away.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from h2 import events as ev
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from gateway.uplink.shared.stream import ByteStream

Handler = Callable[[str, str, bytes], Awaitable[tuple[int, bytes]]]


async def echo(method: str, path: str, body: bytes) -> tuple[int, bytes]:
    return 200, f"{method} {path} ".encode() + body


class H2Peer:
    def __init__(self, stream: ByteStream, *, handler: Handler = echo, max_streams: int = 100,
                 window: int = 65_535, early: bool = False) -> None:
        self.stream, self.handler, self.early = stream, handler, early  # early: answer before the body ends
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.h2.local_settings = Settings(client=False, initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: max_streams, SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.extra_window = max(0, window - 65_535)
        self.requests: dict[int, tuple[list[tuple[bytes, bytes]], bytearray]] = {}
        self.open_now = self.open_max = 0
        self.pings = 0
        self.reading = True
        self.window = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.terminated: ev.ConnectionTerminated | None = None

    async def run(self) -> None:
        self.h2.initiate_connection()
        if self.extra_window:
            self.h2.increment_flow_control_window(self.extra_window)
        await self.flush()
        try:
            while self.reading and (data := await self.stream.read()):
                try:
                    received = self.h2.receive_data(data)
                except ProtocolError:
                    break
                for event in received:
                    self.on_event(event)
                await self.flush()
        finally:
            if self.reading:
                await self.stream.aclose()

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.RequestReceived):
            self.requests[event.stream_id] = (list(event.headers), bytearray())
            self.open_now += 1
            self.open_max = max(self.open_max, self.open_now)
            if self.early:
                self.spawn(self.answer(event.stream_id))
        elif isinstance(event, ev.DataReceived):
            self.requests[event.stream_id][1].extend(event.data)
            if not self.early:  # an early answerer leaves the body unread: the sender's window runs out
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, ev.StreamEnded) and not self.early:
            self.spawn(self.answer(event.stream_id))
        elif isinstance(event, ev.StreamReset):
            self.open_now -= 1
        elif isinstance(event, ev.WindowUpdated):
            self.window.set()
        elif isinstance(event, ev.PingReceived):
            self.pings += 1
        elif isinstance(event, ev.ConnectionTerminated):
            self.terminated = event

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def answer(self, sid: int) -> None:
        headers, body = self.requests[sid]
        fields = dict(headers)
        status, payload = await self.handler(fields[b":method"].decode(), fields[b":path"].decode(), bytes(body))
        try:
            self.h2.send_headers(sid, [(b":status", str(status).encode()), (b"content-type", b"text/plain")])
            while payload:
                window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
                if window <= 0:
                    self.window.clear()
                    await self.flush()
                    await self.window.wait()
                    continue
                self.h2.send_data(sid, payload[:window])
                payload = payload[window:]
            self.h2.end_stream(sid)
        except ProtocolError:  # the client reset the stream meanwhile
            return
        self.open_now -= 1
        await self.flush()

    async def flush(self) -> None:
        if data := self.h2.data_to_send():
            await self.stream.write(data)

    async def send_raw(self, data: bytes) -> None:
        await self.stream.write(data)
