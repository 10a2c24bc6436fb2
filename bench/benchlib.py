"""What the benchmarks share: progress lines, stopping a process, writing the report, grouping profiled code."""
from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: (group, path fragments): the first group whose fragment is in a profiled function's file names it.
Packages = Sequence[tuple[str, Sequence[str]]]


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the results table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stop_process(proc: subprocess.Popen[str], grace: float = 60.0) -> None:
    """SIGTERM (a gateway drains gracefully), SIGKILL after ``grace`` seconds, then close its stdout pipe."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


def write_report(out: str, markdown: str, as_json: Callable[[], str] | None = None) -> None:
    """Write the results to ``out`` (JSON when it ends in .json and ``as_json`` is given), print the markdown."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(as_json() if as_json is not None and path.suffix == ".json" else markdown)
    print(markdown)
    log(f"results written to {path}")


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


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses, tuples and nested containers turned into what ``json.dumps`` takes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value
