"""What the benchmarks share: stopping a gateway process, and grouping profiled code by where it lives."""
from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence

#: (group, path fragments): the first group whose fragment is in a profiled function's file names it.
Packages = Sequence[tuple[str, Sequence[str]]]


def stop_gateway(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (the gateway drains gracefully), SIGKILL after 60 s, then close its stdout pipe."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


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
