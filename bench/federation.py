"""Federation benchmark: a 100,000-resource segment's initial sync, and a change crossing two levels.

    python bench/federation.py [--size N] [--changes N] [--heartbeat S] [--out FILE]

One run, with real ``python -m gateway serve`` processes on loopback:

1. **Leaf** — ``generate_city(size, seed)`` imported through the catalog's bulk
   path (``Catalog.import_resources``).  The SQLite file is the one
   ``bench/query.py`` caches (same key: size, seed, generator and migrations),
   and each run serves a private copy of it, so the cache is never written.
2. **Capture and raw limit** — the bench subscribes at the leaf the way a
   district does (``tns1:Resource//.``) and pulls every resource with
   PullMessages (PT0S, 1000) over real HTTP, keeping the reply bytes.  The raw
   limit is plain lxml parsing of those replies plus plain DB-API
   ``executemany`` into bare SQLite tables with the catalog's columns (resource
   and scope rows, no indexes, one transaction per reply).
3. **Initial sync** — an empty district gateway runs; ``vmsgw segment add leaf``
   (the real CLI) starts the clock, and the district's catalog file is counted
   read-only every ``--poll`` seconds until it holds every leaf resource; the
   token set is then checked against the leaf.
4. **Where the sync's time goes** — the captured replies are replayed through
   the district's own functions in the bench's process, stage by stage: what
   a reply-parsing process does (``protocol.reply_body``, ``protocol.parse_pull``,
   pickling the batch) and what the storing thread does (unpickling it,
   ``Catalog.segment_set_reachable``, ``Catalog.segment_apply`` into a fresh
   catalog), timed; then a second district syncs under cProfile.
5. **Change latency** — a city gateway gets the district as its segment and
   syncs (its rate is reported too).  Pull points are opened at the leaf, the
   district and the city (hand-built SOAP 1.2 + WS-UsernameToken
   PasswordDigest over httpx, replies read with lxml), drained, and long-polled
   by one thread each.  Then ``--changes`` resources are renamed at the leaf one
   at a time with ``Catalog.apply`` from the bench's process (so the leaf
   server sees each through its feed watcher's head poll); each latency runs
   from the commit to the matching ``Changed`` event at each level.

Results go to ``--out`` (markdown, or JSON when the name ends in ``.json``);
the same table is printed on stdout, progress on stderr.  Client and servers
share the machine's cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import pstats
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import benchlib
import query as qb  # bench/query.py: the catalog cache, the server process, the SOAP client
from lxml import etree

from gateway.cli.demo_city import DEFAULT_SEED

log = qb.log

# --------------------------------------------------------------------------- constants

DEFAULT_SIZE = 100_000
DEFAULT_CHANGES = 200
WARMUP_CHANGES = 5
#: Segment heartbeat (PullMessages Timeout while tailing): long, so it bounds no latency.
DEFAULT_HEARTBEAT = 10.0
#: Seconds between counts of the district's catalog during the sync.
DEFAULT_POLL = 0.05
PAGE = 1000
RAW_REPEATS = 3
#: The profiled district syncs this many replies' worth of resources (shares settle long before all of them).
PROFILE_PAGES = 3
#: Receivers' long-poll Timeout.
LONG_POLL = "PT5S"
#: A change not seen at the city within this many seconds counts as lost.
CHANGE_DEADLINE = 15.0
#: Largest pause between changes, so commits fall at random phases of the leaf's feed poll.
MAX_PAUSE = 0.25
#: Seconds without a new resource at the syncing gateway before the bench gives up.
STALL = 90.0
#: Acceptance (the issue).
SYNC_MIN_RATE = 10_000.0
LATENCY_P99_LIMIT_MS = 1000.0
#: The gateway's own constants, quoted in the explanation (read at run time).
TOPIC_ALL = "tns1:Resource//."

SOAP, WSNT, TT, TEV = qb.SOAP, qb.WSNT, qb.TT, qb.TEV
_NOTE = f"{{{WSNT}}}NotificationMessage"
_TOPIC = f"{{{WSNT}}}Topic"
_MSG = f"{{{WSNT}}}Message/{{{TT}}}Message"
_SIMPLE = f"{{{TT}}}SimpleItem"
_ELEMENT = f"{{{TT}}}ElementItem"
_SOURCE_ITEM = f"{{{TT}}}Source/{{{TT}}}SimpleItem"
_DATA = f"{{{TT}}}Data"


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Dist:
    """Latency distribution in milliseconds (nearest-rank percentiles)."""

    n: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Dist:
        ms = sorted(s * 1000.0 for s in seconds)
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(n=len(ms), p50=qb._pct(ms, 50), p90=qb._pct(ms, 90), p99=qb._pct(ms, 99), max=ms[-1],
                   mean=statistics.fmean(ms))

    def text(self) -> str:
        return f"{self.p50:.0f} / {self.p90:.0f} / {self.p99:.0f} / {self.max:.0f} ms (mean {self.mean:.0f})"


# --------------------------------------------------------------------------- processes


@dataclass
class Node:
    """One gateway level: its catalog file, its server process and a bench account on it."""

    name: str
    db_path: Path
    user: str
    password: str
    server: qb.Server | None = None

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def start(self, profile_out: Path | None = None) -> Node:
        qb.run_cli(["user", "add", self.user, "--level", qb.USER_LEVEL, "--db", self.url], stdin=self.password + "\n")
        self.server = qb.Server(self.url, profile_out=profile_out).start()
        log(f"{self.name} gateway serving on {self.server.url}")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def stderr_tail(self, lines: int = 40) -> str:
        return "".join(self.server.stderr_lines[-lines:]) if self.server is not None else ""


def new_node(name: str, work: Path) -> Node:
    return Node(name=name, db_path=work / f"{name}.db", user=f"bench-{name}",
                password=uuid.uuid4().hex + uuid.uuid4().hex[:8])


def add_segment(upper: Node, name: str, lower: Node, heartbeat: float) -> None:
    """``vmsgw segment add`` (the real CLI), logging in to ``lower`` with its bench account."""
    assert lower.server is not None
    qb.run_cli(["segment", "add", name, "--url", lower.server.url, "--user", lower.user,
                "--heartbeat", f"{heartbeat:g}", "--db", upper.url], stdin=lower.password + "\n")


def process_cpu(node: Node) -> float:
    """CPU seconds (user + system) of the node's server process and its children so far (Linux /proc), NaN if
    unknown: the children are a syncing gateway's reply-parsing processes."""
    if node.server is None or node.server.proc is None:
        return math.nan
    pid = node.server.proc.pid
    try:
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
        fields = _stat(pid)
    except OSError:
        return math.nan
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, and those of children it already waited for
    for child in children:
        try:
            ticks += sum(int(f) for f in _stat(child)[11:13])
        except OSError:  # ended meanwhile: counted once it is waited for
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0, check_same_thread=False)


# --------------------------------------------------------------------------- SOAP client


class Client(qb.Soap):
    """bench/query.py's hand-built SOAP 1.2 client (PasswordDigest, fresh nonce), subscribing to every resource."""

    def subscribe_all(self, event_url: str) -> str:
        body = ("<tev:CreatePullPointSubscription><tev:Filter>"
                f'<wsnt:TopicExpression Dialect="{qb.CONCRETE_SET}">{TOPIC_ALL}</wsnt:TopicExpression>'
                "</tev:Filter><tev:InitialTerminationTime>PT1H</tev:InitialTerminationTime>"
                "</tev:CreatePullPointSubscription>")
        doc = etree.fromstring(self.post(event_url, qb.EVENT_ACTION + "CreatePullPointSubscriptionRequest", body))
        address = doc.find(f".//{{{TEV}}}SubscriptionReference/{{{qb.WSA}}}Address")
        if address is None or not address.text:
            raise RuntimeError("CreatePullPointSubscriptionResponse without an address")
        return address.text.strip()

    def pull_wait(self, address: str, timeout: str, limit: int) -> bytes:
        body = (f"<tev:PullMessages><tev:Timeout>{timeout}</tev:Timeout>"
                f"<tev:MessageLimit>{limit}</tev:MessageLimit></tev:PullMessages>")
        return self.post(address, qb.PULL_ACTION + "PullMessagesRequest", body)


def count_notes(document: bytes) -> int:
    return sum(1 for _ in etree.fromstring(document).iter(_NOTE))


# --------------------------------------------------------------------------- 1. capture and the raw limit


@dataclass
class Capture:
    pages: list[bytes]
    pull_seconds: list[float]  # per PullMessages, sent -> reply read (leaf + HTTP), the final empty one included
    resources: int
    bytes: int

    @property
    def seconds(self) -> float:
        return sum(self.pull_seconds)


def capture(leaf: Node) -> Capture:
    """Every resource of the leaf through real HTTP, as a district pulls them: PT0S, 1000 per reply."""
    assert leaf.server is not None
    client = Client(leaf.user, leaf.password)
    try:
        address = client.subscribe_all(leaf.server.event_url)
        pages: list[bytes] = []
        times: list[float] = []
        total = 0
        progress = _progress("capture", "resources")
        while True:
            started = time.perf_counter()
            page = client.pull_wait(address, "PT0S", PAGE)
            times.append(time.perf_counter() - started)
            n = count_notes(page)
            if not n:
                break
            pages.append(page)
            total += n
            progress(total)
        progress.finish()
        client.post(address, qb.UNSUBSCRIBE_ACTION, "<wsnt:Unsubscribe/>")
    finally:
        client.close()
    return Capture(pages=pages, pull_seconds=times, resources=total, bytes=sum(len(p) for p in pages))


def _progress(label: str, unit: str) -> Any:
    from gateway.cli.progress import Progress

    return Progress(label, unit=unit)


def raw_parse(page: bytes, parser: etree.XMLParser) -> list[tuple[Any, ...]]:
    """Plain lxml: (token, kind, name, lat, lon, elevation, offline, scopes) of every resource message."""
    out = []
    for note in etree.fromstring(page, parser).iter(_NOTE):
        kind = (note.findtext(_TOPIC) or "").rpartition("/")[2]
        msg = note.find(_MSG)
        token = msg.find(_SOURCE_ITEM).get("Value")
        name = lat = lon = elevation = offline = None
        scopes = []
        data = msg.find(_DATA)
        if data is not None:
            for item in data:
                item_name = item.get("Name")
                if item.tag == _SIMPLE:
                    if item_name == "Scope":
                        scopes.append(item.get("Value"))
                    elif item_name == "Name":
                        name = item.get("Value")
                    elif item_name == "Offline":
                        offline = item.get("Value") == "true"
                elif item_name == "Location" and len(item):
                    geo = item[0]
                    lat, lon = float(geo.get("lat")), float(geo.get("lon"))
                    e = geo.get("elevation")
                    elevation = float(e) if e is not None else None
        out.append((token, kind, name, lat, lon, elevation, offline, scopes))
    return out


RAW_SCHEMA = (
    ("CREATE TABLE resource (id INTEGER PRIMARY KEY, token TEXT NOT NULL, kind TEXT NOT NULL, name TEXT, "
    "lat REAL, lon REAL, elevation REAL, offline BOOLEAN, seq INTEGER NOT NULL, segment TEXT, segment_token TEXT, "
    "reported_offline BOOLEAN, sync_gen INTEGER)"),
    "CREATE TABLE resource_scope (resource_id INTEGER NOT NULL, pos INTEGER NOT NULL, uri TEXT NOT NULL)",
)


@dataclass
class RawRun:
    parse_s: float
    insert_s: float
    rows: int
    scope_rows: int

    @property
    def seconds(self) -> float:
        return self.parse_s + self.insert_s


def raw_limit_once(pages: Sequence[bytes], work: Path, tag: int) -> RawRun:
    """Parse every captured reply with plain lxml and insert it with plain executemany, a transaction per reply."""
    path = work / f"raw-{tag}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for ddl in RAW_SCHEMA:
            conn.execute(ddl)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        parse_s = insert_s = 0.0
        rid = rows = scope_rows = 0
        for page in pages:
            t0 = time.perf_counter()
            parsed = raw_parse(page, parser)
            t1 = time.perf_counter()
            resources, scopes = [], []
            for token, kind, name, lat, lon, elevation, offline, uris in parsed:
                rid += 1
                resources.append((rid, token, kind, name, lat, lon, elevation, offline, rid, "leaf", token,
                                  offline, 1))
                scopes.extend((rid, pos, uri) for pos, uri in enumerate(uris))
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO resource VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", resources)
            conn.executemany("INSERT INTO resource_scope VALUES (?,?,?)", scopes)
            conn.execute("COMMIT")
            t2 = time.perf_counter()
            parse_s += t1 - t0
            insert_s += t2 - t1
            rows += len(resources)
            scope_rows += len(scopes)
        return RawRun(parse_s=parse_s, insert_s=insert_s, rows=rows, scope_rows=scope_rows)
    finally:
        conn.close()
        for leftover in work.glob(f"raw-{tag}.db*"):
            leftover.unlink()


# --------------------------------------------------------------------------- 2. a sync, watched


@dataclass
class Sync:
    what: str
    resources: int
    seconds: float  # from `segment add` returning to the last resource counted
    first_seconds: float  # ... to the first resource counted (supervisor pick-up, subscribe, first pull)
    first_count: int
    cli_seconds: float  # `vmsgw segment add` itself (process start included), before the clock starts
    verified: bool
    note: str = ""
    timeline: list[tuple[float, int]] = field(default_factory=list)
    upper_cpu: float = math.nan  # CPU seconds (user + system) of the syncing gateway process over the sync
    lower_cpu: float = math.nan  # ... and of the segment's gateway process

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0

    @property
    def steady_rate(self) -> float:
        span = self.seconds - self.first_seconds
        return (self.resources - self.first_count) / span if span > 0 else 0.0


def _synced(conn: sqlite3.Connection, segment: str) -> int:
    """Resources of ``segment`` in a catalog that started empty, cheaply: ``max(id)`` is a B-tree probe.

    Ids are never reused and the sync only creates here, so ``max(id)`` counts
    the rows written; once it reaches the target, ``count(*)`` confirms.
    """
    (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM resource").fetchone()
    return int(top)


def _counted(conn: sqlite3.Connection, segment: str) -> int:
    return int(conn.execute("SELECT count(*) FROM resource WHERE segment = ?", (segment,)).fetchone()[0])


def watch_sync(upper: Node, segment: str, lower: Node, expected: set[str], heartbeat: float, poll: float) -> Sync:
    """`vmsgw segment add` on a running ``upper``; count its catalog until it holds ``expected``."""
    assert upper.server is not None
    size = len(expected)
    what = f"{lower.name} -> {upper.name}"
    log(f"sync {what}: vmsgw segment add {segment} (heartbeat {heartbeat:g} s), then counting {upper.db_path.name} "
        f"every {poll * 1000:.0f} ms")
    conn = read_only(upper.db_path)
    try:
        cli_started = time.perf_counter()
        add_segment(upper, segment, lower, heartbeat)
        t0 = time.perf_counter()
        cpu0 = (process_cpu(upper), process_cpu(lower))
        timeline: list[tuple[float, int]] = [(0.0, 0)]
        progress = _progress(f"sync {what}", "resources")
        last_change, count, first = t0, 0, None
        while True:
            now = time.perf_counter()
            found = _synced(conn, segment)
            if found != count:
                count, last_change = found, now
                timeline.append((now - t0, count))
                if first is None:
                    first = (now - t0, count)
                progress(count, size)
            if count >= size and _counted(conn, segment) >= size:
                break
            if upper.server.proc is None or upper.server.proc.poll() is not None:
                raise SystemExit(f"the {upper.name} gateway died during the sync:\n{upper.stderr_tail()}")
            if now - last_change > STALL:
                raise SystemExit(f"sync {what} stalled at {count:,} of {size:,} for {STALL:.0f} s:\n"
                                 f"{upper.stderr_tail()}")
            time.sleep(max(0.0, poll - (time.perf_counter() - now)))
        seconds = timeline[-1][0]
        cpu1 = (process_cpu(upper), process_cpu(lower))
        progress.finish()
        got = {t for (t,) in conn.execute("SELECT segment_token FROM resource WHERE segment = ?", (segment,))}
    finally:
        conn.close()
    verified = got == expected
    note = "" if verified else f"{len(expected - got)} missing, {len(got - expected)} unexpected"
    assert first is not None
    result = Sync(what=what, resources=size, seconds=seconds, first_seconds=first[0], first_count=first[1],
                  cli_seconds=t0 - cli_started, verified=verified, note=note, timeline=timeline,
                  upper_cpu=cpu1[0] - cpu0[0], lower_cpu=cpu1[1] - cpu0[1])
    log(f"sync {what}: {size:,} resources in {seconds:.2f} s = {result.rate:,.0f}/s (first resources after "
        f"{first[0]:.2f} s; {result.steady_rate:,.0f}/s from then); token set matches: {verified}; CPU "
        f"{upper.name} {result.upper_cpu:.1f} s, {lower.name} {result.lower_cpu:.1f} s")
    return result


# --------------------------------------------------------------------------- 3. where the district's time goes


@dataclass
class Breakdown:
    """The district's per-pull steps, replayed in-process on the captured replies (no HTTP, no profiler)."""

    steps: list[tuple[str, str, float]]  # (stage, step, seconds for the whole sync)
    statements: int  # SQL statements executed by segment_apply over the whole sync

    def stage(self, name: str) -> float:
        return sum(sec for stage, _, sec in self.steps if stage == name)


#: The district's two stages, which run at once on different cores: a reply-parsing process, the storing thread.
PARSING, STORING = "parsing process", "storing thread"


def replay_breakdown(pages: Sequence[bytes], work: Path) -> Breakdown:
    """The district's per-pull work on the captured replies, in the bench's process, into a fresh catalog.

    Both stages run here one after the other; the batch goes through the same pickling as between a
    parsing process and the district (``ForkingPickler``), so its cost on each side is measured too.
    """
    import pickle
    from multiprocessing.reduction import ForkingPickler

    from sqlalchemy import event

    from gateway.catalog.model import Segment
    from gateway.catalog.store import Catalog
    from gateway.federation import protocol

    log(f"replaying {len(pages)} captured replies through the district's own functions (timed, no HTTP)")
    names = ((PARSING, "reply parsing (protocol.reply_body)"),
             (PARSING, "event reading and validation (protocol.parse_pull)"),
             (PARSING, "sending the batch back (pickle)"),
             (STORING, "receiving the batch (unpickle)"),
             (STORING, "segment_set_reachable"),
             (STORING, "segment_apply (mirror + feed, one transaction)"))
    steps = dict.fromkeys(names, 0.0)
    statements, counting = [0], [False]

    def count(*_args: Any) -> None:
        if counting[0]:
            statements[0] += 1

    catalog = Catalog.open(f"sqlite:///{work / 'replay.db'}", autocheckpoint=False)  # as a server: checkpoints off the writer
    try:
        catalog.upgrade()
        catalog.add_segment(Segment(name="leaf", url="http://127.0.0.1:9/onvif/device_service", user="u",
                                    password="p"))
        event.listen(catalog.engine, "before_cursor_execute", count)
        gen = catalog.segment_begin_sync("leaf")
        progress = _progress("replay", "resources")
        done = 0
        for page in pages:
            t0 = time.perf_counter()
            body = protocol.reply_body(protocol.Reply(url="captured", status=200, data=page))
            t1 = time.perf_counter()
            parsed = protocol.parse_pull(body)
            t2 = time.perf_counter()
            sent = ForkingPickler.dumps(parsed)
            t3 = time.perf_counter()
            batch = pickle.loads(sent)
            t4 = time.perf_counter()
            catalog.segment_set_reachable("leaf", True, error=None, now=dt.datetime.now(dt.UTC))
            t5 = time.perf_counter()
            counting[0] = True
            catalog.segment_apply("leaf", gen, batch.events)
            counting[0] = False
            t6 = time.perf_counter()
            for name, sec in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True):
                steps[name] += sec
            done += len(batch.events)
            progress(done)
        progress.finish()
    finally:
        catalog.close()
        for leftover in work.glob("replay.db*"):
            leftover.unlink()
    return Breakdown(steps=[(stage, step, sec) for (stage, step), sec in steps.items()], statements=statements[0])


#: Cumulative CPU of these in the profiled district: (file suffix, function, label).
WATCH: tuple[tuple[str, str, str], ...] = (
    ("gateway/federation/segment.py", "fetch", "Link.fetch: one PullMessages exchange (request, HTTP, reply bytes)"),
    ("gateway/federation/protocol.py", "request", "  request building (UsernameToken, envelope)"),
    ("httpx/_models.py", "aiter_bytes", "  receiving the reply body (httpx, h11)"),
    ("gateway/federation/segment.py", "_apply", "SegmentSync._apply (storing thread; parsed in other processes)"),
    ("gateway/catalog/segments.py", "set_reachable", "  segment_set_reachable"),
    ("gateway/catalog/segments.py", "apply", "  segment_apply (one write transaction per pull)"),
    ("gateway/catalog/mirror.py", "load", "    looking up stored resources (mirror.load)"),
    ("gateway/catalog/mirror.py", "_token", "    token mapping (Mirror._token: prefix claims, local part)"),
    ("gateway/catalog/records.py", "check", "    validating (records.check)"),
    ("gateway/catalog/feed.py", "write", "    FeedWriter.write (change, resource, R*Tree and scope rows)"),
    ("gateway/catalog/records.py", "encode", "      JSON images of the change rows (records.encode)"),
    ("gateway/catalog/rows.py", "insert", "      executemany through the driver (rows.insert)"),
    ("sqlalchemy/engine/base.py", "commit", "    commit"),
    ("gateway/catalog/store.py", "checkpoint", "WAL checkpoints (every second, their own thread)"),
    ("gateway/catalog/feed.py", "prune", "change feed pruning (reaper, every 10 s)"),
    ("gateway/catalog/store.py", "head_seq", "feed head polling (FeedWatcher)"),
    ("gateway/catalog/store.py", "list_segments", "segment table polling (Supervisor)"),
)

#: Own time grouped by where the code lives: (group, path fragments); C functions by name.
PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gateway: catalog", ("/gateway/catalog/",)),
    ("gateway: federation", ("/gateway/federation/",)),
    ("gateway: soap core, onvif", ("/gateway/soap/", "/gateway/onvif/")),
    ("gateway: other", ("/gateway/",)),
    ("SQLAlchemy (Python)", ("/sqlalchemy/",)),
    ("httpx, httpcore, h11 (the segment client)", ("/httpx/", "/httpcore/", "/h11/", "/anyio/")),
    ("hypercorn (the server side)", ("/hypercorn/", "/h2/", "/hpack/", "/wsproto/")),
    ("asyncio, selectors, threads", ("/asyncio/", "selectors.py", "/concurrent/", "threading.py", "queue.py")),
)


@dataclass
class DistrictProfile:
    resources: int
    wall: float  # seconds from `segment add` to ``resources`` counted
    loop_busy: float  # CPU seconds of the event-loop thread (selector waits excluded)
    worker_busy: float  # CPU seconds of the catalog worker calls (asyncio.to_thread)
    watched: list[tuple[str, str, float, float]] = field(default_factory=list)  # (label, fn, cum CPU s, share)
    by_package: list[tuple[str, float, float]] = field(default_factory=list)
    top_self: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def busy(self) -> float:
        return self.loop_busy + self.worker_busy


def profile_district(leaf: Node, work: Path, heartbeat: float, target: int, poll: float) -> DistrictProfile | None:
    """A second, empty district under cProfile (bench/query.py's profiled serve) syncs ``target`` resources."""
    node = new_node("district-profiled", work)
    base = work / "district.prof"
    log(f"profiling: a district under cProfile syncs the first {target:,} leaf resources")
    node.start(profile_out=base)
    try:
        assert node.server is not None and node.server.proc is not None
        node.server.proc.send_signal(signal.SIGUSR1)  # start profiling now: the server is up and idle
        time.sleep(0.2)
        conn = read_only(node.db_path)
        try:
            add_segment(node, "leaf", leaf, heartbeat)
            t0 = time.perf_counter()
            deadline = t0 + STALL * 5
            while _synced(conn, "leaf") < target:
                if time.perf_counter() > deadline or node.server.proc.poll() is not None:
                    raise SystemExit(f"the profiled district did not get {target:,} resources:\n{node.stderr_tail()}")
                time.sleep(poll)
            wall = time.perf_counter() - t0
            got = _synced(conn, "leaf")
        finally:
            conn.close()
    finally:
        node.stop()  # the profiles are written as it exits
    main_path, workers_path = Path(f"{base}.main"), Path(f"{base}.workers")
    if not main_path.exists():
        log("WARNING: the profiled district wrote no profile")
        return None
    main = pstats.Stats(str(main_path))
    loop_entries: dict[Any, Any] = dict(main.stats)  # type: ignore[attr-defined]
    loop_total = sum(v[2] for v in loop_entries.values())
    loop_idle = sum(v[2] for k, v in loop_entries.items() if qb._fn_label(k) in qb.IDLE)
    worker_busy = 0.0
    if workers_path.exists():
        workers = pstats.Stats(str(workers_path))
        worker_busy = sum(v[2] for v in workers.stats.values())  # type: ignore[attr-defined]
        main.add(workers)
    entries: dict[Any, Any] = dict(main.stats)  # type: ignore[attr-defined]
    result = DistrictProfile(resources=got, wall=wall, loop_busy=loop_total - loop_idle, worker_busy=worker_busy)
    busy = result.busy
    for suffix, name, label in WATCH:
        cum = sum(v[3] for k, v in entries.items() if k[0].endswith(suffix) and k[2] == name)
        if cum:
            result.watched.append((label, f"{suffix.removeprefix('gateway/')}:{name}", cum, cum / busy))
    groups: dict[str, float] = {}
    for key, value in entries.items():
        if qb._fn_label(key) not in qb.IDLE:
            group = benchlib.code_group(key, PACKAGES)
            groups[group] = groups.get(group, 0.0) + value[2]
    result.by_package = sorted(((g, sec, sec / busy) for g, sec in groups.items()), key=lambda t: -t[1])
    top = sorted(((k, v[2]) for k, v in entries.items() if qb._fn_label(k) not in qb.IDLE), key=lambda kv: -kv[1])
    result.top_self = [(qb._fn_label(k), own, own / busy) for k, own in top[:12]]
    log(f"profiled district: {got:,} resources in {wall:.1f} s; CPU: event loop {result.loop_busy:.1f} s, "
        f"catalog workers {result.worker_busy:.1f} s")
    return result


# --------------------------------------------------------------------------- 4. change latency


class Receiver(threading.Thread):
    """One client's pull point at one level: drained, then long-polled; records when each Changed name arrives."""

    def __init__(self, node: Node) -> None:
        super().__init__(name=f"receiver-{node.name}", daemon=True)
        self.node = node
        self.arrivals: dict[str, float] = {}
        self.cond = threading.Condition()
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.drained = 0
        self.drain_seconds = 0.0

    def run(self) -> None:
        assert self.node.server is not None
        client = Client(self.node.user, self.node.password)
        try:
            address = client.subscribe_all(self.node.server.event_url)
            started = time.perf_counter()
            while n := count_notes(client.pull_wait(address, "PT0S", PAGE)):
                self.drained += n
            self.drain_seconds = time.perf_counter() - started
            self.ready.set()
            while not self.stopping.is_set():
                reply = client.pull_wait(address, LONG_POLL, PAGE)
                arrived = time.perf_counter()
                names = [name for op, name in _changed_names(reply) if op == "Changed" and name]
                if names:
                    with self.cond:
                        for name in names:
                            self.arrivals.setdefault(name, arrived)
                        self.cond.notify_all()
        except Exception as exc:  # noqa: BLE001  (any failure ends this client; the main thread reports it)
            self.error = exc
            self.ready.set()
            with self.cond:
                self.cond.notify_all()
        finally:
            client.close()

    def wait_for(self, name: str, deadline: float) -> float | None:
        with self.cond:
            while name not in self.arrivals:
                left = deadline - time.perf_counter()
                if left <= 0 or self.error is not None:
                    return None
                self.cond.wait(left)
            return self.arrivals[name]


def _changed_names(reply: bytes) -> list[tuple[str | None, str | None]]:
    out = []
    for note in etree.fromstring(reply).iter(_NOTE):
        msg = note.find(_MSG)
        if msg is None:
            continue
        name = None
        data = msg.find(_DATA)
        if data is not None:
            for item in data.iterchildren(_SIMPLE):
                if item.get("Name") == "Name":
                    name = item.get("Value")
        out.append((msg.get("PropertyOperation"), name))
    return out


@dataclass
class Latency:
    changes: int
    lost: int
    apply_ms: Dist  # Catalog.apply at the leaf, call to return
    leaf: Dist  # commit -> Changed at a client of the leaf
    district: Dist  # commit -> Changed at a client of the district
    city: Dist  # commit -> Changed at a client of the city
    hop_district: Dist  # leaf client -> district client
    hop_city: Dist  # district client -> city client
    drains: dict[str, tuple[int, float]] = field(default_factory=dict)  # level -> (resources, seconds)


def measure_latency(leaf: Node, district: Node, city: Node, changes: int, seed: int) -> Latency:
    from gateway.catalog.store import Catalog

    receivers = {node.name: Receiver(node) for node in (leaf, district, city)}
    log("opening a pull point at the leaf, the district and the city; draining each snapshot")
    for r in receivers.values():
        r.start()
    for r in receivers.values():
        r.ready.wait(600)
        if r.error is not None:
            raise SystemExit(f"the {r.node.name} client failed: {r.error!r}\n{r.node.stderr_tail()}")
        log(f"{r.node.name} client drained {r.drained:,} resources in {r.drain_seconds:.1f} s; long-polling "
            f"({LONG_POLL})")
    conn = read_only(leaf.db_path)
    try:
        tokens = [t for (t,) in conn.execute("SELECT token FROM resource ORDER BY id")]
    finally:
        conn.close()
    rng = random.Random(seed)
    chosen = rng.sample(tokens, min(len(tokens), changes + WARMUP_CHANGES))
    run_id = uuid.uuid4().hex[:6]
    catalog = Catalog.open(leaf.url)
    rows: list[tuple[float, float, float | None, float | None, float | None]] = []
    lost = 0
    log(f"renaming {len(chosen)} leaf resources one at a time with Catalog.apply ({WARMUP_CHANGES} warm-up changes "
        f"not counted); each waits for the city")
    progress = _progress("changes", "changes")
    try:
        for i, token in enumerate(chosen):
            current = catalog.get(token)
            assert current is not None
            name = f"{current.name or token} #{run_id}-{i}"
            before = time.perf_counter()
            result = catalog.apply([dataclasses.replace(current, name=name)])
            commit = time.perf_counter()
            assert result.changed == 1, result
            deadline = commit + CHANGE_DEADLINE
            at_city = receivers[city.name].wait_for(name, deadline)
            at = {n: receivers[n].wait_for(name, commit + 0.5) if n != city.name else at_city
                  for n in (leaf.name, district.name)}
            if i >= WARMUP_CHANGES:
                if at_city is None:
                    lost += 1
                    log(f"change {i}: not seen at the city within {CHANGE_DEADLINE:.0f} s")
                rows.append((before, commit, at[leaf.name], at[district.name], at_city))
                progress(len(rows), changes)
            time.sleep(rng.uniform(0.0, MAX_PAUSE))
        progress.finish()
    finally:
        catalog.close()
        for r in receivers.values():
            r.stopping.set()
    for r in receivers.values():
        if r.error is not None:
            raise SystemExit(f"the {r.node.name} client failed: {r.error!r}\n{r.node.stderr_tail()}")

    def since(pick: Callable[[tuple[Any, ...]], float | None], start: Callable[[tuple[Any, ...]], float | None]
              ) -> Dist:
        values = []
        for row in rows:
            a, b = start(row), pick(row)
            if a is not None and b is not None:
                values.append(b - a)
        return Dist.of(values)

    result = Latency(
        changes=len(rows), lost=lost,
        apply_ms=since(lambda r: r[1], lambda r: r[0]),
        leaf=since(lambda r: r[2], lambda r: r[1]),
        district=since(lambda r: r[3], lambda r: r[1]),
        city=since(lambda r: r[4], lambda r: r[1]),
        hop_district=since(lambda r: r[3], lambda r: r[2]),
        hop_city=since(lambda r: r[4], lambda r: r[3]),
        drains={n: (r.drained, r.drain_seconds) for n, r in receivers.items()},
    )
    for r in receivers.values():
        r.join(10)
    log(f"commit -> city p50/p90/p99/max: {result.city.text()}")
    return result


# --------------------------------------------------------------------------- report


@dataclass
class Results:
    date: str
    machine: dict[str, str]
    size: int
    seed: int
    heartbeat: float
    poll: float
    leaf_catalog: str
    imported: qb.ImportStats
    capture_pulls: int
    capture_seconds: float
    capture_bytes: int
    raw_runs: list[RawRun]
    sync: Sync
    breakdown: Breakdown
    profile: DistrictProfile | None
    city_sync: Sync | None
    latency: Latency | None
    constants: dict[str, float]
    code: str = ""
    wall_seconds: float = 0.0

    @property
    def raw_best(self) -> RawRun:
        return min(self.raw_runs, key=lambda r: r.seconds)

    @property
    def raw_rate(self) -> float:
        best = self.raw_best
        return best.rows / best.seconds if best.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.sync.rate / self.raw_rate if self.raw_rate else 0.0

    @property
    def sync_ok(self) -> bool:
        return self.sync.rate >= SYNC_MIN_RATE and self.sync.verified

    @property
    def latency_ok(self) -> bool:
        return (self.latency is not None and self.latency.lost == 0 and self.latency.changes > 0
                and self.latency.city.p99 < LATENCY_P99_LIMIT_MS)


def _yes(flag: bool) -> str:
    return "**yes**" if flag else "**NO**"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def summary(r: Results) -> list[str]:
    m, s, raw = r.machine, r.sync, r.raw_best
    rows = [
        ("date", r.date),
        ("machine", (f"nproc {m['nproc']} ({m['cpu']}), Python {m['python']}, sqlite {m['sqlite']}, lxml {m['lxml']}; "
                    f"{m['load']}")),
        ("other load on the machine", r.machine.get("busy", "-")),
        ("code", r.code),
        ("catalogs", "SQLite (WAL), one file per gateway process"),
        ("size", f"{r.size:,} resources at the leaf (`generate_city`, seed {r.seed}); {PAGE} messages per pull"),
        ("initial sync leaf -> district (from `segment add` to all resources in the district catalog)",
         f"{s.resources:,} in {s.seconds:.2f} s = **{s.rate:,.0f}/s**"),
        ("  of which: until the first resources arrive / steady rate after that",
         f"{s.first_seconds:.2f} s / {s.steady_rate:,.0f}/s"),
        ("  CPU used meanwhile by the district (with its parsing processes) / the leaf process",
         (f"{s.upper_cpu:.1f} s / {s.lower_cpu:.1f} s of {s.seconds:.1f} s "
          f"({(s.upper_cpu + s.lower_cpu) / s.seconds:.0%} of one core)")),
        ("raw limit: plain lxml parse + plain SQL executemany of the same replies",
         (f"{raw.rows:,} in {raw.seconds:.2f} s = **{r.raw_rate:,.0f}/s** (parse {raw.parse_s:.2f} s, insert "
         f"{raw.insert_s:.2f} s; best of {len(r.raw_runs)})")),
        ("the leaf alone answering the same pulls (capture, HTTP)",
         f"{r.size / r.capture_seconds:,.0f}/s ({r.capture_seconds:.2f} s for {r.capture_pulls} pulls)"),
        ("ratio sync / raw", f"**{r.ratio:.2f}** (raw is {1 / r.ratio:.1f}x faster)" if r.ratio else "-"),
        ("district token set = leaf token set", _yes(s.verified)),
    ]
    if r.city_sync is not None:
        c = r.city_sync
        rows.append(("initial sync district -> city (same measure)",
                     (f"{c.resources:,} in {c.seconds:.2f} s = {c.rate:,.0f}/s; token set matches: "
                     f"{'yes' if c.verified else 'NO'}")))
    if r.latency is not None:
        lat = r.latency
        rows += [
            (f"change latency leaf -> district -> city, p50 / p90 / p99 / max ({lat.changes} renames)",
             f"**{lat.city.p50:.0f} / {lat.city.p90:.0f} / {lat.city.p99:.0f} / {lat.city.max:.0f} ms**"
             + (f"; {lat.lost} not seen within {CHANGE_DEADLINE:.0f} s" if lat.lost else "")),
            ("  commit -> a client of the leaf itself", lat.leaf.text()),
            ("  commit -> a client of the district", lat.district.text()),
            ("  hop leaf client -> district client", lat.hop_district.text()),
            ("  hop district client -> city client", lat.hop_city.text()),
        ]
    rows += [
        (f"acceptance: sync >= {SYNC_MIN_RATE:,.0f} resources/s", _yes(r.sync_ok)),
        (f"acceptance: change crosses two levels in < {LATENCY_P99_LIMIT_MS / 1000:g} s at p99",
         _yes(r.latency_ok) if r.latency is not None else "not measured"),
    ]
    return ["| item | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]


def details(r: Results) -> list[str]:
    s = r.sync
    lines = [
        "## How it was measured",
        "",
        (f"- Leaf catalog: {r.leaf_catalog}; import "
         + (f"{r.imported.seconds:.1f} s ({r.imported.rate:,.0f} rows/s)" if r.imported.seconds else "not timed")
         + (f", cached, made {r.imported.measured_at}" if r.imported.cached else "")
         + ". Each run serves a private copy."),
        (f"- Capture: one subscription `{TOPIC_ALL}` at the leaf, {r.capture_pulls} PullMessages (PT0S, {PAGE}) "
         f"over HTTP/1.1 in {r.capture_seconds:.2f} s ({r.size / r.capture_seconds:,.0f} resources/s served by the "
         f"leaf, client parse excluded), {r.capture_bytes / 1e6:.1f} MB of replies."),
        (f"- Raw limit: `etree.fromstring` (no DTD, no network) and a walk picking token, kind, name, location, "
         f"scopes and offline; then `executemany` into a bare `resource` table with the catalog's columns and a "
         f"bare `resource_scope` table ({r.raw_best.scope_rows:,} scope rows), no indexes, WAL, synchronous=NORMAL, "
         f"one transaction per reply. Runs: "
         + ", ".join(f"{x.seconds:.2f} s" for x in r.raw_runs) + "."),
        (f"- Sync: the district starts empty; the clock starts when `vmsgw segment add leaf --heartbeat "
         f"{r.heartbeat:g}` returns (the CLI itself took {s.cli_seconds:.2f} s, not counted) and stops at the first "
         f"read-only count of the district's file (every {r.poll * 1000:.0f} ms) that shows every leaf resource. "
         f"Its supervisor reads the segment table every {r.constants['supervisor_interval']:g} s, so up to that "
         f"much of the {s.first_seconds:.2f} s before the first resources is waiting for the pick-up."),
    ]
    if not s.verified:
        lines.append(f"- District token set differs from the leaf's: {s.note}.")
    if r.latency is not None:
        lat = r.latency
        lines += [
            (f"- Latency: leaf, district (leaf as segment) and city (district as segment), heartbeats "
             f"{r.heartbeat:g} s. A bench client at each level subscribed to `{TOPIC_ALL}`, drained the snapshot ("
             + ", ".join(f"{n}: {c:,} in {sec:.1f} s" for n, (c, sec) in lat.drains.items())
             + f") and then long-polls ({LONG_POLL}, {PAGE}) in its own thread, stamping each reply on arrival. "
             f"Each change renames one random leaf resource with `Catalog.apply([...])` from the bench's process "
             f"(call took {lat.apply_ms.p50:.1f} ms at p50); latency = commit (the call's return) to the reply "
             f"holding the `Changed` event with the new name. Changes wait for the city, then pause "
             f"0-{MAX_PAUSE * 1000:.0f} ms at random, so commits fall at random phases of the leaf's feed poll. "
             f"{WARMUP_CHANGES} warm-up changes are not counted."),
        ]
    return lines


def where_time_goes(r: Results) -> list[str]:
    s, b = r.sync, r.breakdown
    leaf_s = r.capture_seconds
    lines = [
        "## Where the sync's time goes",
        "",
        ("Three stages overlap: the leaf answers pull n+2 while a reply-parsing process of the district reads "
         "reply n+1 and the district's storing thread writes batch n (its pulling task only moves bytes). So the "
         "sync would run at the pace of the slowest stage, if each had a core of its own; on this machine they "
         "share the cores, with the district's event loop too. The leaf's part is the capture's HTTP time; the "
         "district's steps are the captured replies replayed through its own functions in the bench's process "
         "(no HTTP, no profiler), into a fresh catalog, with every server stopped."),
        "",
        f"| stage | step | seconds for {s.resources:,} | share of the sync ({s.seconds:.2f} s) |",
        "| --- | --- | --- | --- |",
        (f"| leaf | answering {r.capture_pulls} PullMessages over HTTP (capture, client-timed) | {leaf_s:.2f} | "
         f"{_share(leaf_s, s.seconds)} |"),
        *(f"| district: {stage} | {name} | {sec:.2f} | {_share(sec, s.seconds)} |" for stage, name, sec in b.steps),
        *(f"| district: {stage} | all its steps | {b.stage(stage):.2f} | {_share(b.stage(stage), s.seconds)} |"
          for stage in (PARSING, STORING)),
        (f"| both processes | CPU during the sync (/proc; the district's parsing processes included), on "
         f"{os.cpu_count()} cores | {s.upper_cpu + s.lower_cpu:.2f} | {_share(s.upper_cpu + s.lower_cpu, s.seconds)} |"),
        "",
        (f"`segment_apply` ran {b.statements:,} SQL statements for {s.resources:,} resources "
         f"({b.statements / max(r.capture_pulls, 1):.0f} per pull): per batch a "
         f"handful of executemany statements through the driver (change rows, resource rows, R*Tree rows, scope "
         f"rows) and the lookups of stored resources, ids and device prefixes."),
        "",
        _bound_text(r, leaf_s),
    ]
    p = r.profile
    if p is not None:
        lines += [
            "",
            (f"### The district process under cProfile ({p.resources:,} resources synced in {p.wall:.1f} s "
             f"profiled)"),
            "",
            (f"A second, empty district, run by `bench/query.py --profiled-serve` (cProfile with a per-thread CPU "
             f"clock on the event loop and on every `asyncio.to_thread` catalog call, started once the server is "
             f"up), syncs the first {p.resources:,} resources from the same leaf. CPU: event loop "
             f"{p.loop_busy:.2f} s + catalog workers {p.worker_busy:.2f} s = {p.busy:.2f} s. Its reply-parsing "
             f"processes, and the threads that hand batches to and from them, are not in this profile. cProfile "
             f"inflates call-heavy Python code (SQLAlchemy most), so read shares, not seconds."),
            "",
            "| part | function | cumulative CPU s | share of the district's CPU |",
            "| --- | --- | --- | --- |",
            *(f"| {label} | `{fn}` | {sec:.2f} | {share:.0%} |" for label, fn, sec, share in p.watched),
            "",
            "Own time by where the code lives:",
            "",
            "| code | own CPU s | share |",
            "| --- | --- | --- |",
            *(f"| {group} | {sec:.2f} | {share:.0%} |" for group, sec, share in p.by_package),
            "",
            "Top functions by own time:",
            "",
            "| function | own CPU s | share |",
            "| --- | --- | --- |",
            *(f"| `{fn}` | {sec:.3f} | {share:.1%} |" for fn, sec, share in p.top_self),
        ]
    return lines


def _bound_text(r: Results, leaf_s: float) -> str:
    """What the measured parts imply for the sync rate: the slowest stage alone, and the cores' share."""
    s, b = r.sync, r.breakdown
    rates = [("the leaf", r.size / leaf_s, "")]
    rates += [(f"the district's {stage}", s.resources / b.stage(stage),
               f" ({b.stage(stage) / s.resources * 1e6:.0f} µs per resource)") for stage in (PARSING, STORING)]
    slowest = min(rates, key=lambda stage: stage[1])[0]
    cpu = s.upper_cpu + s.lower_cpu
    return (f"Overlapped, the bound is the slowest stage alone: "
            f"{'; '.join(f'{name} at {rate:,.0f}/s{detail}' for name, rate, detail in rates)}; so {slowest}. "
            f"The processes used {cpu:.1f} CPU-seconds, {cpu / (os.cpu_count() or 1):.1f} s per core of the "
            f"{s.seconds:.1f} s: the rest is waiting, for another stage or for a core.")


def where_latency_goes(r: Results) -> list[str]:
    lat = r.latency
    if lat is None:
        return []
    poll = r.constants["feed_poll"]
    return [
        "## Where a change's latency goes",
        "",
        "| segment of the path | p50 | p90 | p99 | max | mean |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {label} | {d.p50:.0f} | {d.p90:.0f} | {d.p99:.0f} | {d.max:.0f} | {d.mean:.0f} |" for label, d in (
            ("commit -> leaf client (leaf feed poll + leaf pull answer)", lat.leaf),
            ("leaf client -> district client (district: HTTP reply, parse, apply, notify, its pull point answers)",
             lat.hop_district),
            ("district client -> city client (the same one level up)", lat.hop_city),
            ("commit -> city client (total)", lat.city),
        )),
        "",
        (f"The change is committed by another process, so the leaf server learns of it only from its feed watcher, "
         f"which reads the feed head every {poll * 1000:.0f} ms while a PullMessages waits "
         f"(`gateway/events/waiter.py`, `FeedWatcher.run`, `POLL_INTERVAL`): uniform 0-{poll * 1000:.0f} ms, mean "
         f"{poll * 500:.0f} ms, plus the head query and the leaf's answer; the district's long poll at the leaf "
         f"is woken by the same pulse as the bench's leaf client. The district and the city do not poll: their "
         f"segment sync writes the change in-process and wakes their waiting pull points at once "
         f"(`SegmentSync._apply` -> `FeedWatcher.notify`), so each upper hop costs one HTTP reply, "
         f"`parse_pull`, a one-resource `segment_apply` write transaction, and the next level's pull point answer. "
         f"Measured: the leaf's poll-bound part is {_share(lat.leaf.mean, lat.city.mean)} of the mean total, "
         f"the two hops {_share(lat.hop_district.mean + lat.hop_city.mean, lat.city.mean)}."),
    ]


def render_markdown(r: Results) -> str:
    lines = ["# Federation benchmark (`python bench/federation.py`)", "", *summary(r), "", *details(r), "",
             *where_time_goes(r)]
    if r.latency is not None:
        lines += ["", *where_latency_goes(r)]
    lines += ["", f"Benchmark wall time: {r.wall_seconds:.0f} s.", ""]
    return "\n".join(lines)


def render_json(r: Results) -> str:
    data = benchlib.jsonable(r)
    data |= {"sync_rate": r.sync.rate, "raw_rate": r.raw_rate, "ratio": r.ratio, "sync_ok": r.sync_ok,
             "latency_ok": r.latency_ok}
    return json.dumps(data, indent=1, default=str)


class LoadSampler(threading.Thread):
    """The 1-minute load average every 10 s over the run: how much the bench had to share the cores."""

    def __init__(self) -> None:
        super().__init__(name="load-sampler", daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def begin(self) -> LoadSampler:
        self.start()
        return self

    def run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self.stop.wait(10.0):
                return

    def end(self) -> None:
        self.stop.set()
        self.join(5)

    def text(self) -> str:
        if not self.samples:
            return "-"
        cores = os.cpu_count() or 1
        mean = statistics.fmean(self.samples)
        verdict = ("quiet enough" if mean < 0.75 * cores + 1 else
                   "busy: other work competed for the cores, so rates are lower than on an idle machine")
        return (f"1-minute load average every 10 s: mean {mean:.1f}, max {max(self.samples):.1f} on {cores} cores "
                f"(the bench itself keeps about 1-2 busy); {verdict}")


def code_version() -> str:
    """The commit the gateway code was run from, and whether gateway/ had uncommitted changes."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--", "gateway")
    return f"commit {commit}" + (" with uncommitted changes in gateway/" if dirty else " (gateway/ clean)")


def machine_info() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "cpu": qb._cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "lxml": ".".join(map(str, etree.LXML_VERSION[:3])),
        "load": f"load average {os.getloadavg()[0]:.1f} at the end",
    }


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> Results:
    from gateway.events.waiter import POLL_INTERVAL
    from gateway.federation.supervisor import INTERVAL

    wall = time.perf_counter()
    load_before = f"{os.getloadavg()[0]:.1f}"
    sampler = LoadSampler().begin()
    setup = qb.prepare_sqlite(args.size, args.seed, qb.cache_dir(args.cache_dir), args.fresh)
    work = Path(tempfile.mkdtemp(prefix="vmsgw-fedbench-", dir=args.work_dir))
    log(f"working directory {work} (removed at the end{'; --keep keeps it' if not args.keep else ''})")
    leaf, district, city = (new_node(n, work) for n in ("leaf", "district", "city"))
    shutil.copyfile(setup.where, leaf.db_path)
    os.chmod(leaf.db_path, 0o600)
    try:
        conn = read_only(leaf.db_path)
        try:
            expected = {t for (t,) in conn.execute("SELECT token FROM resource")}
        finally:
            conn.close()
        if len(expected) != args.size:
            raise SystemExit(f"the leaf catalog holds {len(expected):,} resources, not {args.size:,}")
        leaf.start()
        district.start()

        log("capturing the leaf's replies over HTTP, as the district will pull them")
        cap = capture(leaf)
        if cap.resources != args.size:
            raise SystemExit(f"the capture got {cap.resources:,} resources, not {args.size:,}")
        log(f"captured {cap.resources:,} resources in {len(cap.pages)} replies ({cap.bytes / 1e6:.1f} MB) in "
            f"{cap.seconds:.2f} s")
        raw_runs = []
        for i in range(RAW_REPEATS):
            raw_runs.append(raw_limit_once(cap.pages, work, i))
            log(f"raw limit run {i + 1}: parse {raw_runs[-1].parse_s:.2f} s + insert {raw_runs[-1].insert_s:.2f} s "
                f"= {raw_runs[-1].rows / raw_runs[-1].seconds:,.0f}/s")

        sync = watch_sync(district, "leaf", leaf, expected, args.heartbeat, args.poll)
        if not sync.verified:
            log(f"WARNING: the district's token set differs: {sync.note}")

        city_sync = latency = None
        if args.changes > 0:
            city.start()
            city_sync = watch_sync(city, "district", district, expected, args.heartbeat, args.poll)
            time.sleep(1.0)  # let both syncs finish enumerating and start tailing
            latency = measure_latency(leaf, district, city, args.changes, args.seed)

        city.stop()
        district.stop()
        profile = None if args.no_profile else profile_district(
            leaf, work, args.heartbeat, min(args.size, PROFILE_PAGES * PAGE), args.poll)
        leaf.stop()
        # The replay runs with every server stopped: it has the cores the district had.
        breakdown = replay_breakdown(cap.pages, work)
    except BaseException:
        for node in (city, district, leaf):
            tail = node.stderr_tail()
            if tail:
                sys.stderr.write(f"--- {node.name} gateway stderr (last lines) ---\n{tail}")
        raise
    finally:
        for node in (city, district, leaf):
            node.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    sampler.end()
    machine = machine_info()
    machine["busy"] = sampler.text()
    machine["load"] = f"load average {load_before} at the start, {machine['load'].removeprefix('load average ')}"
    return Results(
        date=qb._now_text(), machine=machine, size=args.size, seed=args.seed, heartbeat=args.heartbeat,
        poll=args.poll, leaf_catalog=f"sqlite at {setup.where.replace(str(Path.home()), '~')}", imported=setup.imported,
        capture_pulls=len(cap.pull_seconds), capture_seconds=cap.seconds, capture_bytes=cap.bytes,
        raw_runs=raw_runs, sync=sync, breakdown=breakdown, profile=profile, city_sync=city_sync, latency=latency,
        constants={"feed_poll": POLL_INTERVAL, "supervisor_interval": INTERVAL}, code=code_version(),
        wall_seconds=time.perf_counter() - wall,
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="resources at the leaf (default 100,000)")
    parser.add_argument("--changes", type=int, default=DEFAULT_CHANGES,
                        help="renames timed leaf -> city (default 200; 0 skips the city and the latency)")
    parser.add_argument("--heartbeat", type=float, default=DEFAULT_HEARTBEAT,
                        help=f"segment heartbeat in seconds (default {DEFAULT_HEARTBEAT:g})")
    parser.add_argument("--poll", type=float, default=DEFAULT_POLL,
                        help=f"seconds between counts of the syncing catalog (default {DEFAULT_POLL:g})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generate_city seed (and the change picks)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "federation.md"),
                        help="results file; .json for JSON, anything else markdown "
                             "(default bench/results/federation.md)")
    parser.add_argument("--cache-dir", help="where generated SQLite catalogs are kept "
                                            "(default ~/.cache/vms-gateway/bench, shared with bench/query.py)")
    parser.add_argument("--work-dir", help="parent of the run's temporary directory (default: the system's)")
    parser.add_argument("--fresh", action="store_true", help="import the leaf again even if a cached catalog matches")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled district")
    parser.add_argument("--keep", action="store_true", help="keep the run's databases (for inspection)")
    args = parser.parse_args(argv)
    if args.size < PAGE:
        parser.error(f"--size must be at least {PAGE}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    results = run(args)
    benchlib.write_report(args.out, render_markdown(results), lambda: render_json(results))


if __name__ == "__main__":
    main()
