"""bench/federation.py's settings and its gateway levels: a catalog file, a gateway process and a bench account."""
from __future__ import annotations

import math
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.kit import profiling
from bench.kit.process import GatewayProcess, cpu_seconds, log, vmsgw
from bench.kit.soap import TT, WSNT

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
SERVER_START_TIMEOUT = 120.0
USER_LEVEL = "user"

NOTE = f"{{{WSNT}}}NotificationMessage"
TOPIC = f"{{{WSNT}}}Topic"
MSG = f"{{{WSNT}}}Message/{{{TT}}}Message"
SIMPLE = f"{{{TT}}}SimpleItem"
ELEMENT = f"{{{TT}}}ElementItem"
SOURCE_ITEM = f"{{{TT}}}Source/{{{TT}}}SimpleItem"
DATA = f"{{{TT}}}Data"


@dataclass
class Node:
    """One gateway level: its catalog file, its server process and a bench account on it."""

    name: str
    db_path: Path
    user: str
    password: str
    server: GatewayProcess | None = None

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def start(self, profile_out: Path | None = None) -> Node:
        vmsgw(["db", "upgrade", "--db", self.url])  # a new, empty catalog: created as a user does
        vmsgw(["user", "add", self.user, "--level", USER_LEVEL, "--db", self.url], stdin=self.password + "\n")
        command = profiling.command(profile_out) if profile_out is not None else None
        self.server = GatewayProcess(["--listen", "127.0.0.1:0", "--db", self.url], command=command,
                                     timeout=SERVER_START_TIMEOUT).start()
        log(f"{self.name} gateway serving on {self.server.url}")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def stderr_tail(self, lines: int = 40) -> str:
        return self.server.stderr_tail(lines) if self.server is not None else ""


def new_node(name: str, work: Path) -> Node:
    return Node(name=name, db_path=work / f"{name}.db", user=f"bench-{name}",
                password=uuid.uuid4().hex + uuid.uuid4().hex[:8])


def add_segment(upper: Node, name: str, lower: Node, heartbeat: float) -> None:
    """``vmsgw segment add`` (the real CLI), logging in to ``lower`` with its bench account."""
    assert lower.server is not None
    vmsgw(["segment", "add", name, "--url", lower.server.url, "--user", lower.user,
           "--heartbeat", f"{heartbeat:g}", "--db", upper.url], stdin=lower.password + "\n")


def process_cpu(node: Node) -> float:
    """CPU seconds (user + system) of the node's server process and its children so far (Linux /proc), NaN if
    unknown: the children are a syncing gateway's reply-parsing processes."""
    if node.server is None or node.server.proc is None:
        return math.nan
    return cpu_seconds(node.server.pid, with_children=True)


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0, check_same_thread=False)


def make_progress(label: str, unit: str) -> Any:
    from gateway.cli.progress import Progress

    return Progress(label, unit=unit)


def synced(conn: sqlite3.Connection, segment: str) -> int:
    """Resources of ``segment`` in a catalog that started empty, cheaply: ``max(id)`` is a B-tree probe.

    Ids are never reused and the sync only creates here, so ``max(id)`` counts
    the rows written; once it reaches the target, ``count(*)`` confirms.
    """
    (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM resource").fetchone()
    return int(top)


def counted(conn: sqlite3.Connection, segment: str) -> int:
    return int(conn.execute("SELECT count(*) FROM resource WHERE segment = ?", (segment,)).fetchone()[0])
