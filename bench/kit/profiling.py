"""A gateway under cProfile, and reading what it wrote.

``python -m bench.kit.profiling OUT serve ...`` runs ``vmsgw serve ...`` with a per-thread CPU-time profiler on
the event-loop thread and on every ``asyncio.to_thread`` call (where the catalog runs), started by SIGUSR1 once
the bench has warmed the server up, so imports and migrations stay out of it. On exit the event-loop profile goes
to ``OUT.main`` and the merged worker profiles to ``OUT.workers``; :func:`summarise` reads both.
"""
from __future__ import annotations

import pstats
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.kit.process import ROOT

#: (group, path fragments): the first group whose fragment is in a profiled function's file names it.
Packages = Sequence[tuple[str, Sequence[str]]]
#: (file suffix, function name, label): functions whose cumulative time a report shows.
Watch = Sequence[tuple[str, str, str]]

#: Where an idle event loop waits; not the gateway's work.
IDLE = ("<method 'poll' of 'select.epoll' objects>", "<method 'control' of 'select.kqueue' objects>",
        "<built-in method select.select>")


def command(out: Path) -> list[str]:
    """The command prefix that runs a ``vmsgw`` command profiled into ``out`` (see the module docstring)."""
    return [sys.executable, "-m", "bench.kit.profiling", str(out)]


def profiled_serve(out: str, argv: list[str]) -> None:
    """Run ``vmsgw <argv>`` with cProfile on the event-loop thread and on every catalog worker call.

    The catalog runs in ``asyncio.to_thread`` workers, which a profiler on the main thread never sees; each
    worker call is therefore run under a per-thread profiler.
    """
    import asyncio
    import cProfile

    main_prof = cProfile.Profile(time.thread_time)  # CPU time: GIL waits and idle waits cost nothing
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    local = threading.local()
    active = threading.Event()
    original = asyncio.to_thread

    def in_worker(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not active.is_set():
            return fn(*args, **kwargs)
        prof = getattr(local, "prof", None)
        if prof is None:
            prof = local.prof = cProfile.Profile(time.thread_time)
            with lock:
                profiles.append(prof)
        return prof.runcall(fn, *args, **kwargs)

    async def to_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await original(in_worker, fn, *args, **kwargs)

    def start(_signum: int, _frame: Any) -> None:
        if not active.is_set():
            active.set()
            main_prof.enable()

    asyncio.to_thread = to_thread  # type: ignore[assignment]
    signal.signal(signal.SIGUSR1, start)
    from gateway.cli.main import main as cli_main

    sys.argv = ["vmsgw", *argv]
    try:
        cli_main()
    except SystemExit:
        pass
    finally:
        main_prof.disable()
        if active.is_set():
            with lock:
                workers = profiles[:]
            if workers:
                merged = pstats.Stats(workers[0])
                for prof in workers[1:]:
                    merged.add(prof)
                merged.dump_stats(out + ".workers")
            pstats.Stats(main_prof).dump_stats(out + ".main")


def fn_label(key: tuple[str, int, str]) -> str:
    """``file:line(function)``, the file relative to site-packages, the standard library or the repository."""
    filename, line, name = key
    if filename == "~":
        return name
    short = filename
    for marker in ("/site-packages/", "/lib/python3."):
        if marker in filename:
            short = filename.split(marker, 1)[1]
            if marker.startswith("/lib/python3."):
                short = short.split("/", 1)[1] if "/" in short else short
            break
    else:
        if filename.startswith(str(ROOT)):
            short = filename[len(str(ROOT)) + 1:]
    return f"{short}:{line}({name})"


def code_group(key: tuple[str, int, str], packages: Packages) -> str:
    """The group of a cProfile function key: C functions by their name, Python ones by ``packages``."""
    filename, _, name = key
    if filename == "~":
        if "sqlite3" in name:
            return "C: sqlite3 (SQL execution, row fetch)"
        if "lxml" in name or "etree" in name:
            return "C: lxml"
        if "socket" in name or "recv" in name or "send" in name:
            return "C: sockets"
        if "math." in name:
            return "C: math"
        return "C: other built-ins"
    for group, fragments in packages:
        if any(f in filename for f in fragments):
            return group
    return "other Python"


@dataclass
class Summary:
    """What a profiled server spent its CPU on."""

    loop_busy: float  # event-loop thread, seconds not spent waiting in the selector
    worker_busy: float  # catalog worker calls, seconds
    watched: list[tuple[str, str, float, float]] = field(default_factory=list)  # (label, function, cum s, share)
    by_package: list[tuple[str, float, float]] = field(default_factory=list)  # (group, own seconds, share)
    top_self: list[tuple[str, float, float]] = field(default_factory=list)  # (function, own seconds, share)

    @property
    def busy(self) -> float:
        return self.loop_busy + self.worker_busy


def summarise(base: Path, watch: Watch, packages: Packages, top: int = 12) -> Summary | None:
    """Read ``base.main`` (and ``base.workers``); None if the server wrote no profile."""
    main_path, workers_path = Path(f"{base}.main"), Path(f"{base}.workers")
    if not main_path.exists():
        return None
    main = pstats.Stats(str(main_path))
    loop_entries: dict[Any, Any] = dict(main.stats)  # type: ignore[attr-defined]
    loop_total = sum(v[2] for v in loop_entries.values())
    loop_idle = sum(v[2] for k, v in loop_entries.items() if fn_label(k) in IDLE)
    worker_busy = 0.0
    if workers_path.exists():
        workers = pstats.Stats(str(workers_path))
        worker_busy = sum(v[2] for v in workers.stats.values())  # type: ignore[attr-defined]
        main.add(workers)
    entries: dict[Any, Any] = dict(main.stats)  # type: ignore[attr-defined]
    result = Summary(loop_busy=loop_total - loop_idle, worker_busy=worker_busy)
    busy = result.busy
    for suffix, name, label in watch:
        cum = sum(v[3] for k, v in entries.items() if k[0].endswith(suffix) and k[2] == name)
        if cum:
            result.watched.append((label, f"{suffix.removeprefix('gateway/')}:{name}", cum, cum / busy))
    groups: dict[str, float] = {}
    for key, value in entries.items():
        if fn_label(key) not in IDLE:
            group = code_group(key, packages)
            groups[group] = groups.get(group, 0.0) + value[2]
    result.by_package = sorted(((g, sec, sec / busy) for g, sec in groups.items()), key=lambda t: -t[1])
    ranked = sorted(((k, v[2]) for k, v in entries.items() if fn_label(k) not in IDLE), key=lambda kv: -kv[1])
    result.top_self = [(fn_label(k), own, own / busy) for k, own in ranked[:top]]
    return result


if __name__ == "__main__":
    profiled_serve(sys.argv[1], sys.argv[2:])
