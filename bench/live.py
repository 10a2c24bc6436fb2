"""Live benchmark: SOAP adaption latency of Media2 GetStreamUri, PTZ ContinuousMove and GetProfiles by token, one
and three gateway levels above a camera, beside the same call made to the camera and the adaption's raw limit.

    python bench/live.py [--quick] [--calls N] [--clients 1,4,16] [--levels 1,3] [--out bench/results/live.md]

One run, on loopback:

1. **Parts**: the fake camera (``tests/fakes/camera``, two profiles, PTZ, WS-UsernameToken; no RTSP source, since
   no stream is played) as a device segment of a *leaf* gateway, the leaf a segment of a *district*, the district of
   a *city*: real ``python -m gateway serve`` processes, each set up with the CLI (``db upgrade``, ``user add``,
   ``segment add``), as ``tests/interop/test_live_media.py`` builds them. The camera's profile tokens at each level
   come from a Resource Query there.
2. **Calls**: each operation is timed at the camera itself (*direct*, its own token ``Profile_1``) and at each
   ``--levels`` depth (the remote token), with 1 client sending ``--calls`` calls one after the other and with a
   few concurrent clients sharing as many. The bench's client is its own (``bench/kit/soap.py``: hand-built SOAP
   1.2, WS-UsernameToken digest, httpx, one keep-alive connection per client); every reply is checked after the
   clock stopped (no fault, the expected answer, the requested profile first). CPU per call of the camera and of
   each gateway process comes from ``/proc``.
3. **Raw limit**: the adaption alone, in this process, without I/O: the request parsed with lxml, the profile
   token's prefix stripped, serialised; the camera's answer parsed, every token prefixed and the stream URI
   replaced, serialised (``steps/live_calls.py``).
4. **Where a level's time goes**: the leaf started again under cProfile (``bench/kit/profiling.py``), the same
   calls made there by one client (``steps/live_profile.py``); the timed rows never ran under the profiler.

Results go to ``--out`` (markdown, or JSON when the name ends in ``.json``); progress on stderr. Client, camera
and gateways share the machine's cores, and the load average is noted beside every figure.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lxml import etree

from bench.kit.process import log
from bench.kit.report import LoadSampler, code_version, cpu_model, jsonable, memory_total, now_text, write_report
from bench.kit.soap import TR2
from bench.steps.live_calls import OPERATIONS, Cell, RawCell, Target, call_once, measure, raw_limit, request
from bench.steps.live_levels import CAM_USER, NAMES, build, profile_token
from bench.steps.live_profile import Profiled, profile_leaf

LOCAL_TOKEN = "Profile_1"
FULL = {"calls": 400, "clients": "1,4,16", "warmup": 20, "raw_repeats": 2000, "profile_calls": 300}
QUICK = {"calls": 40, "clients": "1,4", "warmup": 5, "raw_repeats": 200, "profile_calls": 30}


def _numbers(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


def run(args: argparse.Namespace) -> dict[str, Any]:
    wall = time.perf_counter()
    load_start = os.getloadavg()[0]
    sampler = LoadSampler().begin()
    work = Path(tempfile.mkdtemp(prefix="vmsgw-livebench-", dir=args.work_dir))
    log(f"working directory {work}")
    setup = build(work)
    cells: list[Cell] = []
    raws: list[RawCell] = []
    try:
        camera = setup.camera
        targets = [Target("camera", 0, camera.base, CAM_USER, camera.password, LOCAL_TOKEN)]
        for depth in args.levels:
            level = setup.levels[depth - 1]
            targets.append(Target(level.name, depth, level.base, level.user, level.password, profile_token(level)))
        remote = targets[-1]
        prefix = remote.token.removesuffix(LOCAL_TOKEN)
        pids = setup.pids()
        for op in (OPERATIONS[name] for name in args.operations):
            reply = call_once(targets[0], op)
            uri = ""
            if op.name == "GetStreamUri":
                answer = etree.fromstring(call_once(remote, op))
                uri = answer.findtext(f".//{{{TR2}}}Uri") or ""
            raws.append(raw_limit(op, request(remote, op)[1], reply, prefix, uri, args.raw_repeats))
            log(f"raw adaption of {op.name}: request {raws[-1].request_us:.0f} us + answer {raws[-1].reply_us:.0f} us")
            for clients in args.clients:
                for target in targets:
                    cells.append(measure(target, op, args.calls, clients, args.warmup, pids))
        profiled = None
        if args.profile_calls:
            leaf = next(t for t in targets if t.depth == 1) if 1 in args.levels else None
            if leaf is None:
                log("no profile: the leaf (--levels 1) is not among the levels timed")
            else:
                profiled = profile_leaf(setup.levels[0], leaf, [OPERATIONS[n] for n in args.operations],
                                        args.profile_calls, work)
    except BaseException:
        for level in setup.levels:
            sys.stderr.write(f"--- {level.name} gateway stderr (last lines) ---\n{level.stderr_tail()}")
        raise
    finally:
        setup.stop()
        sampler.end()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "date": now_text(), "quick": args.quick, "machine": f"nproc {os.cpu_count()} ({cpu_model()}), "
        f"{memory_total()} RAM, Python {sys.version.split()[0]}", "code": code_version(),
        "load": f"load average {load_start:.2f} at the start; {sampler.text()}",
        "options": {"calls": args.calls, "clients": args.clients, "levels": args.levels, "warmup": args.warmup,
                    "raw_repeats": args.raw_repeats, "profile_calls": args.profile_calls,
                    "operations": args.operations},
        "token": {"camera": LOCAL_TOKEN, "remote": remote.token},
        "cells": cells, "raw": raws, "profile": profiled, "wall_seconds": time.perf_counter() - wall,
    }


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _where(cell: Cell) -> str:
    return "camera (direct)" if cell.depth == 0 else f"{cell.target} ({cell.depth} level{'s' * (cell.depth > 1)})"


def _errors(cell: Cell) -> str:
    text = f"{cell.errors}{' (' + cell.first_error[:80] + ')' if cell.first_error else ''}"
    if cell.warmup_errors:
        text += f"; warm-up {cell.warmup_errors} ({(cell.first_warmup_error or '')[:80]})"
    return text


def _summary(cells: list[Cell], raws: dict[str, RawCell], opts: dict[str, Any]) -> list[str]:
    """One line per operation: one client's p50 direct and at each depth, the CPU a level spends on a call, the
    best rate at the deepest level, and the raw adaption beside it."""
    lines = []
    for op in opts["operations"]:
        mine = [c for c in cells if c.operation == op]
        single = {c.depth: c for c in mine if c.clients == 1}
        deepest = max(opts["levels"])
        if 0 not in single or deepest not in single:
            continue
        deep = single[deepest]
        level_cpu = [v for name, v in deep.cpu_ms_per_call.items() if name != "camera"][:deepest]
        best = max((c for c in mine if c.depth == deepest), key=lambda c: c.calls_per_s)
        at = "; ".join(f"{_where(single[d])} {_ms(single[d].p50_ms)} ms" for d in sorted(single) if d)
        lines.append(
            f"- **{op}**, one client, p50: camera {_ms(single[0].p50_ms)} ms; {at}: "
            f"{(deep.p50_ms - single[0].p50_ms) / deepest:.1f} ms added per level. A level spends "
            f"{statistics.fmean(level_cpu):.1f} ms CPU per call; at {deep.target} the best rate is "
            f"{best.calls_per_s:,.0f} calls/s ({best.clients} clients; the camera direct "
            f"{max(c.calls_per_s for c in mine if c.depth == 0):,.0f}). The adaption itself (raw, no I/O) is "
            f"{raws[op].total_us:.0f} µs a level.")
    return lines


def render(results: dict[str, Any]) -> str:
    cells: list[Cell] = results["cells"]
    raws: dict[str, RawCell] = {r.operation: r for r in results["raw"]}
    opts = results["options"]
    procs = ["camera", *NAMES]
    out = [f"# Live benchmark (`python bench/live.py{' --quick' if results['quick'] else ''}`)", "",
           f"{results['date']}; {results['machine']}; {results['code']}. {results['load']}. "
           f"Run took {results['wall_seconds']:.0f} s.", "",
           "SOAP calls through the gateway's Media2 and PTZ forwarding: the fake camera (tests/fakes/camera) is a "
           "device segment of the *leaf*, the leaf a segment of the *district*, the district of the *city*, each a "
           "real `vmsgw serve` process. *camera (direct)*: the same call made to the camera with its own token "
           f"(`{LOCAL_TOKEN}`); at a level, with the remote token (`{results['token']['remote']}`). Latency: the "
           "POST's round trip at the client (hand-built SOAP 1.2 with a WS-UsernameToken digest, one keep-alive "
           "connection per client); calls/s: all clients together over the wall time. CPU: ms of each process per "
           "call (a level's CPU includes forwarding downward). Load: the 1-minute load average when the row "
           "finished; client, camera and gateways share the cores. Errors: in the timed calls; *warm-up*: while the "
           "clients connected (untimed).", ""]
    out += ["## Summary", "", *_summary(cells, raws, opts), ""]
    for op in opts["operations"]:
        rows = [c for c in cells if c.operation == op]
        out += [f"## {op}", "",
                "| at | clients | calls | p50 ms | p95 ms | p99 ms | max ms | calls/s | CPU ms/call "
                f"{' / '.join(procs)} | errors | load |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c in rows:
            cpu = " / ".join("-" if (v := c.cpu_ms_per_call.get(p)) is None or v == 0 else f"{v:.2f}" for p in procs)
            out.append(f"| {_where(c)} | {c.clients} | {c.calls} | {_ms(c.p50_ms)} | {_ms(c.p95_ms)} | "
                       f"{_ms(c.p99_ms)} | {_ms(c.max_ms)} | {c.calls_per_s:,.0f} | {cpu} | "
                       f"{_errors(c)} | {c.load:.2f} |")
        out.append("")
    out += ["## What a level adds, and the adaption's share of it", "",
            "Added p50 per level: (p50 at the level - p50 direct) / levels, one client. Raw adaption: request "
            "(lxml parse, prefix stripped, serialised) + answer (parsed, tokens prefixed, URI replaced, "
            "serialised), median, in the bench's process without I/O; calls/s on one core from the mean.", "",
            "| operation | request / answer octets | raw adaption µs (request + answer) | raw p99 µs | raw calls/s "
            "| at | added p50 ms per level | raw share of it |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for op in opts["operations"]:
        raw = raws[op]
        direct = next((c for c in cells if c.operation == op and c.depth == 0 and c.clients == 1), None)
        for c in (c for c in cells if c.operation == op and c.depth > 0 and c.clients == 1):
            added = (c.p50_ms - direct.p50_ms) / c.depth if direct else math.nan
            share = f"{raw.total_us / 1000 / added:.0%}" if added > 0 else "-"
            out.append(f"| {op} | {raw.request_octets:,} / {raw.reply_octets:,} | {raw.request_us:.0f} + "
                       f"{raw.reply_us:.0f} = {raw.total_us:.0f} | {raw.p99_us:.0f} | {raw.calls_per_s:,.0f} | "
                       f"{_where(c)} | {_ms(added)} | {share} |")
    profiled: Profiled | None = results["profile"]
    if profiled is not None and profiled.summary is not None:
        p = profiled.summary
        each = 1000.0 / profiled.calls
        out += ["", f"## Where a level's time goes: the leaf under cProfile ({profiled.calls} calls)", "",
                "The leaf again, on its own port and catalog, under `bench/kit/profiling.py` (cProfile with a "
                "per-thread CPU clock on the event loop and on the catalog's worker calls), switched on after "
                f"warm-up; one client, {profiled.calls // len(opts['operations'])} calls of each operation one "
                f"after the other. CPU: event loop {p.loop_busy * each:.2f} + catalog workers "
                f"{p.worker_busy * each:.2f} = {p.busy * each:.2f} ms per call (profiled; cProfile inflates "
                "call-heavy Python code, so read shares, not milliseconds).", "",
                "| part | function | cumulative CPU ms/call | share |", "| --- | --- | --- | --- |",
                *(f"| {label} | `{fn}` | {sec * each:.2f} | {share:.0%} |" for label, fn, sec, share in p.watched),
                "", "Own time by where the code lives:", "", "| code | own CPU ms/call | share |",
                "| --- | --- | --- |",
                *(f"| {group} | {sec * each:.2f} | {share:.0%} |" for group, sec, share in p.by_package),
                "", "Top functions by own time:", "", "| function | own CPU ms/call | share |", "| --- | --- | --- |",
                *(f"| `{fn}` | {sec * each:.3f} | {share:.1%} |" for fn, sec, share in p.top_self)]
    out += ["", f"Options: {opts['calls']} calls per row (after {opts['warmup']} untimed), clients "
                f"{','.join(map(str, opts['clients']))}, levels {','.join(map(str, opts['levels']))}, raw adaption "
                f"{opts['raw_repeats']} times, profile {opts['profile_calls']} calls of each.", ""]
    return "\n".join(out)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"a short run: {QUICK['calls']} calls per row, clients {QUICK['clients']}")
    parser.add_argument("--calls", type=int, help=f"timed calls per row, shared by its clients (default "
                                                  f"{FULL['calls']})")
    parser.add_argument("--clients", help=f"concurrent clients per row (default {FULL['clients']})")
    parser.add_argument("--warmup", type=int, help=f"untimed calls before each row (default {FULL['warmup']})")
    parser.add_argument("--raw-repeats", type=int, help=f"raw adaptions timed (default {FULL['raw_repeats']})")
    parser.add_argument("--profile-calls", type=int, help="calls of each operation at the leaf under cProfile "
                                                          f"(default {FULL['profile_calls']}; 0: no profile)")
    parser.add_argument("--levels", default="1,3", help="gateway depths timed: 1 leaf, 2 district, 3 city")
    parser.add_argument("--operations", default=",".join(OPERATIONS), help="which calls (default: all three)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "live.md"),
                        help="results file; .json for JSON, anything else markdown (default bench/results/live.md)")
    parser.add_argument("--work-dir", help="parent of the run's temporary directory (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the catalogs and the servers' logs")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key in ("calls", "clients", "warmup", "raw_repeats", "profile_calls"):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    args.clients = _numbers(args.clients)
    args.levels = sorted(set(_numbers(args.levels)))
    args.operations = [o.strip() for o in args.operations.split(",") if o.strip()]
    if not args.levels or not set(args.levels) <= {1, 2, 3}:
        parser.error("--levels takes depths among 1, 2, 3")
    if unknown := set(args.operations) - set(OPERATIONS):
        parser.error(f"unknown operations {sorted(unknown)}; known: {', '.join(OPERATIONS)}")
    if args.calls < 1 or not args.clients or min(args.clients) < 1:
        parser.error("--calls and --clients must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    results = run(args)
    write_report(args.out, render(results), lambda: json.dumps(jsonable(results), indent=2))


if __name__ == "__main__":
    main()
