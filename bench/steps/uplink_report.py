"""bench/uplink.py's results as markdown."""
from __future__ import annotations

import argparse
import os
import platform
from dataclasses import dataclass

import h2
import httpx
import hypercorn

from bench.kit.report import cpu_model, memory_total, yes
from bench.steps.uplink_common import (
    CONNECT_BATCH,
    KEEPALIVE_RULE,
    PAGE,
    RATIO_MIN,
    SETTLE,
    UPLINKS_WANTED,
)
from bench.steps.uplink_idle import Idle
from bench.steps.uplink_throughput import Throughput


def machine_info() -> dict[str, str]:
    cpu, mem = cpu_model(), memory_total()
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "mem": mem, "python": platform.python_version(),
            "h2": h2.__version__, "hypercorn": getattr(hypercorn, "__version__", "") or _dist_version("hypercorn"),
            "httpx": httpx.__version__, "kernel": platform.release()}


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"




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
                     f"closed; {i.per_uplink_kib:.0f} KiB RSS per uplink | {yes(i.ok)} |")
    if r.throughput is not None:
        t = r.throughput
        worst = min(r.args.concurrency, key=lambda c: t.ratio("PullMessages", c))
        lines.append(f"| through one uplink >= {RATIO_MIN:.0%} of a direct HTTP/2 connection's request rate "
                     f"(PullMessages PT0S/100, every concurrency) | lowest uplink/direct "
                     f"{t.ratio('PullMessages', worst):.2f} (at {worst} in flight) | {yes(bool(r.ratio_ok))} |")
    if r.throughput is not None:
        lines += ["", *_throughput_section(r.throughput, r.args)]
    if r.idle is not None:
        lines += ["", *_idle_section(r.idle)]
    lines += ["", f"Benchmark wall time {r.wall_seconds:.0f} s. Command: `"
              + " ".join(["python", "bench/uplink.py", *_argv_shown(r.args)]) + "`.", ""]
    return "\n".join(lines)


def _argv_shown(args: argparse.Namespace) -> list[str]:
    return list(args.argv)


def _throughput_section(t: Throughput, args: argparse.Namespace) -> list[str]:
    lines = [
        "## Requests per second: one uplink beside a direct HTTP/2 connection", "",
        (f"Server: one `python -m gateway serve` process (the leaf), SQLite catalog of {t.resources:,} resources "
        f"(`generate_city`). *direct*: HTTPS to its hypercorn listener, ALPN `h2` (`--tls-cert/--tls-key`), one "
        "connection. *uplink*: the leaf's connector (`vmsgw uplink set https://localhost:PORT/uplink`, token "
        "identity) dials an `UplinkListener` in the bench process and serves the same app with `H2Server`; "
        f"connected {t.leaf_connect_seconds:.1f} s after the process started. Both are driven by the same HTTP/2 "
        "client, `gateway.uplink.listening.link.Link` (the remote client's side of an uplink), so only the "
        "server's HTTP/2 "
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
        f"{i.heartbeat:g} s. Devices: {i.segments:,} `gateway.uplink.connecting.connector.Uplink` tasks in the "
        "bench process "
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
