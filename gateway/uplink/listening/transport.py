"""httpx over an uplink: a segment that connects to us is reached like one we dial ("one interface per plug",
docs/decisions.md §10).

The federation's ``httpx.AsyncClient`` of an uplinked segment gets an
:class:`UplinkTransport` instead of a socket pool, so sync, health,
``Offline`` and queries run unchanged.  The URL's host is only the
``:authority`` (nominally the segment's name): every request travels over the
segment's current link, whatever the host, so the XAddrs a segment builds
from that authority lead back into the same tunnel.

Errors are translated here, once: no link (within a connect wait) is
``httpx.ConnectError``, a link that dies under the request
``httpx.ReadError``, a timeout ``httpx.ReadTimeout``, a failed exchange
``httpx.RemoteProtocolError``; federation maps each to "segment unavailable".
"""
from __future__ import annotations

import httpx

from gateway.uplink.listening.errors import LinkClosed, LinkTimeout, StreamError
from gateway.uplink.listening.registry import UplinkRegistry

#: Seconds a request waits for a segment without a link to (re)connect, like a TCP connect timeout.
CONNECT_WAIT = 5.0


class UplinkTransport(httpx.AsyncBaseTransport):
    """Requests for ``segment`` go over its link in ``registry``."""

    def __init__(self, registry: UplinkRegistry, segment: str, *, connect_wait: float = CONNECT_WAIT) -> None:
        self._registry, self._segment, self._connect_wait = registry, segment, connect_wait

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        wait = min(timeouts.get("connect") or self._connect_wait, self._connect_wait)
        link = await self._registry.wait(self._segment, wait)
        if link is None:
            raise httpx.ConnectError(f"segment {self._segment} has no uplink connected", request=request)
        body = await request.aread()
        try:
            reply = await link.request(request.method, request.url.raw_path.decode("ascii"), request.headers.raw,
                                       body, authority=request.url.netloc.decode("ascii"),
                                       timeout=timeouts.get("read"))
        except LinkTimeout as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from None
        except LinkClosed as exc:
            raise httpx.ReadError(f"the uplink of segment {self._segment} closed: {exc}", request=request) from None
        except StreamError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body,
                              extensions={"http_version": b"HTTP/2"})
