"""The segments' clients and service addresses, shared by the federation sync and the media/PTZ forwarding.

One :class:`SegmentClient` per segment, so what it negotiated (the
authentication mode, the device's clock offset) serves every caller; an
uplinked segment's client travels over its link
(gateway.uplink.listening.transport).  A changed configuration (a new URL or
password from ``vmsgw segment add --update``) replaces the client; the old one
is closed once replaced.  Service addresses (GetServices) are cached per
client until a caller asks for a refresh, e.g. after the segment failed.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from gateway.catalog.model import Segment
from gateway.downstream import wire
from gateway.downstream.client import SegmentClient
from gateway.downstream.errors import SegmentMisbehaved
from gateway.downstream.reach import direct_device
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.listening.transport import UplinkTransport

#: Timeout of the GetServices call behind :meth:`Downstream.services`.
SERVICES_TIMEOUT = 10.0
#: Connections kept per dialled segment.
MAX_CONNECTIONS = 8


@dataclass(frozen=True)
class Services:
    """A segment's services as GetServices lists them: namespace -> XAddr."""

    xaddrs: dict[str, str] = field(default_factory=dict)

    def address(self, namespace: str) -> str:
        try:
            return self.xaddrs[namespace]
        except KeyError:
            raise SegmentMisbehaved(f"GetServices lists no service {namespace}") from None


def config(segment: Segment) -> tuple[object, ...]:
    """What a client is made of: when it changes, the client is replaced."""
    return (segment.url, segment.user, segment.password, segment.verify_tls, segment.ca_file, segment.uplinked)


def http_client(segment: Segment, uplinks: UplinkRegistry) -> httpx.AsyncClient:
    if segment.uplinked:
        return httpx.AsyncClient(transport=UplinkTransport(uplinks, segment.name))
    verify: bool | str = segment.ca_file if segment.verify_tls and segment.ca_file else segment.verify_tls
    return httpx.AsyncClient(verify=verify, limits=httpx.Limits(max_connections=MAX_CONNECTIONS))


@dataclass
class _Entry:
    config: tuple[object, ...]
    client: SegmentClient
    services: Services | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Downstream:
    """Per segment name: its client and its cached services."""

    def __init__(self, uplinks: UplinkRegistry | None = None) -> None:
        self.uplinks = uplinks if uplinks is not None else UplinkRegistry()  # empty: uplinked segments stay down
        self._entries: dict[str, _Entry] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def client(self, segment: Segment) -> SegmentClient:
        """The segment's client, made (or remade, for a changed configuration) on demand."""
        entry = self._entry(segment)
        return entry.client

    async def services(self, segment: Segment, *, refresh: bool = False) -> Services:
        """The segment's services, read once per client (again with ``refresh``)."""
        entry = self._entry(segment)
        async with entry.lock:
            if entry.services is None or refresh:
                body = await entry.client.call(segment.url, wire.get_services(), SERVICES_TIMEOUT)
                entry.services = Services(wire.service_addresses(body, direct_device(segment)))
            return entry.services

    def forget_services(self, segment: str) -> None:
        """Read the services again at the next :meth:`services` (the segment failed; it may have changed)."""
        entry = self._entries.get(segment)
        if entry is not None:
            entry.services = None

    async def drop(self, segment: str, client: SegmentClient | None = None) -> None:
        """Close the segment's client (only if it is still ``client``, when given): the segment was removed."""
        entry = self._entries.get(segment)
        if entry is not None and (client is None or entry.client is client):
            del self._entries[segment]
            await entry.client.client.aclose()

    async def aclose(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        await asyncio.gather(*(e.client.client.aclose() for e in entries), *self._closing)

    def _entry(self, segment: Segment) -> _Entry:
        made = config(segment)
        entry = self._entries.get(segment.name)
        if entry is not None and entry.config == made:
            return entry
        if entry is not None:  # replaced: requests still using it finish first, closing waits for them
            task = asyncio.get_running_loop().create_task(entry.client.client.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        credentials = wire.Credentials(user=segment.user, password=segment.password) if segment.user else None
        entry = _Entry(made, SegmentClient(segment.name, credentials, http_client(segment, self.uplinks)))
        self._entries[segment.name] = entry
        return entry
