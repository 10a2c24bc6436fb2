"""RTSP over HTTP, the transport-free part: one session's two halves joined by the client's cookie.

A client opens the server-to-client half with a ``GET`` carrying ``x-sessioncookie`` and sends the other half
in ``POST`` bodies with the same cookie, base64-encoded (docs/wire-format.md §11.5).  A :class:`Tunnel` is the
byte stream a relay session runs on: its reads are the decoded POST bodies, its writes go to the GET's
response.  Both shells use it: the ASGI app on the web-service port and the RTSP listener, which answers HTTP
on its own port too.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Awaitable, Callable

#: Decoded chunks waiting for the session; the POST reader waits beyond this, so backpressure reaches the client.
QUEUE = 4
#: Longest cookie accepted.
MAX_COOKIE = 128


class Tunnel:
    """The byte stream of one tunnelled session (gateway.uplink.shared.stream.ByteStream's rules)."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        self._send = send
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue(QUEUE)
        self._carry = b""
        self._closed = False
        self._eof = False  # read() has returned b"": it always will

    async def read(self) -> bytes:
        if self._eof or (self._closed and self._incoming.empty()):
            self._eof = True
            return b""
        data = await self._incoming.get()
        self._eof = not data
        return data

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionResetError("the tunnel is closed")
        await self._send(data)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            while not self._incoming.empty():  # a POST waiting to queue more goes on, and then sees the end
                self._incoming.get_nowait()
            self._incoming.put_nowait(b"")

    async def feed(self, text: bytes) -> bool:
        """Decode and queue a piece of a POST body (whitespace ignored, groups split anywhere, across POSTs);
        False, and the tunnel closed, when it is no base64."""
        data = self._carry + b"".join(text.split())
        whole = len(data) - len(data) % 4
        self._carry = data[whole:]
        try:
            decoded = base64.b64decode(data[:whole], validate=True)
        except binascii.Error:
            await self.aclose()
            return False
        if decoded and not self._closed:
            await self._incoming.put(decoded)
        return not self._closed


class Tunnels:
    """The open tunnels by cookie, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self._open: dict[str, Tunnel] = {}
        self._limit = limit

    def refusal(self, cookie: str) -> str | None:
        """Why a GET with ``cookie`` cannot open a tunnel, or None."""
        if len(cookie) > MAX_COOKIE:
            return "the x-sessioncookie is too long"
        if cookie in self._open:
            return "this x-sessioncookie is in use"
        if len(self._open) >= self._limit:
            return "too many tunnels"
        return None

    @contextlib.contextmanager
    def opened(self, cookie: str, tunnel: Tunnel):  # type: ignore[no-untyped-def]
        self._open[cookie] = tunnel
        try:
            yield tunnel
        finally:
            self._open.pop(cookie, None)

    def get(self, cookie: str) -> Tunnel | None:
        return self._open.get(cookie)
