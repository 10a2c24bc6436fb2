"""bench/federation.py, step 3: change latency, a leaf commit to the Changed event at each level's client."""
from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from bench.kit.soap import Soap, count_notes
from bench.kit.stats import TailDist as Dist
from bench.steps.federation_nodes import (
    CHANGE_DEADLINE,
    DATA,
    LONG_POLL,
    MAX_PAUSE,
    MSG,
    NOTE,
    PAGE,
    SIMPLE,
    TOPIC_ALL,
    WARMUP_CHANGES,
    Node,
    log,
    make_progress,
    read_only,
)


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
        client = Soap(self.node.user, self.node.password)
        try:
            address = client.subscribe(self.node.server.event_url, TOPIC_ALL)
            started = time.perf_counter()
            while n := count_notes(client.pull(address, PAGE, "PT0S")):
                self.drained += n
            self.drain_seconds = time.perf_counter() - started
            self.ready.set()
            while not self.stopping.is_set():
                reply = client.pull(address, PAGE, LONG_POLL)
                arrived = time.perf_counter()
                names = [name for op, name in _changed_names(reply) if op == "Changed" and name]
                if names:
                    with self.cond:
                        for name in names:
                            self.arrivals.setdefault(name, arrived)
                        self.cond.notify_all()
        except Exception as exc:
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
    for note in etree.fromstring(reply).iter(NOTE):
        msg = note.find(MSG)
        if msg is None:
            continue
        name = None
        data = msg.find(DATA)
        if data is not None:
            for item in data.iterchildren(SIMPLE):
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
    progress = make_progress("changes", "changes")
    try:
        for i, token in enumerate(chosen):
            current = catalog.get(token)
            assert current is not None
            name = f"{current.name or token} #{run_id}-{i}"
            before = time.perf_counter()
            applied = catalog.apply([dataclasses.replace(current, name=name)])
            commit = time.perf_counter()
            assert applied.changed == 1, applied
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
