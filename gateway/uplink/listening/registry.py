"""The uplinks this gateway holds, one current link per segment: what the listener fills and transport.py reads.

Rules: a segment has at most one current link; attaching a new one returns
the one it replaces, for the caller to close (a connector that reconnects
before we noticed its old link died must win).  Detaching is conditional, so
the end of a replaced link never removes its successor.  :meth:`wait` lets a
request arriving just before a segment reconnects wait briefly for it, as a
TCP connect would; :meth:`next_attach` lets a segment's sync end its backoff
when the segment connects again.
"""
from __future__ import annotations

import asyncio

from gateway.uplink.listening.link import Link


class UplinkRegistry:
    def __init__(self) -> None:
        self._links: dict[str, Link] = {}
        self._attached: dict[str, asyncio.Event] = {}  # woken when a segment gets a link

    def attach(self, segment: str, link: Link) -> Link | None:
        """Make ``link`` the segment's current link; the previous one, if any, is returned, not closed."""
        old = self._links.get(segment)
        self._links[segment] = link
        if (event := self._attached.pop(segment, None)) is not None:
            event.set()
        return old if old is not link else None

    def detach(self, segment: str, link: Link) -> None:
        """Forget ``link`` if it is still the segment's current one."""
        if self._links.get(segment) is link:
            del self._links[segment]

    def get(self, segment: str) -> Link | None:
        """The segment's link if it is alive."""
        link = self._links.get(segment)
        return link if link is not None and link.alive else None

    async def wait(self, segment: str, timeout: float) -> Link | None:
        """The segment's live link, waiting up to ``timeout`` seconds for one to attach."""
        if (link := self.get(segment)) is not None or timeout <= 0:
            return link
        await self.next_attach(segment, timeout)
        return self.get(segment)

    async def next_attach(self, segment: str, timeout: float) -> bool:
        """Whether a new link attaches for ``segment`` within ``timeout`` seconds (a live one does not count)."""
        event = self._attached.setdefault(segment, asyncio.Event())
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True

    def segments(self) -> list[str]:
        """The segments with a live link, by name."""
        return sorted(name for name, link in self._links.items() if link.alive)

    def links(self) -> list[Link]:
        return list(self._links.values())

    def __len__(self) -> int:
        return len(self._links)
