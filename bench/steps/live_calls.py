"""bench/live.py's measurements: the SOAP calls timed from outside, and the raw limit of adapting one answer.

A call is a hand-built SOAP 1.2 envelope with a fresh WS-UsernameToken digest (``bench/kit/soap.py``), POSTed over
one keep-alive HTTP/1.1 connection per client (httpx); the time is the POST's round trip alone (building the
envelope and checking the reply are outside it). Clients are threads, each with its own connection, warmed up
on it and then started together; calls/s is calls over the wall time from their start to the last one's end.

The raw limit is what the adaption does to the bytes, without I/O, in this process: the request envelope parsed
with lxml, its profile token's prefix stripped, serialised again; the camera's own answer parsed, every token
prefixed (``token`` attributes and ``...Token`` elements) and a stream URI replaced, serialised again.
"""
from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from bench.kit.process import log
from bench.kit.soap import CONTENT_TYPE, SOAP, TR2, envelope
from bench.kit.stats import nearest_rank
from bench.steps.live_levels import cpu_now

MEDIA2_ACTION = "http://www.onvif.org/ver20/media/wsdl/"
PTZ_ACTION = "http://www.onvif.org/ver20/ptz/wsdl/"
PREFIXES = ("s", "wsa", "tt", "tr2", "tptz")
BODY = f"{{{SOAP}}}Body"
FAULT = f"{{{SOAP}}}Fault"
#: A call that has not answered after this long is an error, not a latency.
CALL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Operation:
    name: str
    path: str
    action: str
    body: Callable[[str], str]


def _stream_uri(token: str) -> str:
    return (f"<tr2:GetStreamUri><tr2:Protocol>RtspUnicast</tr2:Protocol><tr2:ProfileToken>{token}"
            "</tr2:ProfileToken></tr2:GetStreamUri>")


def _profiles(token: str) -> str:
    return f"<tr2:GetProfiles><tr2:Token>{token}</tr2:Token><tr2:Type>All</tr2:Type></tr2:GetProfiles>"


def _move(token: str) -> str:
    # With the client's own Timeout: the gateway passes it (a move without one gets a bounded one added).
    return (f'<tptz:ContinuousMove><tptz:ProfileToken>{token}</tptz:ProfileToken><tptz:Velocity>'
            '<tt:PanTilt x="0.1" y="0"/></tptz:Velocity><tptz:Timeout>PT1S</tptz:Timeout></tptz:ContinuousMove>')


OPERATIONS = {
    "GetStreamUri": Operation("GetStreamUri", "/onvif/media2_service", MEDIA2_ACTION + "GetStreamUri", _stream_uri),
    "ContinuousMove": Operation("ContinuousMove", "/onvif/ptz_service", PTZ_ACTION + "ContinuousMove", _move),
    "GetProfiles": Operation("GetProfiles", "/onvif/media2_service", MEDIA2_ACTION + "GetProfiles", _profiles),
}


@dataclass(frozen=True)
class Target:
    """Where a call goes: the camera itself (depth 0) or a gateway level, with that level's token and account."""

    name: str
    depth: int
    base: str
    user: str
    password: str
    token: str


def request(target: Target, op: Operation) -> tuple[str, bytes]:
    url = target.base + op.path
    return url, envelope(url, op.action, op.body(target.token), (target.user, target.password), PREFIXES)


def check(op: Operation, target: Target, reply: bytes) -> str | None:
    """None if ``reply`` is the answer ``op`` expects, else what is wrong with it."""
    try:
        body = etree.fromstring(reply).find(BODY)
    except etree.XMLSyntaxError as err:
        return f"not XML: {err}"
    answer = body[0] if body is not None and len(body) else None
    if answer is None:
        return "empty body"
    if answer.tag == FAULT:
        return "fault: " + " ".join(" ".join(answer.itertext()).split())[:200]
    if etree.QName(answer).localname != op.name + "Response":
        return f"answered {answer.tag}"
    if op.name == "GetStreamUri" and not (answer.findtext(f"{{{TR2}}}Uri") or "").startswith("rtsp://"):
        return "no rtsp:// Uri"
    if op.name == "GetProfiles":
        first = answer.find(f"{{{TR2}}}Profiles")
        if first is None or first.get("token") != target.token:
            return f"profile {None if first is None else first.get('token')!r}, not {target.token!r}"
    return None


def call_once(target: Target, op: Operation, http: httpx.Client | None = None) -> bytes:
    """One call (on ``http``'s connection, else on one of its own); the reply's bytes (raises on any error)."""
    url, data = request(target, op)
    if http is None:
        with connection() as own:
            reply = own.post(url, content=data)
    else:
        reply = http.post(url, content=data)
    problem = None if reply.status_code == 200 else f"HTTP {reply.status_code}"
    problem = problem or check(op, target, reply.content)
    if problem:
        raise RuntimeError(f"{op.name} at {target.name}: {problem}\n{reply.text[:1000]}")
    return reply.content


def connection() -> httpx.Client:
    """One keep-alive connection for :func:`call_once`."""
    return httpx.Client(timeout=CALL_TIMEOUT, headers={"Content-Type": CONTENT_TYPE})


@dataclass
class Cell:
    """One operation at one target with ``clients`` concurrent clients."""

    operation: str
    target: str
    depth: int
    clients: int
    calls: int
    errors: int
    first_error: str | None
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    calls_per_s: float
    cpu_ms_per_call: dict[str, float] = field(default_factory=dict)
    load: float = 0.0
    warmup_errors: int = 0  # while the clients connected and warmed up, untimed
    first_warmup_error: str | None = None


class _Client(threading.Thread):
    """One client: ``warmup`` untimed calls on its own connection (so connecting is not timed), then, once every
    client is ready, ``calls`` timed calls on the same connection."""

    def __init__(self, target: Target, op: Operation, warmup: int, calls: int, ready: threading.Barrier) -> None:
        super().__init__(daemon=True)
        self.target, self.op, self.warmup, self.calls, self.ready = target, op, warmup, calls, ready
        self.seconds: list[float] = []
        self.errors: list[str] = []
        self.warmup_errors: list[str] = []
        self.replies: list[tuple[int, bytes]] = []

    def _post(self, http: httpx.Client, errors: list[str]) -> httpx.Response | None:
        url, data = request(self.target, self.op)
        try:
            return http.post(url, content=data)
        except httpx.HTTPError as err:
            errors.append(f"{type(err).__name__}: {err}")
            return None

    def run(self) -> None:
        with connection() as http:
            try:
                for _ in range(self.warmup):
                    self._post(http, self.warmup_errors)
            finally:
                self.ready.wait()
            for _ in range(self.calls):
                url, data = request(self.target, self.op)
                began = time.perf_counter()
                try:
                    reply = http.post(url, content=data)
                except httpx.HTTPError as err:
                    self.errors.append(f"{type(err).__name__}: {err}")
                    continue
                self.seconds.append(time.perf_counter() - began)
                self.replies.append((reply.status_code, reply.content))
        for status, content in self.replies:  # checked after the clock stopped
            problem = f"HTTP {status}" if status != 200 else check(self.op, self.target, content)
            if problem:
                self.errors.append(problem)


def measure(target: Target, op: Operation, calls: int, clients: int, warmup: int, pids: dict[str, int]) -> Cell:
    """``calls`` calls shared by ``clients`` clients after ``warmup`` untimed ones (at least one each); the CPU
    per call of each process is read around the timed calls alone."""
    marks: dict[str, Any] = {}

    def go() -> None:  # run by the last client to arrive, before any is released
        marks["cpu"] = cpu_now(pids)
        marks["began"] = time.perf_counter()

    ready = threading.Barrier(clients, action=go)
    share = [calls // clients + (1 if i < calls % clients else 0) for i in range(clients)]
    workers = [_Client(target, op, max(1, math.ceil(warmup / clients)), n, ready) for n in share]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - marks["began"]
    cpu_before, cpu_after = marks["cpu"], cpu_now(pids)
    seconds = sorted(s * 1000.0 for w in workers for s in w.seconds)
    errors = [e for w in workers for e in w.errors]
    warmup_errors = [e for w in workers for e in w.warmup_errors]
    done = len(seconds)

    def rank(pct: float) -> float:
        return nearest_rank(seconds, pct) if seconds else math.nan

    cell = Cell(op.name, target.name, target.depth, clients, done, len(errors), errors[0] if errors else None,
                rank(50), rank(95), rank(99), seconds[-1] if seconds else math.nan,
                statistics.fmean(seconds) if seconds else math.nan, done / wall if wall else 0.0,
                {name: (cpu_after[name] - cpu_before[name]) * 1000.0 / max(done, 1) for name in pids},
                os.getloadavg()[0], len(warmup_errors), warmup_errors[0] if warmup_errors else None)
    log(f"{op.name} at {target.name} x{clients}: p50 {cell.p50_ms:.2f} / p95 {cell.p95_ms:.2f} / p99 "
        f"{cell.p99_ms:.2f} ms, {cell.calls_per_s:.0f} calls/s, errors {cell.errors} (warm-up "
        f"{cell.warmup_errors}), load {cell.load:.2f}")
    return cell


# --------------------------------------------------------------------------- raw limit


_TOKEN_ELEMENTS = frozenset({"ProfileToken", "Token"})


def adapt_request(data: bytes, prefix: str) -> bytes:
    """The request's profile token without its remote prefix, as a gateway forwards it."""
    root = etree.fromstring(data)
    body = root.find(BODY)
    assert body is not None
    for el in body.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname in _TOKEN_ELEMENTS and el.text:
            el.text = el.text.removeprefix(prefix)
    return etree.tostring(root)


def adapt_reply(data: bytes, prefix: str, uri: str) -> bytes:
    """The camera's answer with every token prefixed and its stream URI replaced, as a gateway answers it."""
    root = etree.fromstring(data)
    body = root.find(BODY)
    assert body is not None and len(body)
    answer = body[0]
    for el in answer.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            if name == "token" or name.endswith("Token"):
                el.set(name, prefix + value)
        local = etree.QName(el).localname
        if local.endswith("Token") and len(el) == 0 and el.text:
            el.text = prefix + el.text.strip()
        elif local == "Uri" and el.getparent() is answer:
            el.text = uri
    return etree.tostring(root)


@dataclass
class RawCell:
    operation: str
    request_octets: int
    reply_octets: int
    repeats: int
    request_us: float  # median, parse + strip + serialise the request
    reply_us: float  # median, parse + rewrite + serialise the answer
    p99_us: float  # of request + reply
    calls_per_s: float  # one core, request + reply, from the mean

    @property
    def total_us(self) -> float:
        return self.request_us + self.reply_us


def raw_limit(op: Operation, gateway_request: bytes, camera_reply: bytes, prefix: str, uri: str,
              repeats: int) -> RawCell:
    """Time the adaption of one call ``repeats`` times (after a tenth as warm-up); checks it did adapt."""
    # ContinuousMoveResponse is empty: nothing to rewrite there, only the request's token.
    if op.name != "ContinuousMove" and adapt_reply(camera_reply, prefix, uri) == etree.tostring(
            etree.fromstring(camera_reply)):
        raise RuntimeError(f"the raw adaption changed nothing in the answer to {op.name}")
    for _ in range(max(1, repeats // 10)):
        adapt_reply(camera_reply, prefix, uri)
        adapt_request(gateway_request, prefix)
    req_s, rep_s = [], []
    for _ in range(repeats):
        a = time.perf_counter()
        adapt_request(gateway_request, prefix)
        b = time.perf_counter()
        adapt_reply(camera_reply, prefix, uri)
        c = time.perf_counter()
        req_s.append(b - a)
        rep_s.append(c - b)
    both = sorted((x + y) * 1e6 for x, y in zip(req_s, rep_s, strict=True))
    return RawCell(op.name, len(gateway_request), len(camera_reply), repeats, statistics.median(req_s) * 1e6,
                   statistics.median(rep_s) * 1e6, nearest_rank(both, 99), 1e6 / statistics.fmean(both))

