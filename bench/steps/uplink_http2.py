"""bench/uplink.py: the HTTP/2 clients (a Link, httpx) and the timed workloads."""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from lxml import etree

from bench.kit.process import (
    cpu_seconds,
)
from bench.kit.soap import TEV, UNSUBSCRIBE_ACTION, WSA
from bench.kit.stats import percentile
from bench.steps.uplink_common import (
    CONTENT_TYPE,
    CREATE_ACTION,
    CREATE_BODY,
    DEVICE_PATH,
    EVENT_PATH,
    PAGE,
    PULL_ACTION,
    PULL_BODY,
    TIME_ACTION,
    TIME_BODY,
    Pki,
    envelope,
    messages_in,
)
from gateway.uplink.listening.link import Link
from gateway.uplink.shared.stream import AsyncioStream

#: One exchange: (path, body factory) -> (status, body, sent twice).  The body is made again for a second
#: attempt: a WS-UsernameToken nonce must not be replayed.
Make = Callable[[], bytes]
Send = Callable[[str, Make], Awaitable[tuple[int, bytes, bool]]]
_HEADERS = ((b"content-type", CONTENT_TYPE),)


def link_sender(get_link: Callable[[], Awaitable[Link]], *, retry: bool = False) -> Send:
    """Requests over a Link; with ``retry``, a request the peer's GOAWAY cut is sent once more on a new
    connection (what a client of hypercorn must do, see DirectConnection)."""
    from gateway.uplink.listening.errors import LinkClosed

    async def send(path: str, make: Make) -> tuple[int, bytes, bool]:
        for attempt in (1, 2):
            link = await get_link()
            body = make()
            try:
                reply = await link.request("POST", path, (*_HEADERS, (b"content-length", str(len(body)).encode())),
                                           body, timeout=60.0)
            except LinkClosed:
                if not retry or attempt == 2:
                    raise
                continue
            return reply.status, reply.body, attempt > 1
        raise AssertionError("unreachable")
    return send


def httpx_sender(client: httpx.AsyncClient, base: str) -> Send:
    """httpx, retrying once a request cut by the server's GOAWAY (httpx raises RemoteProtocolError for it)."""
    async def send(path: str, make: Make) -> tuple[int, bytes, bool]:
        for attempt in (1, 2):
            try:
                resp = await client.post(base + path, content=make(),
                                         headers={"content-type": CONTENT_TYPE.decode()})
            except httpx.TransportError:  # RemoteProtocolError, or WriteError on a connection being closed
                if attempt == 2:
                    raise
                continue
            return resp.status_code, resp.content, attempt > 1
        raise AssertionError("unreachable")
    return send


async def direct_link(pki: Pki, port: int) -> Link:
    """The uplink's HTTP/2 client on an ordinary TLS connection to hypercorn, ALPN h2."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=pki.client_context(["h2"]),
                                                   server_hostname="localhost", limit=64 * 1024)
    chosen = writer.get_extra_info("ssl_object").selected_alpn_protocol()
    if chosen != "h2":
        raise SystemExit(f"hypercorn did not negotiate h2 over TLS (ALPN {chosen!r})")
    link = Link(AsyncioStream(reader, writer), authority=f"localhost:{port}")
    await link.start()
    return link


class DirectConnection:
    """The direct connection, opened again whenever hypercorn has closed it.  Hypercorn (0.18, the gateway's
    defaults) ends an HTTP/2 connection with GOAWAY after ``keep_alive_max_requests`` (1,000) requests, and
    one without an open stream after ``keep_alive_timeout`` (5 s), e.g. while the uplink's run goes on."""

    def __init__(self, pki: Pki, port: int) -> None:
        self._pki, self._port = pki, port
        self.link: Link | None = None
        self.reopened = 0
        self._lock = asyncio.Lock()

    async def get(self) -> Link:
        if self.link is not None and self.link.alive:
            return self.link
        async with self._lock:
            if self.link is None or not self.link.alive:
                if self.link is not None:
                    await self.link.aclose()
                    self.reopened += 1
                self.link = await direct_link(self._pki, self._port)
            return self.link

    async def aclose(self) -> None:
        if self.link is not None:
            await self.link.aclose()


# --------------------------------------------------------------------------- workloads


@dataclass
class PullPoint:
    path: str
    left: int  # full pages still pending


class PullPool:
    """Pull points with >= 100 pending resources each; one per in-flight request (a pull point serves one
    PullMessages at a time, docs/wire-format.md §6.4 rule 7)."""

    def __init__(self, create: Send, credentials: tuple[str, str], pages: int) -> None:
        self._create, self._credentials, self.pages = create, credentials, pages
        self.ready: list[PullPoint] = []
        self.spent: list[str] = []
        self.misses = 0  # pull points created inside a timed phase because the pool ran dry

    async def _one(self) -> PullPoint:
        status, data, _ = await self._create(EVENT_PATH, lambda: envelope(
            CREATE_ACTION, "https://localhost" + EVENT_PATH, CREATE_BODY, self._credentials))
        if status != 200:
            raise RuntimeError(f"CreatePullPointSubscription -> HTTP {status}: {data[:1000]!r}")
        address = etree.fromstring(data).find(f".//{{{TEV}}}SubscriptionReference/{{{WSA}}}Address")
        if address is None or not address.text:
            raise RuntimeError("CreatePullPointSubscriptionResponse without an address")
        return PullPoint(path=urlsplit(address.text.strip()).path, left=self.pages)

    async def fill(self, count: int, pages: int = 0, at_least: int = 0) -> None:
        """At least ``count`` pull points ready, each with ``at_least`` full pages (fewer than ``self.pages``:
        pull points handed back partly spent by the workers of a run are kept only with that much left), and
        ``pages`` pages together; so no worker finds the pool empty while others hold the pages."""
        at_least = min(at_least, self.pages)
        for pp in [pp for pp in self.ready if pp.left < at_least]:
            self.ready.remove(pp)
            self.spent.append(pp.path)
        pending = sum(pp.left for pp in self.ready)
        missing = max(count - len(self.ready), math.ceil(max(0, pages - pending) / self.pages))
        if missing <= 0:
            return
        sem = asyncio.Semaphore(10)

        async def one() -> None:
            async with sem:
                self.ready.append(await self._one())

        await asyncio.gather(*(one() for _ in range(missing)))

    async def take(self) -> PullPoint:
        if self.ready:
            return self.ready.pop()
        self.misses += 1
        return await self._one()

    def give_back(self, pp: PullPoint) -> None:
        if pp.left > 0:
            self.ready.append(pp)
        else:
            self.spent.append(pp.path)

    async def unsubscribe_spent(self, send: Send) -> None:
        paths, self.spent = self.spent, []
        sem = asyncio.Semaphore(10)

        async def one(path: str) -> None:
            async with sem:
                await send(path, lambda: envelope(UNSUBSCRIBE_ACTION, "https://localhost" + path,
                                                  "<wsnt:Unsubscribe/>", self._credentials))

        await asyncio.gather(*(one(p) for p in paths))


@dataclass
class Phase:
    workload: str
    path: str
    concurrency: int
    requests: int
    seconds: float
    latencies: list[float] = field(repr=False, default_factory=list)
    errors: int = 0
    server_cpu: float = 0.0  # seconds of the serving process (0 when the server is in this process)
    client_cpu: float = 0.0  # seconds of this process
    pool_misses: int = 0
    retried: int = 0  # requests sent a second time on a new connection after a GOAWAY cut them
    reconnects: int = 0  # direct connections hypercorn closed inside the run (GOAWAY after 1,000 requests)
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50) * 1000

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95) * 1000


def pull_maker(path: str, credentials: tuple[str, str]) -> Make:
    return lambda: envelope(PULL_ACTION, "https://localhost" + path, PULL_BODY, credentials)


def time_maker() -> bytes:
    return envelope(TIME_ACTION, "https://localhost" + DEVICE_PATH, TIME_BODY, None)


async def run_phase(workload: str, path_name: str, send: Send, concurrency: int, seconds: float, *,
                    pool: PullPool | None, credentials: tuple[str, str], server_pid: int | None) -> Phase:
    """``concurrency`` workers loop for ``seconds``; each answer is checked."""
    phase = Phase(workload=workload, path=path_name, concurrency=concurrency, requests=0, seconds=0.0)
    started_cpu, started_server = time.process_time(), cpu_seconds(server_pid) if server_pid else 0.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def worker() -> None:
        pp = await pool.take() if pool is not None else None
        try:
            while loop.time() < deadline:
                if pool is not None:
                    assert pp is not None
                    if pp.left <= 0:
                        pool.give_back(pp)
                        pp = await pool.take()
                    path = pp.path
                    make = pull_maker(path, credentials)
                else:
                    path, make = DEVICE_PATH, time_maker
                t0 = time.perf_counter()
                retried = False
                try:
                    status, data, retried = await send(path, make)
                except Exception as exc:
                    status, data = 0, repr(exc).encode()
                elapsed = time.perf_counter() - t0
                phase.retried += retried
                if pool is not None and pp is not None:
                    # A pull cut by a GOAWAY may have been served: its page is gone, count it as spent.
                    pp.left -= 2 if retried else 1
                ok = status == 200 and (messages_in(data) == PAGE if pool is not None
                                        else b"GetSystemDateAndTimeResponse" in data)
                if ok:
                    phase.requests += 1
                    phase.latencies.append(elapsed)
                else:
                    phase.errors += 1
                    if not phase.first_error:
                        phase.first_error = f"HTTP {status}: {data[:300]!r}"
        finally:
            if pool is not None and pp is not None:
                pool.give_back(pp)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.seconds = time.perf_counter() - t0
    phase.client_cpu = time.process_time() - started_cpu
    if server_pid:
        phase.server_cpu = cpu_seconds(server_pid) - started_server
    if pool is not None:
        phase.pool_misses = pool.misses
        pool.misses = 0
    return phase
