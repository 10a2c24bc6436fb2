"""RTSP over HTTP through an uplink, this gateway being the client (docs/wire-format.md §13).

A segment behind a firewall is reachable only through the link it opened to
us, so its RTSP sessions travel in the tunnel the RTSP-over-HTTP convention
defines: a GET whose endless response carries the server's bytes, and a POST
whose body carries the client's bytes in base64, both tied by one
``x-sessioncookie``.  Over HTTP/2 a stream ends when its declared
Content-Length is reached, so the POST declares :data:`POST_LENGTH`, which no
session reaches (the customary 32767 would end it after a few minutes of RTCP).

:class:`RtspTunnel` is a :class:`~gateway.uplink.shared.stream.ByteStream`, so
the relay speaks RTSP over it as over a TCP socket.  Memory stays bounded by
the link's flow control: what the relay does not read holds one stream window
and stalls that tunnel only.
"""
from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from gateway.uplink.listening.errors import LinkClosed, LinkError, LinkTimeout, StreamError
from gateway.uplink.listening.link import Channel, Link
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.listening.transport import CONNECT_WAIT

TUNNEL_TYPE = b"application/x-rtsp-tunnelled"
#: The POST's declared Content-Length: the largest a signed 64-bit parser takes, unreachable in a session.
POST_LENGTH = (1 << 63) - 1
_NO_CACHE = [(b"cache-control", b"no-cache"), (b"pragma", b"no-cache")]


class TunnelRefused(StreamError):
    """The server answered the tunnel's GET with ``status``, not 200 (401, 404, 503 ...)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class RtspTunnel:
    """The client end of one RTSP-over-HTTP tunnel; reads and writes follow the ByteStream rules."""

    def __init__(self, get: Channel, post: Channel) -> None:
        self._get, self._post = get, post
        self._closed = False

    async def read(self) -> bytes:
        if self._closed:
            return b""
        try:
            return await self._get.read()
        except LinkError:  # a reset or a dead link is an end of stream like any other
            return b""

    async def write(self, data: bytes) -> None:
        """Send ``data`` base64-encoded on its own, as the tunnel's clients do, so a message never waits for more."""
        if self._closed:
            raise ConnectionResetError("the tunnel is closed")
        try:
            await self._post.write(base64.b64encode(data))
        except LinkError as exc:
            raise ConnectionResetError(f"the tunnel's POST ended: {exc}") from None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._post.close()
        self._get.close()


async def open_tunnel(registry: UplinkRegistry, segment: str, url: str, *, timeout: float,
                      headers: Sequence[tuple[bytes, bytes]] = ()) -> RtspTunnel:
    """A tunnel to ``url`` over ``segment``'s current link (waiting briefly for one, as a TCP connect would).

    Raises LinkClosed (no link, or it died), LinkTimeout, or TunnelRefused.
    """
    link = await registry.wait(segment, min(timeout, CONNECT_WAIT))
    if link is None:
        raise LinkClosed(f"segment {segment} has no uplink connected")
    return await open_link_tunnel(link, url, timeout=timeout, headers=headers)


async def open_link_tunnel(link: Link, url: str, *, timeout: float,
                           headers: Sequence[tuple[bytes, bytes]] = ()) -> RtspTunnel:
    """A tunnel to ``url`` (its authority and path; the scheme does not matter) over ``link``, within ``timeout``.

    ``headers`` go with both requests (e.g. Authorization).  The POST is sent
    once the GET is answered 200; its own answer, if any ever comes, is not
    awaited: servers answer it only when the tunnel ends.
    """
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2] or link.authority
    cookie = secrets.token_urlsafe(18).encode()
    extra = [*headers, (b"x-sessioncookie", cookie), *_NO_CACHE]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    get = await link.open_channel("GET", target, [*extra, (b"accept", TUNNEL_TYPE)], authority=authority,
                                  end_request=True, spare=1, timeout=timeout)
    try:
        try:
            async with asyncio.timeout_at(deadline):
                status, _ = await get.response()
        except TimeoutError:
            raise LinkTimeout(f"no answer to the tunnel's GET {target} within {timeout:g} s") from None
        if status != 200:
            raise TunnelRefused(status, f"the tunnel's GET {target} was answered {status}")
        post = await link.open_channel(
            "POST", target, [*extra, (b"content-type", TUNNEL_TYPE), (b"content-length", str(POST_LENGTH).encode())],
            authority=authority, timeout=max(deadline - loop.time(), 0.001))
    except BaseException:
        get.close()
        raise
    return RtspTunnel(get, post)
