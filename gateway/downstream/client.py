"""One segment's HTTP side: POST a SOAP request, read a capped reply, map every error, log in as it asks.

Authentication toward a segment (docs/architecture.md §10).  A request
carries a WS-UsernameToken PasswordDigest first (mode ``ws``).  A segment that
answers ``401`` with a ``Digest`` challenge wants HTTP Digest: the request is
sent again with it alone (``digest``).  One that then refuses the request with
a ``NotAuthorized`` fault wants both, and gets both (``both``).  The mode is
remembered by the client, and the registry keeps one client per segment
(gateway.downstream.pool), so the negotiation happens once per segment and
configuration.  Every call is bounded in total time, not only per read, so a
segment that drips its reply cannot hold a caller longer than its timeout.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Literal

import httpx
from lxml import etree

from gateway.downstream import wire
from gateway.downstream.errors import SegmentFault, SegmentMisbehaved, SegmentRefused, SegmentUnavailable

Auth = Literal["ws", "digest", "both"]


def _digest_challenge(response: httpx.Response) -> bool:
    return response.status_code == 401 and any(
        value.strip().lower().startswith("digest") for value in response.headers.get_list("www-authenticate"))


class SegmentClient:
    """POST SOAP to one segment with its login; ``auth`` is the negotiated mode, ``clock_offset`` its clock's lead."""

    def __init__(self, name: str, credentials: wire.Credentials | None, client: httpx.AsyncClient) -> None:
        self.name, self.credentials, self.client = name, credentials, client
        self.auth: Auth = "ws"
        #: The segment's clock minus ours, for the UsernameToken's Created (a device's clock may be far off).
        self.clock_offset = dt.timedelta(0)
        self._digest = httpx.DigestAuth(credentials.user, credentials.password) if credentials is not None else None

    async def call(self, url: str, request: tuple[etree._Element, str], timeout: float, *,
                   headers: Mapping[str, str] | None = None, anonymous: bool = False) -> etree._Element:
        """The reply's body element, parsed here: for small replies."""
        return wire.reply_body(await self.fetch(url, request, timeout, headers=headers, anonymous=anonymous))

    async def fetch(self, url: str, request: tuple[etree._Element, str], timeout: float, *,
                    headers: Mapping[str, str] | None = None, anonymous: bool = False) -> wire.Reply:
        """The reply as received, within ``timeout`` in all (an authentication failure is an error, never a reply).

        ``headers`` are added to the POST; ``anonymous`` sends no login at
        all, for the calls a device answers anyone (GetSystemDateAndTime).
        """
        try:
            async with asyncio.timeout(timeout):
                if anonymous:
                    return (await self._send(url, request, timeout, None, headers))[0]
                return await self._negotiated(url, request, timeout, headers)
        except TimeoutError:
            raise SegmentUnavailable(f"no answer from {url} within {timeout:g} s") from None

    async def _negotiated(self, url: str, request: tuple[etree._Element, str], timeout: float,
                          headers: Mapping[str, str] | None) -> wire.Reply:
        mode = self.auth
        reply, challenged = await self._send(url, request, timeout, mode, headers)
        if challenged and mode == "ws" and self._digest is not None:
            mode = "digest"
            reply, challenged = await self._send(url, request, timeout, mode, headers)
        if mode == "digest" and not challenged and _not_authorized(reply):
            reply, challenged = await self._send(url, request, timeout, "both", headers)
            if not challenged and not _not_authorized(reply):
                mode = "both"
        if challenged:
            raise SegmentRefused(f"{url} refused our login (HTTP {reply.status}, {self._how(mode)})")
        self.auth = mode
        return reply

    def _how(self, mode: Auth) -> str:
        return {"ws": "WS-UsernameToken", "digest": "HTTP Digest", "both": "HTTP Digest and WS-UsernameToken"}[mode] \
            if self.credentials is not None else "no credentials"

    async def _send(self, url: str, request: tuple[etree._Element, str], timeout: float, mode: Auth | None,
                    extra: Mapping[str, str] | None) -> tuple[wire.Reply, bool]:
        """One exchange (``mode`` None: no login): the capped reply, and whether it was an HTTP Digest challenge."""
        if self.client.is_closed:  # replaced or removed under a caller that still held it
            raise SegmentUnavailable(f"segment {self.name} was reconfigured or removed")
        body, action = request
        credentials = self.credentials if mode in ("ws", "both") else None
        data = wire.request(body, action=action, to=url, credentials=credentials,
                            now=dt.datetime.now(dt.UTC) + self.clock_offset)
        headers = {**(extra or {}), "Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        auth = self._digest if mode in ("digest", "both") else None
        try:
            async with self.client.stream("POST", url, content=data, headers=headers, timeout=timeout,
                                          auth=auth) as resp:
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > wire.MAX_REPLY_BYTES:
                        raise SegmentMisbehaved(f"reply larger than {wire.MAX_REPLY_BYTES} bytes")
                    chunks.append(chunk)
                challenged = resp.status_code == 401 and (auth is not None or _digest_challenge(resp))
                return wire.Reply(url=url, status=resp.status_code, data=b"".join(chunks)), challenged
        except httpx.TimeoutException:
            raise SegmentUnavailable(f"no answer from {url} within {timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise SegmentUnavailable(f"{type(exc).__name__} talking to {url}: {exc}") from None


def _not_authorized(reply: wire.Reply) -> bool:
    """Whether the reply is a ``NotAuthorized`` fault (the segment wants a UsernameToken as well)."""
    if b"NotAuthorized" not in reply.data:
        return False
    try:
        wire.reply_body(reply)
    except SegmentFault as exc:
        return "NotAuthorized" in exc.subcodes
    except (SegmentMisbehaved, SegmentUnavailable):
        return False
    return False
