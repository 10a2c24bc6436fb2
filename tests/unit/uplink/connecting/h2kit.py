"""Test kit for the uplink's HTTP/2 server: a small raw-h2 client (the remote client's role) over any byte stream.

It waits for a stream slot under the server's SETTINGS_MAX_CONCURRENT_STREAMS,
acknowledges received DATA as it reads it (so the server's flow control is
exercised, and h2 would raise if the server overran a window), and records
PINGs both ways.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events

from gateway.uplink.shared.stream import ByteStream


@dataclass
class Reply:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    reset: int | None = None  # error code, if the server reset the stream
    done: asyncio.Event = field(default_factory=asyncio.Event)


class H2TestClient:
    def __init__(self, stream: ByteStream) -> None:
        self.io = stream
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.replies: dict[int, Reply] = {}
        self.settings_received = asyncio.Event()
        self.changed = asyncio.Event()
        self.pings_received = 0
        self.ping_acks = 0
        self.terminated: h2.events.ConnectionTerminated | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.conn.initiate_connection()
        await self.flush()
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self.settings_received.wait(), 5)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.io.aclose()

    async def until_closed(self) -> None:
        """Keep serving the connection (answering PINGs) until the peer closes it."""
        assert self._reader is not None
        await asyncio.gather(self._reader, return_exceptions=True)

    async def go_silent(self) -> None:
        """Stop answering anything, even PINGs, but keep reading until the peer closes the connection."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        while await self.io.read():
            pass

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            await self.io.write(data)

    async def _read(self) -> None:
        while data := await self.io.read():
            for event in self.conn.receive_data(data):
                self._on(event)
            await self.flush()
            self.changed.set()
        for reply in self.replies.values():
            reply.done.set()

    def _on(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_received.set()
        elif isinstance(event, h2.events.ResponseReceived):
            headers = list(event.headers or [])
            self.replies[event.stream_id].status = int(dict(headers)[b":status"])
            self.replies[event.stream_id].headers = headers
        elif isinstance(event, h2.events.DataReceived):
            self.replies[event.stream_id].body += event.data or b""
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.replies[event.stream_id].done.set()
        elif isinstance(event, h2.events.StreamReset) and event.stream_id in self.replies:
            self.replies[event.stream_id].reset = event.error_code
            self.replies[event.stream_id].done.set()
        elif isinstance(event, h2.events.PingReceived):
            self.pings_received += 1
        elif isinstance(event, h2.events.PingAckReceived):
            self.ping_acks += 1
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = event
            for reply in self.replies.values():
                reply.done.set()

    async def open(self, method: str, path: str, body: bytes = b"", *, authority: str = "device-1",
                   headers: list[tuple[bytes, bytes]] = ()) -> int:  # type: ignore[assignment]
        """Start a request once a stream slot is free; returns its stream id."""
        while self.conn.open_outbound_streams >= self.conn.remote_settings.max_concurrent_streams:
            self.changed.clear()
            await self.changed.wait()
        stream_id = self.conn.get_next_available_stream_id()
        self.replies[stream_id] = Reply()
        request = [(b":method", method.encode()), (b":scheme", b"https"), (b":authority", authority.encode()),
                   (b":path", path.encode()), *headers]
        self.conn.send_headers(stream_id, request, end_stream=not body)
        if body:
            await self._send_body(stream_id, body)
        await self.flush()
        return stream_id

    async def _send_body(self, stream_id: int, body: bytes) -> None:
        while body:
            if self.replies[stream_id].done.is_set():  # answered (413) or reset: stop uploading
                return
            room = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            if room <= 0:
                self.changed.clear()
                await self.changed.wait()
                continue
            chunk, body = body[:room], body[room:]
            self.conn.send_data(stream_id, chunk, end_stream=not body)
            await self.flush()

    async def request(self, method: str, path: str, body: bytes = b"", **kwargs: object) -> Reply:
        stream_id = await self.open(method, path, body, **kwargs)  # type: ignore[arg-type]
        reply = self.replies[stream_id]
        await reply.done.wait()
        return reply
