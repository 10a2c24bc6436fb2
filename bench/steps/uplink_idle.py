"""bench/uplink.py, part 2: one listener holding many idle uplinks, beside a bare TLS server."""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import resource
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.kit.process import (
    ROOT,
    GatewayProcess,
    cpu_seconds,
    hwm_kib,
    log,
    rss_kib,
    stop_process,
)
from bench.steps.uplink_common import (
    CONNECT_BATCH,
    DEVICE_PATH,
    KEEPALIVE_RULE,
    SETTLE,
    START_TIMEOUT,
    UPLINKS_WANTED,
    Pki,
    error_summary,
)
from gateway.catalog.model import KeyEntry, Segment, UplinkConfig
from gateway.catalog.store import Catalog
from gateway.uplink.listening.listener import TlsFiles, server_context


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
    proc = await asyncio.to_thread(subprocess.Popen, [sys.executable, str(ROOT / "bench" / "uplink.py"),
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
        stop_process(proc, grace=30)


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
                              log_path=tmp / "listener.log", timeout=START_TIMEOUT)
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
