"""Writing the results: markdown or JSON, the machine's description, and what the load was meanwhile."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import statistics
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.kit.process import ROOT, log


def write_report(out: str, markdown: str, as_json: Callable[[], str] | None = None) -> None:
    """Write the results to ``out`` (JSON when it ends in .json and ``as_json`` is given), print the markdown."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(as_json() if as_json is not None and path.suffix == ".json" else markdown)
    print(markdown)
    log(f"results written to {path}")


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses, tuples and nested containers turned into what ``json.dumps`` takes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def yes(flag: bool) -> str:
    return "**yes**" if flag else "**NO**"


def share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def home_relative(path: str) -> str:
    """``path`` with the home directory shown as ``~`` (reports name no machine paths)."""
    return path.replace(str(Path.home()), "~")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total() -> str:
    try:
        return Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        return ""


def code_version() -> str:
    """The commit the gateway code was run from, and whether gateway/ had uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--", "gateway")
    return f"commit {commit}" + (" with uncommitted changes in gateway/" if dirty else " (gateway/ clean)")


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
