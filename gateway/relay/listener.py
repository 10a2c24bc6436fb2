"""The RTSP listener (``serve --rtsp-listen``): one relay session per accepted connection.

``start()`` binds (port 0 picks a free one, :attr:`RtspListener.port` tells which), ``serve(stop)`` runs until
``stop`` is set, then stops accepting and ends every session: their upstream connections close with them, so
no camera keeps sending to a gateway that has gone.
"""
from __future__ import annotations

import asyncio
import logging
import socket

from gateway.relay.rtsp import response
from gateway.relay.session import Relay
from gateway.uplink.shared.stream import AsyncioStream, close_writer, describe_peer

log = logging.getLogger("gateway.relay")


class RtspListener:
    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

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
            await self._relay.session(AsyncioStream(reader, writer), describe_peer(writer))
        except asyncio.CancelledError:
            pass  # serve() ends the session; this task is the connection's own, nothing awaits it
        finally:
            self._sessions.discard(task)
