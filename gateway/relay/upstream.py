"""What the relay is given: the resolver of tokens to upstreams, and how a lookup can fail.

The relay imports nothing above its layer; the runtime injects a :class:`Resolver` (and an
:data:`OpenSnapshot`) that know segments, catalogs and downstream clients (docs/architecture.md §11).
Each error names the segment that failed, when one did, and carries the RTSP and HTTP statuses the client gets.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.soap.dispatch import Principal
from gateway.uplink.shared.stream import ByteStream


class RelayError(Exception):
    """A stream or snapshot that cannot be given; ``segment`` names the failing segment for the log."""

    rtsp_status = 502
    http_status = 502

    def __init__(self, reason: str, *, segment: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segment = segment


class UnknownToken(RelayError):
    rtsp_status = http_status = 404


class NotAllowed(RelayError):
    rtsp_status = http_status = 403


class AtCapacity(RelayError):
    """The segment's cap on concurrent streams is reached."""

    rtsp_status = 453  # Not Enough Bandwidth
    http_status = 503


class UpstreamFailed(RelayError):
    rtsp_status = http_status = 502


class UpstreamTimeout(RelayError):
    rtsp_status = http_status = 504


@dataclass(frozen=True, kw_only=True)
class Upstream:
    """Where one stream comes from."""

    url: str                      # rtsp://host:port/path?query, what the upstream's own URIs start with
    key: str                      # the segment: caps count per key, logs name it
    user: str | None = None       # for the upstream's Digest or Basic challenge
    password: str | None = None
    cap: int | None = None        # concurrent streams at this key; None: no cap
    #: The byte stream to the upstream when it is not a TCP connection to ``url`` (a stream over an uplink).
    open: Callable[[], Awaitable[ByteStream]] | None = None


class Resolver(Protocol):
    async def resolve(self, token: str, principal: Principal) -> Upstream:
        """The upstream of ``token`` for ``principal``, or a :class:`RelayError`."""
        ...


@dataclass(frozen=True)
class Snapshot:
    """A JPEG as it arrives from the device."""

    content_type: str
    chunks: AsyncIterator[bytes]


#: ``(token, principal) -> Snapshot`` or a :class:`RelayError`.
OpenSnapshot = Callable[[str, Principal], Awaitable[Snapshot]]
