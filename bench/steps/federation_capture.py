"""bench/federation.py, step 1: the leaf's replies captured over HTTP, and the raw limit of storing them
(plain lxml, plain DB-API executemany into bare tables)."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from bench.kit.soap import Soap, count_notes
from bench.steps.federation_nodes import (
    DATA,
    MSG,
    NOTE,
    PAGE,
    SIMPLE,
    SOURCE_ITEM,
    TOPIC,
    TOPIC_ALL,
    Node,
    make_progress,
)


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
    client = Soap(leaf.user, leaf.password)
    try:
        address = client.subscribe(leaf.server.event_url, TOPIC_ALL)
        pages: list[bytes] = []
        times: list[float] = []
        total = 0
        progress = make_progress("capture", "resources")
        while True:
            started = time.perf_counter()
            page = client.pull(address, PAGE, "PT0S")
            times.append(time.perf_counter() - started)
            n = count_notes(page)
            if not n:
                break
            pages.append(page)
            total += n
            progress(total)
        progress.finish()
        client.unsubscribe(address)
    finally:
        client.close()
    return Capture(pages=pages, pull_seconds=times, resources=total, bytes=sum(len(p) for p in pages))


def raw_parse(page: bytes, parser: etree.XMLParser) -> list[tuple[Any, ...]]:
    """Plain lxml: (token, kind, name, lat, lon, elevation, offline, scopes) of every resource message."""
    out = []
    for note in etree.fromstring(page, parser).iter(NOTE):
        kind = (note.findtext(TOPIC) or "").rpartition("/")[2]
        msg = note.find(MSG)
        token = msg.find(SOURCE_ITEM).get("Value")
        name = lat = lon = elevation = offline = None
        scopes = []
        data = msg.find(DATA)
        if data is not None:
            for item in data:
                item_name = item.get("Name")
                if item.tag == SIMPLE:
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
            resources: list[tuple[Any, ...]] = []
            scopes: list[tuple[int, int, str]] = []
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
