"""The relay's resolvers: a remote token → the segment's stream or snapshot, asked of the segment
(docs/wire-format.md §10.4).

For device and gateway segments alike the segment is asked, through the
shared downstream client and with adapted tokens, for its own stream or
snapshot URI: a device answers its RTSP server, a lower vmsgw its own relay
URI, so levels chain.  The relay gets that URL and the segment's login (the
device checks it; a lower vmsgw knows the segment's user as one of its
users).  An uplinked segment's stream is asked as RtspOverHttp and opened
through its uplink by the ``open_tunnel`` the runtime gives.

Failures map to the relay's errors at once, naming the segment: an unknown
token is 404, a segment's fault 404 when it does not know the profile
(``ter:NoProfile``), else 502; a segment past its share of
:data:`RESOLVE_BUDGET`, 504.
"""
from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import httpx
from lxml import etree

from gateway.catalog.model import Segment
from gateway.downstream.errors import SegmentError
from gateway.downstream.forward import Forwarder
from gateway.downstream.reach import as_reachable
from gateway.onvif.ns import TR2, TRT, TT
from gateway.onvif.services import MEDIA, MEDIA2
from gateway.onvif.xml import child
from gateway.relay.upstream import Snapshot, UnknownToken, Upstream, UpstreamFailed, UpstreamTimeout
from gateway.soap.dispatch import Principal
from gateway.soap.fault import SoapFault
from gateway.uplink.shared.stream import ByteStream

#: Seconds to find a stream: inside the relay's own wait for its resolver, shared by every level below.
RESOLVE_BUDGET = 4.5
#: Concurrent streams a segment gets through this gateway unless told otherwise (``serve --streams-per-segment``).
STREAMS_PER_SEGMENT = 64
#: ``(segment, url, timeout) -> ByteStream``: an RTSP-over-HTTP tunnel to ``url`` through the segment's uplink.
OpenTunnel = Callable[[str, str, float], Awaitable[ByteStream]]

_NOT_FOUND = frozenset({"NoProfile", "NoToken", "NoEntity", "NoConfig"})


def _request(operation: str, media2: bool, tunnelled: bool) -> etree._Element:
    """The body of ``operation`` without its ProfileToken: RTSP over TCP, or RTSP over HTTP for a tunnel."""
    namespace = TR2 if media2 else TRT
    body = etree.Element(f"{{{namespace}}}{operation}")
    if operation != "GetStreamUri":
        return body
    if media2:
        etree.SubElement(body, f"{{{TR2}}}Protocol").text = "RtspOverHttp" if tunnelled else "RtspUnicast"
        return body
    setup = etree.SubElement(body, f"{{{TRT}}}StreamSetup")
    etree.SubElement(setup, f"{{{TT}}}Stream").text = "RTP-Unicast"
    transport = etree.SubElement(setup, f"{{{TT}}}Transport")
    etree.SubElement(transport, f"{{{TT}}}Protocol").text = "HTTP" if tunnelled else "RTSP"
    return body


def _uri_of(answer: etree._Element) -> str:
    holder = child(answer, "MediaUri")
    el = child(holder if holder is not None else answer, "Uri")
    text = (el.text or "").strip() if el is not None else ""
    if not text:
        raise UpstreamFailed("the segment answered no URI")
    return text


def _without_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without ``user:password@``, and those (a device may put its login into the URI)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)), parts.username, parts.password


class MediaResolver:
    """Stream and snapshot lookups for the relay (gateway.relay.upstream's Resolver and OpenSnapshot)."""

    def __init__(self, forwarder: Forwarder, *, streams_per_segment: int = STREAMS_PER_SEGMENT,
                 open_tunnel: OpenTunnel | None = None) -> None:
        self.forwarder, self.cap, self.open_tunnel = forwarder, streams_per_segment, open_tunnel

    async def _ask(self, token: str, operation: str, uplinked_protocol: bool) -> tuple[Segment, str]:
        """The segment behind ``token`` and the URI it answers ``operation`` (GetStreamUri, GetSnapshotUri) with."""
        fw = self.forwarder
        segment: Segment | None = None
        try:
            async with asyncio.timeout(RESOLVE_BUDGET):
                routed = await fw.locate(token)
                segment = routed.segment
                media2 = TR2 in (await fw.downstream.services(segment)).xaddrs
                contract = MEDIA2 if media2 else MEDIA
                body = _request(operation, media2, segment.uplinked and uplinked_protocol)
                etree.SubElement(body, f"{{{contract.namespace}}}ProfileToken").text = routed.body.text
                answer = await fw.call(segment, contract.namespace, body, contract.request_action(operation),
                                       RESOLVE_BUDGET, routed.prefix)
        except TimeoutError:
            raise UpstreamTimeout(f"no answer within {RESOLVE_BUDGET:g} s",
                                  segment=segment.name if segment else None) from None
        except SegmentError as err:
            raise UpstreamFailed(str(err), segment=segment.name if segment else None) from None
        except SoapFault as fault:
            where = segment.name if segment else None
            if {etree.QName(s).localname for s in fault.subcodes} & _NOT_FOUND:
                raise UnknownToken(fault.reason, segment=where) from None
            raise UpstreamFailed(fault.reason, segment=where) from None
        return segment, _uri_of(answer)

    async def resolve(self, token: str, principal: Principal) -> Upstream:
        """The stream behind ``token``: the segment's URI, its login and its cap."""
        segment, uri = await self._ask(token, "GetStreamUri", True)
        url, user, password = _without_userinfo(as_reachable(segment, uri))
        opener = None
        if segment.uplinked and self.open_tunnel is not None:
            opener = functools.partial(self.open_tunnel, segment.name, url, RESOLVE_BUDGET)
        return Upstream(url=url, key=segment.name, user=user or segment.user or None,
                        password=password if user else (segment.password or None), cap=self.cap, open=opener)

    async def open_snapshot(self, token: str, principal: Principal) -> Snapshot:
        """The JPEG behind ``token``, fetched with the segment's login through its own HTTP client."""
        segment, uri = await self._ask(token, "GetSnapshotUri", False)
        url, user, password = _without_userinfo(as_reachable(segment, uri))
        http = self.forwarder.downstream.client(segment).client
        login = (user, password or "") if user else ((segment.user, segment.password) if segment.user else None)
        auth = httpx.DigestAuth(*login) if login is not None else None
        try:
            reply = await http.send(http.build_request("GET", url, timeout=RESOLVE_BUDGET), auth=auth, stream=True)
        except httpx.TimeoutException:
            raise UpstreamTimeout(f"no snapshot within {RESOLVE_BUDGET:g} s", segment=segment.name) from None
        except httpx.HTTPError as err:
            raise UpstreamFailed(f"{type(err).__name__} fetching the snapshot: {err}", segment=segment.name) from None
        if reply.status_code != 200:
            await reply.aclose()
            raise UpstreamFailed(f"the snapshot URI answered HTTP {reply.status_code}", segment=segment.name)

        async def chunks() -> AsyncIterator[bytes]:
            # Decoded bytes, not raw: the uplink's transport hands over a body already read (aiter_raw refuses
            # it), and a Content-Encoding of the device's is not passed on.
            try:
                async for chunk in reply.aiter_bytes():
                    yield chunk
            finally:
                await reply.aclose()

        return Snapshot(reply.headers.get("content-type", "image/jpeg"), chunks())

