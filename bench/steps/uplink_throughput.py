"""bench/uplink.py, part 1: requests through one uplink beside a direct HTTP/2 connection, and the HTTP/2 stacks
alone."""
from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.kit.process import (
    GatewayProcess,
    log,
    vmsgw,
)
from bench.steps.uplink_common import (
    CONTENT_TYPE,
    DEVICE_PATH,
    PAGE,
    START_TIMEOUT,
    Pki,
    error_summary,
    messages_in,
)
from bench.steps.uplink_http2 import (
    DirectConnection,
    Phase,
    PullPool,
    Send,
    direct_link,
    httpx_sender,
    link_sender,
    pull_maker,
    run_phase,
)
from gateway.catalog.model import Segment
from gateway.catalog.store import Catalog
from gateway.cli.demo_city import DEFAULT_SEED, generate_city
from gateway.uplink.listening.link import Link
from gateway.uplink.listening.listener import TlsFiles, UplinkListener, server_context
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.shared.stream import AsyncioStream


def replay_app(body: bytes) -> Callable[..., Awaitable[None]]:
    """A trivial ASGI app: read the request, answer ``body`` (a real 100-message PullMessagesResponse)."""
    headers = [(b"content-type", CONTENT_TYPE), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def raw_limits(pki: Pki, sample: bytes, concurrencies: Sequence[int], seconds: float,
                     credentials: tuple[str, str]) -> list[Phase]:
    """Link -> hypercorn and Link -> H2Server (the uplink's server) in this process, over loopback TLS."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from gateway.uplink.connecting.h2server import H2Server

    app = replay_app(sample)
    stop = asyncio.Event()
    # hypercorn, TLS with ALPN h2
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = config.keyfile = str(pki.server_pem)
    config.accesslog = None
    config.errorlog = None
    hyper = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    # the uplink's HTTP/2 server, on the server end of a loopback TLS connection it did not open
    servers: list[asyncio.Task[None]] = []
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put((reader, writer))

    listener = await asyncio.start_server(on_accept, "127.0.0.1", 0, ssl=server_context(
        TlsFiles(certfile=str(pki.server_pem), keyfile=str(pki.server_pem))))
    h2_port = listener.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", h2_port, ssl=pki.client_context(["http/1.1"]),
                                                   server_hostname="localhost")
    # The device is the TLS client and the HTTP/2 server: here the accepting end is the Link's.
    their_reader, their_writer = await accepted.get()
    server = H2Server(app, AsyncioStream(reader, writer), extensions={})
    servers.append(asyncio.create_task(server.serve()))
    uplink = Link(AsyncioStream(their_reader, their_writer), authority="raw")
    await uplink.start()
    for _ in range(100):
        try:
            hyper_link = await direct_link(pki, port)
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        raise SystemExit("in-process hypercorn did not start")
    phases: list[Phase] = []
    try:
        hyper_conn = DirectConnection(pki, port)
        hyper_conn.link = hyper_link

        async def the_uplink() -> Link:
            return uplink

        sends = {"raw hypercorn": link_sender(hyper_conn.get, retry=True), "raw H2Server": link_sender(the_uplink)}
        for name, send in sends.items():  # warm-up
            await run_phase("raw", name, send, 5, 0.5, pool=None, credentials=credentials, server_pid=None)
        for concurrency in concurrencies:
            for name, send in sends.items():
                phase = await _replay_phase(name, send, concurrency, seconds)
                phases.append(phase)
                log(f"raw limit, {name}, {concurrency} in flight: {phase.rate:,.0f} req/s "
                    f"(both ends in this process: {phase.client_cpu * 1e6 / max(phase.requests, 1):,.0f} µs CPU/req)")
    finally:
        await hyper_conn.aclose()
        await uplink.aclose()
        for task in servers:
            task.cancel()
        await asyncio.gather(*servers, return_exceptions=True)
        listener.close()
        stop.set()
        await asyncio.gather(hyper, return_exceptions=True)
    return phases


async def _replay_phase(name: str, send: Send, concurrency: int, seconds: float) -> Phase:
    phase = Phase(workload="raw", path=name, concurrency=concurrency, requests=0, seconds=0.0)
    make = pull_maker("/p", ("u", "p"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    cpu = time.process_time()

    async def worker() -> None:
        while loop.time() < deadline:
            t0 = time.perf_counter()
            status, data, retried = await send("/onvif/pullpoint/raw", make)
            phase.retried += retried
            if status == 200 and len(data) > 0:
                phase.requests += 1
                phase.latencies.append(time.perf_counter() - t0)
            else:
                phase.errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.seconds = time.perf_counter() - t0
    phase.client_cpu = time.process_time() - cpu
    return phase


# --------------------------------------------------------------------------- part 1: throughput


@dataclass
class Throughput:
    resources: int
    pages_per_pull_point: int
    response_bytes: int
    phases: list[Phase]
    raw: list[Phase]
    leaf_connect_seconds: float
    notes: list[str] = field(default_factory=list)

    def best(self, workload: str, path: str, concurrency: int) -> Phase | None:
        found = [p for p in self.phases if (p.workload, p.path, p.concurrency) == (workload, path, concurrency)]
        return max(found, key=lambda p: p.rate) if found else None

    def runs(self, workload: str, path: str, concurrency: int) -> list[Phase]:
        return [p for p in self.phases if (p.workload, p.path, p.concurrency) == (workload, path, concurrency)]

    def ratio(self, workload: str, concurrency: int) -> float:
        d, u = self.best(workload, "direct", concurrency), self.best(workload, "uplink", concurrency)
        return u.rate / d.rate if d and u and d.rate else 0.0


class OneIdentity:
    """The listener's catalog lookups, for one segment known by one token."""

    def __init__(self, token: str, name: str) -> None:
        self._token, self._segment = token, Segment(name=name, url=f"https://{name}{DEVICE_PATH}", user="",
                                                    password="", uplink_token=True)

    def find_segment_by_uplink_identity(self, identity: str) -> Segment | None:
        return None

    def find_segment_by_uplink_token(self, token: str) -> Segment | None:
        return self._segment if secrets.compare_digest(token, self._token) else None


async def throughput(args: argparse.Namespace, tmp: Path, pki: Pki) -> Throughput:
    db = f"sqlite:///{tmp / 'leaf.db'}"
    log(f"leaf catalog: generating and importing {args.resources:,} resources (generate_city, seed {DEFAULT_SEED})")
    catalog = Catalog.open(db)
    try:
        catalog.upgrade()
        catalog.import_resources(generate_city(args.resources, DEFAULT_SEED), replace=False)
    finally:
        catalog.close()
    user, password = "bench", secrets.token_urlsafe(18)
    credentials = (user, password)
    token = secrets.token_urlsafe(32)
    vmsgw(["user", "add", user, "--level", "user", "--db", db], stdin=password + "\n")
    vmsgw(["uplink", "key", "add", "bench-ca", "--ca", str(pki.ca_pem), "--db", db])
    vmsgw(["uplink", "key", "add", "bench-token", "--token-stdin", "--db", db], stdin=token + "\n")

    # The remote client: an uplink listener in this process (the gateway's own listener code).
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    listen_port = sock.getsockname()[1]
    vmsgw(["uplink", "set", f"https://localhost:{listen_port}/uplink", "--level", "operator",
             "--token-id", "bench-token", "--ca-id", "bench-ca", "--db", db])
    registry = UplinkRegistry()
    stop = asyncio.Event()
    listener = asyncio.create_task(UplinkListener(sock, server_context(TlsFiles(
        certfile=str(pki.server_pem), keyfile=str(pki.server_pem))), OneIdentity(token, "leaf"), registry).serve(stop))

    leaf = GatewayProcess(["--listen", "127.0.0.1:0", "--db", db, "--tls-cert", str(pki.server_pem),
                           "--tls-key", str(pki.server_pem)], log_path=tmp / "leaf.log", timeout=START_TIMEOUT)
    log("starting the leaf gateway (HTTPS + ALPN h2 for direct clients; its connector dials this process)")
    t0 = time.perf_counter()
    await asyncio.to_thread(leaf.start)  # the loop keeps serving the listener meanwhile
    direct: DirectConnection | None = None
    client: httpx.AsyncClient | None = None
    try:
        uplink = await registry.wait("leaf", 60.0)
        if uplink is None:
            raise SystemExit(f"the leaf did not connect its uplink within 60 s\n{leaf.log_path.read_text()[-3000:]}")
        connect_seconds = time.perf_counter() - t0
        log(f"leaf uplink connected {connect_seconds:.1f} s after the process started; direct at {leaf.url}")
        direct = DirectConnection(pki, leaf.port)
        await direct.get()
        client = httpx.AsyncClient(http2=True, verify=pki.client_context(["h2", "http/1.1"]),
                                   timeout=httpx.Timeout(60.0), limits=httpx.Limits(max_connections=1))

        async def current_uplink() -> Link:
            link = registry.get("leaf")
            if link is None:
                raise RuntimeError("the leaf's uplink is down")
            return link

        sends: dict[str, Send] = {
            "direct": link_sender(direct.get, retry=True),
            "uplink": link_sender(current_uplink),
            "direct httpx": httpx_sender(client, f"https://localhost:{leaf.port}"),
        }
        pages = args.resources // PAGE
        pool = PullPool(sends["direct"], credentials, pages)
        log("warming up every path (GetSystemDateAndTime, PullMessages)")
        await pool.fill(6)
        rate_seen = 50.0  # PullMessages per second, the most seen: sizes the pool before each run
        sample_status, sample, _ = await sends["direct"](pool.ready[-1].path,
                                                         pull_maker(pool.ready[-1].path, credentials))
        pool.ready[-1].left -= 1
        if sample_status != 200 or messages_in(sample) != PAGE:
            raise SystemExit(f"the first PullMessages did not answer {PAGE} messages: {sample[:2000]!r}")
        for name, send in sends.items():
            await run_phase("GetSystemDateAndTime", name, send, 5, 1.0, pool=None, credentials=credentials,
                            server_pid=None)
            warm = await run_phase("PullMessages", name, send, 2, 1.0, pool=pool, credentials=credentials,
                                   server_pid=None)
            if warm.errors:
                raise SystemExit(f"{name}: PullMessages failed in the warm-up: {warm.first_error}")
            rate_seen = max(rate_seen, warm.rate)
        phases: list[Phase] = []
        order = ["direct", "uplink"]
        for workload in ("PullMessages", "GetSystemDateAndTime"):
            for concurrency in args.concurrency:
                for rnd in range(args.rounds):
                    names = order if rnd % 2 == 0 else order[::-1]
                    if rnd == 0 and not args.no_httpx:
                        names = [*names, "direct httpx"]
                    for name in names:
                        if workload == "PullMessages":
                            # Every page the run may pull, with room for a faster run and the retries.
                            need = math.ceil(1.5 * rate_seen * args.seconds) + 2 * concurrency
                            await pool.fill(concurrency + 2, need, math.ceil(need / concurrency))
                            await pool.unsubscribe_spent(sends["direct"])
                        await direct.get()  # hypercorn may have closed it while the other path ran: not timed
                        reopened = direct.reopened
                        phase = await run_phase(workload, name, sends[name], concurrency, args.seconds,
                                                pool=pool if workload == "PullMessages" else None,
                                                credentials=credentials, server_pid=leaf.pid)
                        phase.reconnects = direct.reopened - reopened
                        phases.append(phase)
                        if workload == "PullMessages":
                            rate_seen = max(rate_seen, phase.rate)
                            await pool.unsubscribe_spent(sends["direct"])
                        log(f"{workload}, {name}, {concurrency} in flight, round {rnd + 1}: "
                            f"{phase.rate:,.0f} req/s, p50 {phase.p50:.1f} ms, p95 {phase.p95:.1f} ms, "
                            f"leaf CPU {phase.server_cpu * 1000 / max(phase.requests, 1):.2f} ms/req"
                            + (f", {phase.errors} errors: {phase.first_error}" if phase.errors else "")
                            + (f", pool ran dry {phase.pool_misses}x" if phase.pool_misses else ""))
        log("raw limit: the HTTP/2 stacks alone (trivial app replaying a 100-message answer, in this process)")
        raw = await raw_limits(pki, sample, args.concurrency, min(args.seconds, 5.0), credentials)
        notes = [f"Leaf log while measuring: {error_summary(leaf.log_path.read_text(errors='replace'))}.",
                 ("hypercorn (the gateway's defaults) ends a direct HTTP/2 connection with GOAWAY after 1,000 "
                 "requests (`keep_alive_max_requests`) and when no stream has been open for 5 s "
                 f"(`keep_alive_timeout`). The direct `Link` was opened again {direct.reopened} times: "
                 f"{sum(p.reconnects for p in phases)} inside timed runs, the rest before a run. `Link` fails "
                 "every stream in flight when a GOAWAY arrives (link.py rule 5), so those requests are sent again "
                 "on the new connection with a fresh nonce, inside the timing: "
                 f"{sum(p.retried for p in phases if p.path == 'direct')} requests in all direct runs "
                 f"({sum(p.retried for p in phases if p.path == 'direct httpx')} for httpx, which raises "
                 "RemoteProtocolError/WriteError for them). A PullMessages cut so may have been served: its pull "
                 "point counts the page as spent. The uplink (`H2Server`) has no request limit: "
                 f"{sum(p.retried for p in phases if p.path == 'uplink')} uplink requests were sent twice.")]
        return Throughput(resources=args.resources, pages_per_pull_point=pages, response_bytes=len(sample),
                          phases=phases, raw=raw, leaf_connect_seconds=connect_seconds, notes=notes)
    finally:
        if client is not None:
            await client.aclose()
        if direct is not None:
            await direct.aclose()
        stop.set()
        await asyncio.gather(listener, return_exceptions=True)
        leaf.stop()
