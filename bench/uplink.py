"""Uplink benchmark: requests through one uplink beside a direct HTTP/2 connection, and 1,000 idle uplinks.

    python bench/uplink.py [--seconds S] [--rounds R] [--uplinks 100,1000] [--hold S] [--out FILE]

One run measures:

1. **Throughput** — a real ``python -m gateway serve`` process (the *leaf*,
   a generated city of ``--resources`` resources in SQLite) serves the same
   requests two ways, interleaved, at each ``--concurrency``:

   * *direct*: HTTPS to its hypercorn listener (``--tls-cert``/``--tls-key``),
     ALPN ``h2``, one connection;
   * *uplink*: the leaf's own connector (configured with ``vmsgw uplink set``
     and ``vmsgw uplink key add``) dials an :class:`UplinkListener` running in
     this process; requests go down the registered link.

   Both are driven by the same HTTP/2 client, :class:`gateway.uplink.link.Link`
   (the remote client's side of an uplink; over the direct connection it is
   simply an h2 client on a TLS socket), so the only differences are the
   server's HTTP/2 stack (hypercorn vs the uplink's ``H2Server``) and who
   opened the connection.  httpx (``http2=True``) over the direct connection is
   shown beside, as an ordinary client would see it.  Workloads: PullMessages
   (Timeout PT0S, MessageLimit 100) on pull points with >= 100 pending
   resources, one pull point per in-flight request, every answer checked for
   100 messages; and GetSystemDateAndTime (cheap, transport-bound).
   A *raw limit* runs in this process: the same Link against hypercorn and
   against ``H2Server``, over loopback TLS, with a trivial ASGI app replaying a
   100-message PullMessages answer: the HTTP/2 stacks alone.
2. **Idle uplinks** — a real ``vmsgw serve --uplink-listen`` process (the
   *listener*) with ``--uplinks`` segments identified by access tokens
   (written through the catalog API), and as many connectors in this process
   (``gateway.uplink.connector.Uplink``, the production code: TLS, upgrade,
   ``H2Server``, 10 s PINGs, the 30 s silence rule, reconnect backoff), all
   serving one in-process gateway app with an empty catalog.  The listener's
   federation syncs each segment through its link (subscribe, enumerate, then
   one parked PullMessages per segment, Timeout = ``--heartbeat``).  The
   listener's VmRSS is read at 0 uplinks and after each step, then every
   connection is held ``--hold`` seconds (> the 30 s keepalive rule) and
   checked: still Connected on the device side, the segment ``up`` in the
   listener's catalog, no "closed" line in the listener's log.

Results go to ``--out`` (markdown) and the same table is printed; progress
goes to stderr.  Client and servers share the machine's cores.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import benchlib
import h2
import httpx
import hypercorn
import trustme
from lxml import etree

from gateway.catalog.model import KeyEntry, Segment, UplinkConfig
from gateway.catalog.store import Catalog
from gateway.cli.demo_city import DEFAULT_SEED, generate_city
from gateway.uplink.listening.link import Link
from gateway.uplink.listening.listener import TlsFiles, UplinkListener, server_context
from gateway.uplink.listening.registry import UplinkRegistry
from gateway.uplink.shared.stream import AsyncioStream

# --------------------------------------------------------------------------- constants

DEFAULT_RESOURCES = 10_000
DEFAULT_CONCURRENCY = (1, 10, 50)
DEFAULT_SECONDS = 8.0
DEFAULT_ROUNDS = 3
DEFAULT_UPLINKS = (100, 1000)
DEFAULT_HOLD = 45.0
#: The idle segments' PullMessages Timeout: the most a segment may have (catalog MAX_HEARTBEAT), so a parked
#: pull answers no sooner than that and, during the hold, PINGs alone keep the links alive.
DEFAULT_HEARTBEAT = 300.0
PAGE = 100
#: Acceptance (the issue): one gateway process holds 1,000 uplinks; through one uplink >= half the direct rate.
UPLINKS_WANTED = 1000
RATIO_MIN = 0.5
KEEPALIVE_RULE = 30.0  # docs/wire-format.md §9.4: no packet for 30 s -> the device closes and reconnects
START_TIMEOUT = 120.0
CONNECT_BATCH = 50
SETTLE = 10.0

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
                   "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
BASE64_BINARY = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-soap-message-security-1.0#Base64Binary")
CREATE_ACTION = "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest"
PULL_ACTION = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest"
UNSUBSCRIBE_ACTION = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
TIME_ACTION = "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"
DEVICE_PATH = "/onvif/device_service"
EVENT_PATH = "/onvif/event_service"
CONTENT_TYPE = b"application/soap+xml; charset=utf-8"
#: One notification message in a PullMessagesResponse, counted in the raw bytes.
_MESSAGE_END = re.compile(rb"</[A-Za-z0-9_]*:?NotificationMessage>")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


log = benchlib.log


def _pct(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100.0 * len(ordered))) - 1]


# --------------------------------------------------------------------------- processes


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (/proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def run_cli(args: Sequence[str], *, stdin: str | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "gateway", *args], input=stdin, text=True, capture_output=True,
                          cwd=ROOT, timeout=600, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"vmsgw {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


@dataclass
class GatewayProcess:
    """``python -m gateway serve`` on loopback; stderr goes to a file (a chatty server never blocks on a pipe)."""

    args: list[str]
    log_path: Path
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    uplink_port: int = 0

    def start(self, *, uplinks: bool = False) -> GatewayProcess:
        with self.log_path.open("a") as err:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", *self.args], cwd=ROOT,
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        lines: list[str] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for _ in range(2 if uplinks else 1):
                lines.append(self.proc.stdout.readline())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        text = "".join(lines)
        if "serving on" not in text or (uplinks and "accepting uplinks on" not in text):
            self.stop()
            tail = self.log_path.read_text()[-4000:]
            raise SystemExit(f"the gateway did not start: {text!r}\n{tail}")
        self.url = text.split("serving on", 1)[1].split()[0]
        if uplinks:
            self.uplink_port = int(text.split("accepting uplinks on", 1)[1].split()[0].rsplit(":", 1)[1])
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def stop(self) -> None:
        if self.proc is not None:
            benchlib.stop_process(self.proc)
            self.proc = None


# --------------------------------------------------------------------------- TLS material


@dataclass
class Pki:
    ca_pem: Path  # the CA both sides trust
    server_pem: Path  # certificate chain + key for localhost / 127.0.0.1

    @classmethod
    def make(cls, folder: Path) -> Pki:
        ca = trustme.CA()  # ECDSA keys
        pki = cls(ca_pem=folder / "ca.pem", server_pem=folder / "server.pem")
        ca.cert_pem.write_to_path(str(pki.ca_pem))
        ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pki.server_pem))
        return pki

    def client_context(self, alpn: list[str]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_pem))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(alpn)
        return ctx


# --------------------------------------------------------------------------- SOAP


def _security(user: str, password: str) -> str:
    nonce = os.urandom(16)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{user}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{BASE64_BINARY}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>")


def envelope(action: str, to: str, body: str, credentials: tuple[str, str] | None) -> bytes:
    security = _security(*credentials) if credentials else ""
    return (f'<s:Envelope xmlns:s="{SOAP}" xmlns:wsa="{WSA}" xmlns:tds="{TDS}" xmlns:tev="{TEV}" '
            f'xmlns:wsnt="{WSNT}"><s:Header><wsa:Action>{action}</wsa:Action>'
            f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID><wsa:To>{to}</wsa:To>{security}</s:Header>"
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()


PULL_BODY = f"<tev:PullMessages><tev:Timeout>PT0S</tev:Timeout><tev:MessageLimit>{PAGE}</tev:MessageLimit></tev:PullMessages>"
CREATE_BODY = ("<tev:CreatePullPointSubscription><tev:Filter>"
               f'<wsnt:TopicExpression Dialect="{CONCRETE_SET}" xmlns:tns1="http://www.onvif.org/ver10/topics">'
               "tns1:Resource//.</wsnt:TopicExpression></tev:Filter>"
               "<tev:InitialTerminationTime>PT2H</tev:InitialTerminationTime></tev:CreatePullPointSubscription>")
TIME_BODY = "<tds:GetSystemDateAndTime/>"


def messages_in(document: bytes) -> int:
    return len(_MESSAGE_END.findall(document))


# --------------------------------------------------------------------------- HTTP/2 clients

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
        return _pct(self.latencies, 50) * 1000

    @property
    def p95(self) -> float:
        return _pct(self.latencies, 95) * 1000


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
                except Exception as exc:  # noqa: BLE001 (counted and shown; the run goes on)
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


# --------------------------------------------------------------------------- raw limit: the HTTP/2 stacks alone


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
    run_cli(["user", "add", user, "--level", "user", "--db", db], stdin=password + "\n")
    run_cli(["uplink", "key", "add", "bench-ca", "--ca", str(pki.ca_pem), "--db", db])
    run_cli(["uplink", "key", "add", "bench-token", "--token-stdin", "--db", db], stdin=token + "\n")

    # The remote client: an uplink listener in this process (the gateway's own listener code).
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    listen_port = sock.getsockname()[1]
    run_cli(["uplink", "set", f"https://localhost:{listen_port}/uplink", "--level", "operator",
             "--token-id", "bench-token", "--ca-id", "bench-ca", "--db", db])
    registry = UplinkRegistry()
    stop = asyncio.Event()
    listener = asyncio.create_task(UplinkListener(sock, server_context(TlsFiles(
        certfile=str(pki.server_pem), keyfile=str(pki.server_pem))), OneIdentity(token, "leaf"), registry).serve(stop))

    leaf = GatewayProcess(["--listen", "127.0.0.1:0", "--db", db, "--tls-cert", str(pki.server_pem),
                           "--tls-key", str(pki.server_pem)], tmp / "leaf.log")
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


# --------------------------------------------------------------------------- part 2: idle uplinks


class Fleet:
    """The catalog side of N simulated devices' connectors: their keystore, and the statuses they report."""

    def __init__(self, ca_pem: str, tokens: dict[str, str]) -> None:
        self._ca = KeyEntry(id="ca", kind="ca", cert_pem=ca_pem)
        self._tokens = {key: KeyEntry(id=key, kind="token", secret=value) for key, value in tokens.items()}
        self.status: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.connected_at: dict[str, float] = {}
        self.attempts: dict[str, int] = {}
        self.drops = 0  # Offline reports after a Connected one

    def get_uplinks(self) -> list[UplinkConfig]:
        return []

    def get_key(self, key_id: str) -> KeyEntry | None:
        return self._ca if key_id == "ca" else self._tokens.get(key_id)

    def set_uplink_status(self, remote_address: str, status: str, error: str | None) -> None:
        before = self.status.get(remote_address)
        self.status[remote_address] = status
        if status == "Connecting":
            self.attempts[remote_address] = self.attempts.get(remote_address, 0) + 1
        elif status == "Connected":
            self.connected_at[remote_address] = time.monotonic()
        elif status == "Offline" and before == "Connected":
            self.drops += 1
        if error:
            self.errors[remote_address] = error

    def count(self, status: str) -> int:
        return sum(1 for s in self.status.values() if s == status)


@dataclass
class Step:
    uplinks: int
    rss_kib: int
    connect_seconds: float = 0.0  # from the first dial of the step to every device Connected
    up_seconds: float = 0.0  # ... to every segment "up" in the listener's catalog
    segments_up: int = 0
    listener_cpu: float = 0.0  # listener CPU seconds from the first dial of the step to every segment up


@dataclass
class Idle:
    segments: int
    heartbeat: float
    steps: list[Step]
    hold_seconds: float
    held: int  # devices still Connected at the end of the hold, never dropped
    segments_up_after_hold: int
    listener_closed_lines: int
    listener_connected_lines: int
    device_drops: int
    device_retries: int
    rss_during_hold: list[int]
    hwm_kib: int
    hold_cpu_seconds: float
    bench_rss_kib: int
    fd_note: str
    floor: list[tuple[int, int]]  # (connections, VmRSS KiB) of a bare asyncio TLS server
    listener_errors: str
    first_errors: list[str] = field(default_factory=list)

    @property
    def floor_per_connection_kib(self) -> float:
        if len(self.floor) < 2 or self.floor[-1][0] == self.floor[0][0]:
            return 0.0
        (n0, r0), (n1, r1) = self.floor[0], self.floor[-1]
        return (r1 - r0) / (n1 - n0)

    @property
    def per_uplink_kib(self) -> float:
        if len(self.steps) < 2 or self.steps[-1].uplinks == self.steps[0].uplinks:
            return 0.0
        a, b = self.steps[0], self.steps[-1]
        return (b.rss_kib - a.rss_kib) / (b.uplinks - a.uplinks)

    @property
    def ok(self) -> bool:
        top = self.steps[-1].uplinks
        return (top >= UPLINKS_WANTED and self.held == top and self.segments_up_after_hold == top
                and self.listener_closed_lines == 0 and self.device_drops == 0
                and self.hold_seconds > KEEPALIVE_RULE)


def raise_fd_limit(wanted: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return f"RLIMIT_NOFILE {soft} (enough; {wanted} wanted)"
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return f"RLIMIT_NOFILE raised by the bench from {soft} to {new}"


def median_rss(pid: int, samples: int = 5, every: float = 1.0) -> int:
    values = []
    for i in range(samples):
        values.append(rss_kib(pid))
        if i + 1 < samples:
            time.sleep(every)
    return int(statistics.median(values))


def segments_up(url: str) -> int:
    catalog = Catalog.open(url)
    try:
        return sum(1 for s in catalog.list_segments() if s.state == "up")
    finally:
        catalog.close()


def tls_floor_serve(pem: str) -> None:
    """Child process of the raw limit: an asyncio server that accepts TCP, starts TLS with the listener's own
    context (as UplinkListener does) and then only waits; prints its port."""
    async def serve() -> None:
        context = server_context(TlsFiles(certfile=pem, keyfile=pem))
        held: set[asyncio.Task[None]] = set()

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await writer.start_tls(context)
                await reader.read()
            except (OSError, ssl.SSLError):
                pass
            writer.close()

        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.create_task(hold(reader, writer))
            held.add(task)
            task.add_done_callback(held.discard)

        server = await asyncio.start_server(accept, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    raise_fd_limit(65_536)
    asyncio.run(serve())


async def tls_floor(pki: Pki, steps: Sequence[int]) -> list[tuple[int, int]]:
    """VmRSS of a bare asyncio TLS server (tls_floor_serve) holding 0 and then ``steps`` idle connections."""
    proc = await asyncio.to_thread(subprocess.Popen, [sys.executable, str(Path(__file__).resolve()),
                                                      "--tls-floor-serve", str(pki.server_pem)],
                                   stdout=subprocess.PIPE, text=True, cwd=ROOT)
    writers: list[asyncio.StreamWriter] = []
    try:
        assert proc.stdout is not None
        port = int(await asyncio.to_thread(proc.stdout.readline))
        await asyncio.sleep(2.0)
        found = [(0, await asyncio.to_thread(median_rss, proc.pid, 3, 0.5))]
        context = pki.client_context(["http/1.1"])
        sem = asyncio.Semaphore(CONNECT_BATCH)

        async def one() -> None:
            async with sem:
                _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                          server_hostname="localhost")
                writers.append(writer)

        for target in steps:
            await asyncio.gather(*(one() for _ in range(target - len(writers))))
            await asyncio.sleep(3.0)
            found.append((target, await asyncio.to_thread(median_rss, proc.pid, 3, 0.5)))
            log(f"raw limit: a bare asyncio TLS server holding {target:,} connections: "
                f"VmRSS {found[-1][1] / 1024:.1f} MiB")
        return found
    finally:
        for writer in writers:
            writer.transport.abort()
        benchlib.stop_process(proc, grace=30)


async def idle_uplinks(args: argparse.Namespace, tmp: Path, pki: Pki) -> Idle:
    from gateway.catalog.segments import MAX_HEARTBEAT
    from gateway.events.context import EventLimits
    from gateway.events.waiter import FeedWatcher
    from gateway.runtime import ServeOptions, build_app
    from gateway.uplink.connecting.connector import Uplink

    steps_wanted = sorted(set(args.uplinks))
    total = steps_wanted[-1]
    heartbeat = min(args.heartbeat, MAX_HEARTBEAT)
    fd_note = raise_fd_limit(4 * total + 512)
    log(fd_note)
    log("raw limit: the memory of idle TLS connections alone, in a bare asyncio server")
    floor = await tls_floor(pki, steps_wanted)

    # The listener's catalog: `total` segments, each known by its own access token (the catalog API; the CLI
    # would do the same 2,000 writes in 2,000 processes).
    city_url = f"sqlite:///{tmp / 'listener.db'}"
    tokens = {f"dev{i:04d}": secrets.token_urlsafe(24) for i in range(total)}
    log(f"listener catalog: {total:,} uplinked segments (token identities, heartbeat {heartbeat:g} s)")
    catalog = Catalog.open(city_url)
    try:
        catalog.upgrade()
        for i, (name, token) in enumerate(tokens.items(), 1):
            catalog.add_segment(Segment(name=name, url=f"https://{name}{DEVICE_PATH}", user="", password="",
                                        heartbeat=heartbeat, uplink_token=True))
            catalog.set_segment_uplink(name, None, token)
            if i % 250 == 0:
                log(f"  segments {i:,}/{total:,}")
    finally:
        catalog.close()

    listener = GatewayProcess(["-v", "--listen", "127.0.0.1:0", "--db", city_url, "--uplink-listen", "127.0.0.1:0",
                               "--uplink-cert", str(pki.server_pem), "--uplink-key", str(pki.server_pem)],
                              tmp / "listener.log")
    log("starting the listener gateway (vmsgw serve --uplink-listen)")
    await asyncio.to_thread(listener.start, uplinks=True)

    # The devices: one gateway app (empty catalog) served by every connector in this process.
    dev_url = f"sqlite:///{tmp / 'devices.db'}"
    dev_catalog = Catalog.open(dev_url)
    dev_catalog.upgrade()
    watcher = FeedWatcher(dev_catalog.head_seq)
    watcher_task = asyncio.create_task(watcher.run())
    app = build_app(dev_catalog, watcher, ServeOptions(db_url=dev_url, limits=EventLimits(
        max_pull_points=4 * total + 100)))
    fleet = Fleet(pki.ca_pem.read_text(), tokens)
    address = {name: f"https://localhost:{listener.uplink_port}/uplink/{name}" for name in tokens}
    tasks: dict[str, asyncio.Task[None]] = {}
    steps: list[Step] = []
    rss_hold: list[int] = []

    def log_lines(pattern: str) -> int:
        text = listener.log_path.read_text(errors="replace")
        return len(re.findall(pattern, text))

    try:
        log(f"0 uplinks: letting the listener settle {SETTLE:g} s with {total:,} segments unconnected")
        await asyncio.sleep(SETTLE)
        steps.append(Step(uplinks=0, rss_kib=await asyncio.to_thread(median_rss, listener.pid)))
        log(f"0 uplinks: listener VmRSS {steps[-1].rss_kib / 1024:.1f} MiB")
        names = list(tokens)
        done = 0
        for target in steps_wanted:
            t0, cpu0 = time.perf_counter(), cpu_seconds(listener.pid)
            while done < target:
                batch = names[done:min(done + CONNECT_BATCH, target)]
                for name in batch:
                    config = UplinkConfig(remote_address=address[name], user_level="Operator",
                                          authorization_server=name, cert_path_validation_policy="ca")
                    tasks[name] = asyncio.create_task(Uplink(config, fleet, app).run(), name=f"device:{name}")
                done += len(batch)
                limit = time.monotonic() + 60
                while sum(1 for n in names[:done] if fleet.status.get(address[n]) == "Connected") < done:
                    if time.monotonic() > limit:
                        log(f"WARNING: not every device connected within 60 s ({fleet.count('Connected')}/{done})")
                        break
                    await asyncio.sleep(0.05)
                if done % 200 == 0 or done == target:
                    log(f"  devices connected {fleet.count('Connected'):,}/{done:,}")
            step = Step(uplinks=target, rss_kib=0, connect_seconds=time.perf_counter() - t0)
            limit = time.monotonic() + 180
            while (up := await asyncio.to_thread(segments_up, city_url)) < target and time.monotonic() < limit:
                await asyncio.sleep(1.0)
            step.up_seconds, step.segments_up = time.perf_counter() - t0, up
            step.listener_cpu = cpu_seconds(listener.pid) - cpu0
            log(f"{target:,} uplinks: every device connected in {step.connect_seconds:.1f} s, {up:,} segments up "
                f"after {step.up_seconds:.1f} s; settling {SETTLE:g} s")
            await asyncio.sleep(SETTLE)
            step.rss_kib = await asyncio.to_thread(median_rss, listener.pid)
            steps.append(step)
            log(f"{target:,} uplinks: listener VmRSS {step.rss_kib / 1024:.1f} MiB")

        log(f"holding {total:,} idle uplinks for {args.hold:g} s (the keepalive rule is {KEEPALIVE_RULE:g} s)")
        drops_before, closed_before = fleet.drops, log_lines(r"uplink of segment \S+ closed")
        cpu0, hold0 = cpu_seconds(listener.pid), time.perf_counter()
        while (elapsed := time.perf_counter() - hold0) < args.hold:
            await asyncio.sleep(min(5.0, args.hold - elapsed))
            rss_hold.append(rss_kib(listener.pid))
            log(f"  hold {time.perf_counter() - hold0:4.0f} s: {fleet.count('Connected'):,} connected, "
                f"{fleet.drops - drops_before} dropped, listener VmRSS {rss_hold[-1] / 1024:.1f} MiB")
        hold_seconds = time.perf_counter() - hold0
        hold_cpu = cpu_seconds(listener.pid) - cpu0
        up_after = await asyncio.to_thread(segments_up, city_url)
        held = sum(1 for n in names[:total] if fleet.status.get(address[n]) == "Connected"
                   and fleet.connected_at.get(address[n], math.inf) < hold0)
        errors = sorted(set(fleet.errors.values()))[:3]
        return Idle(
            segments=total, heartbeat=heartbeat, steps=steps, hold_seconds=hold_seconds, held=held,
            segments_up_after_hold=up_after,
            listener_closed_lines=log_lines(r"uplink of segment \S+ closed") - closed_before,
            listener_connected_lines=log_lines(r"uplink of segment \S+ connected"),
            device_drops=fleet.drops, device_retries=sum(max(0, a - 1) for a in fleet.attempts.values()),
            rss_during_hold=rss_hold, hwm_kib=hwm_kib(listener.pid), hold_cpu_seconds=hold_cpu,
            bench_rss_kib=rss_kib(os.getpid()), fd_note=fd_note, floor=floor, first_errors=errors,
            listener_errors=error_summary(listener.log_path.read_text(errors="replace")))
    finally:
        log("closing the devices and stopping the listener")
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        watcher.stop()
        watcher_task.cancel()
        await asyncio.gather(watcher_task, return_exceptions=True)
        dev_catalog.close()
        listener.stop()


# --------------------------------------------------------------------------- results


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "mem": mem, "python": platform.python_version(),
            "h2": h2.__version__, "hypercorn": getattr(hypercorn, "__version__", "") or _dist_version("hypercorn"),
            "httpx": httpx.__version__, "kernel": platform.release()}


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _yes(flag: bool) -> str:
    return "**yes**" if flag else "**NO**"


@dataclass
class Results:
    date: str
    machine: dict[str, str]
    args: argparse.Namespace
    throughput: Throughput | None
    idle: Idle | None
    load: str
    wall_seconds: float = 0.0

    @property
    def ratio_ok(self) -> bool | None:
        t = self.throughput
        if t is None:
            return None
        ratios = [t.ratio("PullMessages", c) for c in self.args.concurrency]
        return bool(ratios) and min(ratios) >= RATIO_MIN


def render(r: Results) -> str:
    m = r.machine
    lines = ["# Uplink benchmark (`python bench/uplink.py`)", "",
             (f"{r.date}; nproc {m['nproc']} ({m['cpu']}), {m['mem']} RAM, Linux {m['kernel']}, Python {m['python']}, "
             f"h2 {m['h2']}, hypercorn {m['hypercorn']}, httpx {m['httpx']}; {r.load}. "
             "The load generator, the in-process remote client and the servers share these cores."), ""]
    lines += ["## Acceptance", "", "| criterion | measured | met |", "| --- | --- | --- |"]
    if r.idle is not None:
        i = r.idle
        top = i.steps[-1]
        lines.append(f"| one gateway process holds {UPLINKS_WANTED:,} uplinks | {i.held:,} of {top.uplinks:,} held "
                     f"{i.hold_seconds:.0f} s, {i.segments_up_after_hold:,} segments up, {i.listener_closed_lines} "
                     f"closed; {i.per_uplink_kib:.0f} KiB RSS per uplink | {_yes(i.ok)} |")
    if r.throughput is not None:
        t = r.throughput
        worst = min(r.args.concurrency, key=lambda c: t.ratio("PullMessages", c))
        lines.append(f"| through one uplink >= {RATIO_MIN:.0%} of a direct HTTP/2 connection's request rate "
                     f"(PullMessages PT0S/100, every concurrency) | lowest uplink/direct "
                     f"{t.ratio('PullMessages', worst):.2f} (at {worst} in flight) | {_yes(bool(r.ratio_ok))} |")
    if r.throughput is not None:
        lines += ["", *_throughput_section(r.throughput, r.args)]
    if r.idle is not None:
        lines += ["", *_idle_section(r.idle)]
    lines += ["", f"Benchmark wall time {r.wall_seconds:.0f} s. Command: `"
              + " ".join(["python", "bench/uplink.py", *_argv_shown(r.args)]) + "`.", ""]
    return "\n".join(lines)


def _argv_shown(args: argparse.Namespace) -> list[str]:
    return list(args.argv)


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) (\S+): (.*)$")
_EXCEPTION = re.compile(r"^[\s|+-]*((?:\w+\.)*\w+(?:Error|Exception|Group))(?::|$)")


def error_summary(text: str) -> str:
    """The ERROR records of a server log, grouped by message, each with the exception types of its traceback."""
    groups: dict[str, tuple[int, set[str]]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        head = _LOG_LINE.match(line)
        if head:
            current = None
            if head.group(1) == "ERROR":
                key = f"{head.group(2)}: {head.group(3)[:120]}"
                count, kinds = groups.get(key, (0, set()))
                groups[key] = (count + 1, kinds)
                current = kinds
        elif current is not None and (kind := _EXCEPTION.match(line)):
            current.add(kind.group(1))
    if not groups:
        return "no ERROR lines"
    return "; ".join(f"{count} × ERROR `{key}`" + (f" ({', '.join(sorted(kinds))})" if kinds else "")
                     for key, (count, kinds) in sorted(groups.items(), key=lambda kv: -kv[1][0]))


def _throughput_section(t: Throughput, args: argparse.Namespace) -> list[str]:
    lines = [
        "## Requests per second: one uplink beside a direct HTTP/2 connection", "",
        (f"Server: one `python -m gateway serve` process (the leaf), SQLite catalog of {t.resources:,} resources "
        f"(`generate_city`). *direct*: HTTPS to its hypercorn listener, ALPN `h2` (`--tls-cert/--tls-key`), one "
        "connection. *uplink*: the leaf's connector (`vmsgw uplink set https://localhost:PORT/uplink`, token "
        "identity) dials an `UplinkListener` in the bench process and serves the same app with `H2Server`; "
        f"connected {t.leaf_connect_seconds:.1f} s after the process started. Both are driven by the same HTTP/2 "
        "client, `gateway.uplink.link.Link` (the remote client's side of an uplink), so only the server's HTTP/2 "
        "stack and the direction of the TCP connection differ. *direct httpx*: `httpx.AsyncClient(http2=True)`, "
        "one connection, for reference (first round only)."),
        "",
        (f"PullMessages: Timeout PT0S, MessageLimit {PAGE}, WS-UsernameToken digest; each in-flight request has a "
        f"pull point of its own (`tns1:Resource//.`, {t.pages_per_pull_point} full pages pending each), every "
        f"answer is checked to hold {PAGE} messages ({t.response_bytes:,} bytes). GetSystemDateAndTime: no "
        "credentials (PRE_AUTH). Each cell is the best of "
        f"{args.rounds} interleaved runs of {args.seconds:g} s; leaf CPU is the server process's CPU per request."),
        "",
        ("| workload | in flight | direct req/s | uplink req/s | **uplink/direct** | p50 / p95 ms direct | "
        "p50 / p95 ms uplink | leaf CPU ms/req direct / uplink | direct: GOAWAYs / requests resent | "
        "direct httpx req/s |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for workload in ("PullMessages", "GetSystemDateAndTime"):
        for c in args.concurrency:
            d, u, x = t.best(workload, "direct", c), t.best(workload, "uplink", c), t.best(workload, "direct httpx", c)
            if d is None or u is None:
                continue
            label = f"PullMessages PT0S/{PAGE}" if workload == "PullMessages" else workload
            lines.append(
                f"| {label} | {c} | {d.rate:,.0f} | {u.rate:,.0f} | **{t.ratio(workload, c):.2f}** | "
                f"{d.p50:.1f} / {d.p95:.1f} | {u.p50:.1f} / {u.p95:.1f} | "
                f"{_per(d.server_cpu, d.requests)} / {_per(u.server_cpu, u.requests)} | "
                f"{d.reconnects} / {d.retried} | {f'{x.rate:,.0f}' if x else '-'} |")
    errors = [p for p in t.phases if p.errors or p.pool_misses]
    lines += ["", "All runs (req/s): " + "; ".join(
        f"{w} {c} {name}: " + ", ".join(f"{p.rate:,.0f}" for p in t.runs(w, name, c))
        for w in ("PullMessages", "GetSystemDateAndTime") for c in args.concurrency
        for name in ("direct", "uplink") if t.runs(w, name, c)) + "."]
    if errors:
        lines += ["", "Errors or pool refills: " + "; ".join(
            f"{p.workload} {p.path} {p.concurrency} in flight: {p.errors} errors"
            + (f" (first: {p.first_error[:200]})" if p.first_error else "")
            + f", {p.pool_misses} pull points created inside the run" for p in errors) + "."]
    else:
        lines += ["", "No request failed; no pull point had to be created inside a timed run."]
    if t.raw:
        lines += ["", "### Raw limit: the HTTP/2 stacks alone", "",
                  ("The same `Link` client against hypercorn (TLS, ALPN h2) and against the uplink's `H2Server` (on "
                  "the TLS connection it opened), both in the bench process with a trivial ASGI app that replays the "
                  f"{t.response_bytes:,}-byte 100-message answer; client and server share one event loop, so CPU "
                  "per request is both ends together."), "",
                  ("| in flight | hypercorn req/s | H2Server req/s | H2Server/hypercorn | µs CPU/req hypercorn / "
                  "H2Server (both ends) |"), "| --- | --- | --- | --- | --- |"]
        for c in args.concurrency:
            hy = next((p for p in t.raw if p.path == "raw hypercorn" and p.concurrency == c), None)
            hs = next((p for p in t.raw if p.path == "raw H2Server" and p.concurrency == c), None)
            if hy and hs:
                lines.append(f"| {c} | {hy.rate:,.0f} | {hs.rate:,.0f} | {hs.rate / hy.rate if hy.rate else 0:.2f} | "
                             f"{hy.client_cpu * 1e6 / max(hy.requests, 1):,.0f} / "
                             f"{hs.client_cpu * 1e6 / max(hs.requests, 1):,.0f} |")
    lines += ["", *(f"- {n}" for n in t.notes)]
    return lines


def _ssl_buffer_kib() -> str:
    import asyncio.sslproto

    size = getattr(asyncio.sslproto.SSLProtocol, "max_size", None)
    return f"{size // 1024}" if isinstance(size, int) else "?"


def _per(cpu: float, n: int) -> str:
    return f"{cpu * 1000 / n:.2f}" if n else "-"


def _idle_section(i: Idle) -> list[str]:
    base = i.steps[0].rss_kib
    lines = [
        "## Idle uplinks held by one listener process", "",
        (f"Listener: one `python -m gateway serve -v --uplink-listen 127.0.0.1:0` process (SQLite catalog) with "
        f"{i.segments:,} uplinked segments, each known by its own access token (written with the catalog API: "
        f"`add_segment` + `set_segment_uplink`, what `vmsgw segment add --uplink-token-stdin` does), heartbeat "
        f"{i.heartbeat:g} s. Devices: {i.segments:,} `gateway.uplink.connector.Uplink` tasks in the bench process "
        "(the production connector: TLS 1.2+, native h2c-reverse upgrade with a bearer token, `H2Server` with "
        "its 10 s PING and 30 s silence rule), all serving one gateway app with an empty catalog. Once a link "
        "is up the listener's federation syncs the segment through it (GetServices, CreatePullPointSubscription, "
        f"an empty enumeration) and then parks one PullMessages (Timeout {i.heartbeat:g} s) per segment; the "
        "listener's `Link` PINGs every 10 s. Devices dial in batches of "
        f"{CONNECT_BATCH}. VmRSS is the median of 5 readings 1 s apart, {SETTLE:g} s after the step settled. "
        f"{i.fd_note}."), "",
        ("| uplinks | listener VmRSS MiB | vs 0 uplinks | per uplink (from the previous step) | devices "
        "connected in | segments up after | raw limit: bare asyncio TLS server VmRSS MiB (per connection) |"),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    prev = None
    floor = dict(i.floor)
    prev_floor: tuple[int, int] | None = None
    for s in i.steps:
        per = "-" if prev is None or s.uplinks == prev.uplinks else \
            f"{(s.rss_kib - prev.rss_kib) / (s.uplinks - prev.uplinks):.0f} KiB"
        raw = "-"
        if s.uplinks in floor:
            raw = f"{floor[s.uplinks] / 1024:.1f}"
            if prev_floor is not None and s.uplinks != prev_floor[0]:
                raw += f" ({(floor[s.uplinks] - prev_floor[1]) / (s.uplinks - prev_floor[0]):.0f} KiB)"
            prev_floor = (s.uplinks, floor[s.uplinks])
        lines.append(f"| {s.uplinks:,} | {s.rss_kib / 1024:.1f} | {(s.rss_kib - base) / 1024:+.1f} MiB | {per} | "
                     + (f"{s.connect_seconds:.1f} s | {s.segments_up:,} in {s.up_seconds:.1f} s |" if s.uplinks
                        else "- | - |") + f" {raw} |")
        prev = s
    top = i.steps[-1]
    hold_rss = ", ".join(f"{v / 1024:.0f}" for v in i.rss_during_hold)
    lines += [
        "",
        (f"- Per uplink, 0 -> {top.uplinks:,}: **{i.per_uplink_kib:.0f} KiB** of listener RSS "
        "(link, TLS, h2 state, the segment's sync session and its parked request). Raw limit, measured in the same "
        f"run: a bare asyncio server that only accepts and starts TLS with the listener's context costs "
        f"**{i.floor_per_connection_kib:.0f} KiB** per idle connection (CPython {platform.python_version()}'s "
        f"`asyncio.sslproto.SSLProtocol` allocates a {_ssl_buffer_kib()} KiB receive buffer per connection), so the "
        f"gateway's own share is about {i.per_uplink_kib - i.floor_per_connection_kib:.0f} KiB per uplink."),
        (f"- Hold: {top.uplinks:,} uplinks for {i.hold_seconds:.0f} s (> the {KEEPALIVE_RULE:g} s rule): "
        f"{i.held:,} devices still Connected on the connection they had before the hold, "
        f"{i.device_drops} dropped, {i.device_retries} reconnect attempts in the whole run; "
        f"{i.segments_up_after_hold:,} segments `up` in the listener's catalog afterwards; listener log: "
        f"{i.listener_connected_lines:,} `uplink of segment ... connected` lines, {i.listener_closed_lines} `closed` "
        "during the hold."),
        f"- Listener VmRSS during the hold (MiB, every 5 s): {hold_rss}; VmHWM {i.hwm_kib / 1024:.1f} MiB.",
        (f"- Listener CPU while holding {top.uplinks:,} idle uplinks: {i.hold_cpu_seconds:.2f} s in "
        f"{i.hold_seconds:.0f} s ({i.hold_cpu_seconds / i.hold_seconds:.1%} of one core): PINGs both ways, "
        "the federation's segment-table re-read every 2 s."),
        f"- The bench process (the {top.uplinks:,} devices) ended at {i.bench_rss_kib / 1024:.0f} MiB RSS.",
        f"- Listener log until the end of the hold: {i.listener_errors}.",
    ]
    if len(i.steps) >= 2:
        before = i.steps[-2]
        new = top.uplinks - before.uplinks
        lines.insert(-1, (
            f"- Connecting {new:,} uplinks ({before.uplinks:,} -> {top.uplinks:,}) cost the listener "
            f"{top.listener_cpu:.1f} s of CPU, {top.listener_cpu * 1000 / new:.1f} ms per uplink: TLS handshake, "
            "upgrade, token lookup, HTTP/2 start and the segment's first sync (GetServices, "
            "CreatePullPointSubscription, an empty PullMessages, catalog writes). The devices were all Connected "
            f"after {top.connect_seconds:.1f} s; the last segment was `up` after {top.up_seconds:.1f} s, because a "
            "segment whose sync failed while it had no link waits out its sync backoff (up to 30 s) before "
            "trying the new link."))
    if i.first_errors:
        lines.append("- Device-side errors seen: " + "; ".join(e[:200] for e in i.first_errors))
    return lines


# --------------------------------------------------------------------------- main


async def _run(args: argparse.Namespace) -> Results:
    wall = time.perf_counter()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="vmsgw-bench-uplink-"))
    try:
        pki = Pki.make(tmp)
        t = None if args.skip_throughput else await throughput(args, tmp, pki)
        i = None if args.skip_idle else await idle_uplinks(args, tmp, pki)
    finally:
        if args.keep_temp:
            log(f"kept {tmp} (catalogs, server logs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    load = f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    return Results(date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), machine=machine_info(),
                   args=args, throughput=t, idle=i, load=load, wall_seconds=time.perf_counter() - wall)


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be at least 1")
    return values


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=DEFAULT_RESOURCES,
                        help=f"resources in the leaf's catalog (default {DEFAULT_RESOURCES:,}; >= {PAGE})")
    parser.add_argument("--concurrency", type=_ints, default=DEFAULT_CONCURRENCY,
                        help="requests in flight, comma-separated (default 1,10,50)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="seconds per timed run (default 8)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="interleaved runs per cell; the best counts")
    parser.add_argument("--no-httpx", action="store_true", help="skip the httpx reference runs")
    parser.add_argument("--uplinks", type=_ints, default=DEFAULT_UPLINKS,
                        help="idle uplink steps, comma-separated (default 100,1000)")
    parser.add_argument("--hold", type=float, default=DEFAULT_HOLD,
                        help=f"seconds to hold every uplink at the top step (default {DEFAULT_HOLD:g})")
    parser.add_argument("--heartbeat", type=float, default=DEFAULT_HEARTBEAT,
                        help=f"the idle segments' heartbeat, seconds (default {DEFAULT_HEARTBEAT:g}, the maximum)")
    parser.add_argument("--skip-throughput", action="store_true", help="only the idle uplinks")
    parser.add_argument("--skip-idle", action="store_true", help="only the throughput comparison")
    parser.add_argument("--keep-temp", action="store_true",
                        help="keep the temporary directory (catalogs, TLS files, the servers' logs)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "uplink.md"),
                        help="results file, markdown (default bench/results/uplink.md)")
    args = parser.parse_args(argv)
    if args.resources < PAGE:
        parser.error(f"--resources must be at least {PAGE}")
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--tls-floor-serve"]:
        tls_floor_serve(argv[1])
        return
    args = parse_args(argv)
    results = asyncio.run(_run(args))
    benchlib.write_report(args.out, render(results))


if __name__ == "__main__":
    main()
