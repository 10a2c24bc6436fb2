"""Stream benchmark: 1, 10 and 100 concurrent streams through the relay, beside direct and a plain socket copy.

    python bench/stream.py [--streams 1,10,100] [--seconds 8] [--flood-seconds 5] [--out bench/results/stream.md]

Two sources, each read three ways at each ``--streams`` count:

* *live*: the fake camera's GStreamer RTSP source (H.264 test pattern, 320x240, 25 fps, ~256 kbit/s; one shared
  encoder, so every client gets the same packets), as real cameras pace their streams;
* *flood*: a synthetic RTSP upstream (``steps/stream_flood.py``) sending 1,400-octet RTP packets as fast as the
  connection takes them: the throughput limit.

Ways: *direct* to the source; *copy*, through a plain asyncio socket copy process (``steps/stream_copy.py``, no
parsing: the raw limit); *relay*, through the relay process (``steps/stream_relay.py``: ``gateway.relay``'s
listener with a static resolver, Basic auth at the relay). The clients (``steps/stream_client.py``, all in this
process's event loop) DESCRIBE, SETUP over TCP interleaved, PLAY, and count octets, RTP packets, frames (marker
bits), packets lost (sequence gaps) and the time from connecting to the first frame. CPU is the middle process's
(copy or relay) over the timed window, per stream. Client, middle and source share the machine's 2 cores, so
flood rates are the whole machine's limit, not the relay's alone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kit.process import cpu_seconds, log, rss_kib
from bench.kit.report import LoadSampler, code_version, cpu_model, memory_total, now_text, write_report
from bench.steps.stream_client import StreamStats, play
from tests.fakes.camera.rtsp import RtspSource

USER, PASSWORD = "bench", "bench-pw"
FPS = 25


@dataclass
class Row:
    source: str
    mode: str
    streams: int
    seconds: float
    mbit_s: float
    cpu_per_stream: float | None   # share of one core per stream, middle process
    rss_kib: int | None
    first_frame_p50: float | None
    first_frame_max: float | None
    frames: int
    frames_expected: int | None
    lost: int
    errors: list[str] = field(default_factory=list)


def _started(argv: list[str], prefix: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"{argv[2]} did not start: {line!r}")
    return proc, line[len(prefix):].strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _run(urls: list[str], seconds: float, user: str | None) -> list[StreamStats]:
    return list(await asyncio.gather(*(play(url, seconds, user=user, password=PASSWORD if user else None)
                                       for url in urls)))


def measure(source: str, mode: str, url: str, streams: int, seconds: float, middle: int | None,
            user: str | None) -> Row:
    cpu_before = cpu_seconds(middle) if middle else 0.0
    started = time.monotonic()
    stats = asyncio.run(_run([url] * streams, seconds, user))
    elapsed = time.monotonic() - started
    cpu = (cpu_seconds(middle) - cpu_before) / elapsed / streams if middle else None
    firsts = [s.first_frame_s for s in stats if s.first_frame_s is not None]
    octets = sum(s.octets for s in stats)
    row = Row(source, mode, streams, seconds, octets * 8 / seconds / 1e6, cpu, rss_kib(middle) if middle else None,
              statistics.median(firsts) if firsts else None, max(firsts) if firsts else None,
              sum(s.frames for s in stats), FPS * int(seconds) * streams if source == "live" else None,
              sum(s.lost for s in stats), sorted({s.error for s in stats if s.error}))
    log(f"{source} {mode} x{streams}: {row.mbit_s:.1f} Mbit/s, frames {row.frames}, lost {row.lost}, "
        f"errors {row.errors or '-'}")
    return row


def render(rows: list[Row], args: argparse.Namespace, load: str) -> str:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    out = ["# Stream benchmark (`python bench/stream.py`)", "",
           f"{now_text()}; nproc {os.cpu_count()} ({cpu_model()}), {memory_total()} RAM, Python "
           f"{sys.version.split()[0]}; {code_version()}. {load}.", "",
           "Clients, the middle process and the source share the machine's cores. *live*: GStreamer's RTSP source, "
           f"H.264 320x240 at {FPS} fps; *flood*: a synthetic upstream sending 1,400-octet RTP packets as fast as "
           "taken. *direct*: to the source; *copy*: through a plain asyncio socket copy (the raw limit); *relay*: "
           "through `gateway.relay` (RTSP parsed both ways, URLs rewritten, Basic auth). CPU: the middle process, "
           "% of one core per stream. Frames: RTP packets with the marker bit; lost: RTP sequence gaps.", "",
           "| source | way | streams | Mbit/s | CPU %/stream | RSS MiB | first frame p50 / max s | frames (expected) "
           "| lost | errors |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        expected = f" ({r.frames_expected})" if r.frames_expected else ""
        out.append(f"| {r.source} | {r.mode} | {r.streams} | {r.mbit_s:,.1f} | "
                   f"{fmt(None if r.cpu_per_stream is None else 100 * r.cpu_per_stream, '.2f')} | "
                   f"{fmt(None if r.rss_kib is None else r.rss_kib / 1024, '.0f')} | "
                   f"{fmt(r.first_frame_p50, '.2f')} / {fmt(r.first_frame_max, '.2f')} | {r.frames:,}{expected} | "
                   f"{r.lost} | {'; '.join(r.errors) or '-'} |")
    out += ["", "## Relay against the raw socket copy", "", "| source | streams | relay/copy Mbit/s | lost (relay) |",
            "| --- | --- | --- | --- |"]
    for r in rows:
        if r.mode != "relay":
            continue
        copy = next(c for c in rows if c.source == r.source and c.streams == r.streams and c.mode == "copy")
        out.append(f"| {r.source} | {r.streams} | {r.mbit_s / copy.mbit_s if copy.mbit_s else 0:.2f} | {r.lost} |")
    out += ["", f"Options: streams {args.streams}, {args.seconds:g} s live, {args.flood_seconds:g} s flood.", ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", default="1,10,100")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--flood-seconds", type=float, default=5.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "stream.md"))
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    load = LoadSampler().begin()
    camera = RtspSource(profiles=1).start()
    flood, flood_port = _started([sys.executable, "-m", "bench.steps.stream_flood"], "flood: listening on ")
    camera_hostport = camera.url.split("/")[2]
    live_copy, live_copy_port = _started([sys.executable, "-m", "bench.steps.stream_copy", camera_hostport],
                                         "copy: listening on ")
    flood_copy, flood_copy_port = _started([sys.executable, "-m", "bench.steps.stream_copy",
                                            f"127.0.0.1:{flood_port}"], "copy: listening on ")
    config = {"users": {USER: [PASSWORD, "User"]},
              "streams": {"cam:live": {"url": camera.mount(1), "key": "cam"},
                          "cam:flood": {"url": f"rtsp://127.0.0.1:{flood_port}/flood", "key": "flood"}}}
    relay, ports = _started([sys.executable, "-m", "bench.steps.stream_relay", json.dumps(config)], "relay: rtsp ")
    relay_port = int(ports.split()[0])
    rows: list[Row] = []
    try:
        for source, seconds in (("live", args.seconds), ("flood", args.flood_seconds)):
            ways = {
                "direct": (camera.mount(1) if source == "live" else f"rtsp://127.0.0.1:{flood_port}/flood",
                           None, None),
                "copy": (f"rtsp://127.0.0.1:{live_copy_port}/profile1" if source == "live"
                         else f"rtsp://127.0.0.1:{flood_copy_port}/flood",
                         (live_copy if source == "live" else flood_copy).pid, None),
                "relay": (f"rtsp://127.0.0.1:{relay_port}/live/cam:{source}", relay.pid, USER),
            }
            for streams in counts:
                for mode, (url, middle, user) in ways.items():
                    rows.append(measure(source, mode, url, streams, seconds, middle, user))
                    time.sleep(1.0)  # let the source wind the sessions down
    finally:
        for proc in (relay, live_copy, flood_copy, flood):
            _stop(proc)
        camera.stop()
        load.end()
    write_report(args.out, render(rows, args, load.text()))


if __name__ == "__main__":
    main()
