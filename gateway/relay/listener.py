"""The RTSP listener (``serve --rtsp-listen``): one relay session per accepted connection.

A connection that opens with ``GET`` or ``POST`` is RTSP over HTTP to this same port (tunnel.py), as ffmpeg
tunnels to the port of an ``rtsp://`` URL: the GET is answered by an HTTP/1.0 head, so the tunnel's bytes
follow unframed until the connection closes.

``start()`` binds (port 0 picks a free one, :attr:`RtspListener.port` tells which), ``serve(stop)`` runs until
``stop`` is set, then stops accepting and ends every session: their upstream connections close with them, so
no camera keeps sending to a gateway that has gone.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import urlsplit

from gateway.relay import paths
from gateway.relay.rtsp import MAX_HEAD, response
from gateway.relay.session import Relay
from gateway.relay.tunnel import Tunnel, Tunnels
from gateway.uplink.shared.stream import READ_SIZE, AsyncioStream, close_writer, describe_peer

_TUNNEL_HEAD = (b"HTTP/1.0 200 OK\r\nContent-Type: application/x-rtsp-tunnelled\r\nCache-Control: no-store\r\n"
                b"Pragma: no-cache\r\nConnection: close\r\n\r\n")

log = logging.getLogger("gateway.relay")


class RtspListener:
    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._tunnels = Tunnels(relay.limits.max_sessions)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, sock: socket.socket | None = None) -> None:
        """Bind ``host:port``, or take the bound, listening ``sock`` the runtime made."""
        if sock is not None:
            self._server = await asyncio.start_server(self._accept, sock=sock)
        else:
            self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True, backlog=1024)
        log.info("rtsp: serving on rtsp://%s:%d", host, self.port)

    async def serve(self, stop: asyncio.Event) -> None:
        assert self._server is not None, "start() first"
        try:
            await stop.wait()
        finally:
            self._server.close()
            for task in list(self._sessions):
                task.cancel()
            await asyncio.gather(*self._sessions, return_exceptions=True)
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._sessions) >= self._relay.limits.max_sessions:
            writer.write(response(503, None).encode())
            await close_writer(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            try:
                async with asyncio.timeout(self._relay.limits.idle_timeout):
                    first = await reader.read(READ_SIZE)
            except (TimeoutError, ConnectionError, OSError):
                await close_writer(writer)
                return
            if first.startswith((b"GET ", b"POST ")):
                await self._http(reader, writer, first)
            else:
                await self._relay.session(AsyncioStream(reader, writer, first), describe_peer(writer))
        except asyncio.CancelledError:
            pass  # serve() ends the session; this task is the connection's own, nothing awaits it
        finally:
            self._sessions.discard(task)

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> None:
        """One half of an RTSP-over-HTTP tunnel on this port."""
        try:
            async with asyncio.timeout(self._relay.limits.idle_timeout):  # the whole head, however it trickles
                while b"\r\n\r\n" not in data and len(data) <= MAX_HEAD:
                    chunk = await reader.read(READ_SIZE)
                    if not chunk:
                        return
                    data += chunk
            if b"\r\n\r\n" not in data:
                writer.write(b"HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n")
                return
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = (lines[0].split(" ") + [""])[:2]
            fields = (line.partition(":") for line in lines[1:])
            cookie = {name.strip().lower(): value.strip() for name, _, value in fields}.get("x-sessioncookie")
            if not cookie or paths.split_stream_path(urlsplit(target).path) is None:
                writer.write(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            elif method == "GET":
                await self._get(reader, writer, cookie)
            elif (tunnel := self._tunnels.get(cookie)) is None:
                writer.write(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                ok = await tunnel.feed(rest)
                while ok and (chunk := await reader.read(READ_SIZE)):
                    ok = await tunnel.feed(chunk)
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            await close_writer(writer)

    async def _get(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cookie: str) -> None:
        refusal = self._tunnels.refusal(cookie)
        if refusal is not None:
            writer.write(f"HTTP/1.0 400 Bad Request\r\nContent-Length: {len(refusal)}\r\n\r\n{refusal}".encode())
            return
        writer.write(_TUNNEL_HEAD)
        stream = AsyncioStream(reader, writer)
        with self._tunnels.opened(cookie, Tunnel(stream.write)) as tunnel:

            async def watch_close() -> None:
                while await stream.read():  # the GET's own connection carries nothing more from the client
                    pass
                await tunnel.aclose()

            watcher = asyncio.create_task(watch_close())
            try:
                await self._relay.session(tunnel, describe_peer(writer) + " (http tunnel)")
            finally:
                watcher.cancel()
