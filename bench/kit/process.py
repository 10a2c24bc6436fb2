"""One runner for gateway processes: start ``python -m gateway serve ...``, wait for its "serving on" line, stop it.

Used by the benchmarks and by ``tests/interop``. It imports nothing of ``gateway`` on purpose: the gateway runs
as a process, started the way a user starts it, and is only read from outside (its stdout lines, its stderr log,
Linux's ``/proc``).

The process's stderr goes to a file, never to a pipe: a chatty server would block on a pipe nobody reads. A start
that fails (the process exits, or no "serving on" line within the timeout) raises :class:`StartFailed` carrying the
line read and the tail of that log.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

#: The repository root: every gateway process runs from here, so ``python -m gateway`` is this checkout's.
ROOT = Path(__file__).resolve().parents[2]
SERVING = "serving on"
UPLINKS = "accepting uplinks on"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class StartFailed(RuntimeError):
    """The gateway process did not announce that it serves."""


class CommandFailed(RuntimeError):
    """A ``vmsgw`` command exited with a non-zero status."""


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the results table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def vmsgw(args: Sequence[str], *, stdin: str | None = None, timeout: float = 600.0,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m gateway <args>`` from the repository root, output captured; :class:`CommandFailed` if
    ``check`` and it fails."""
    proc = subprocess.run([sys.executable, "-m", "gateway", *args], input=stdin, text=True, capture_output=True,
                          cwd=ROOT, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise CommandFailed(f"vmsgw {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def stop_process(proc: subprocess.Popen[str], grace: float = 60.0) -> int:
    """SIGTERM (a gateway drains gracefully), SIGKILL after ``grace`` seconds, then close its pipes; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream:
            stream.close()
    return proc.returncode


class GatewayProcess:
    """``python -m gateway serve <args>`` (or ``command`` + ``serve <args>``) until :meth:`stop`.

    ``log_path`` receives the server's stderr (appended); without one a temporary file is used and removed at
    :meth:`stop`. :meth:`start` waits up to ``timeout`` seconds for the "serving on URL" line (and, with
    ``uplinks``, the "accepting uplinks on ADDRESS" line after it).
    """

    def __init__(self, args: Sequence[str], *, log_path: Path | None = None, command: Sequence[str] | None = None,
                 timeout: float = 120.0, grace: float = 60.0) -> None:
        self.args = list(args)
        self.command = list(command) if command is not None else [sys.executable, "-m", "gateway"]
        self.timeout, self.grace = timeout, grace
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="vmsgw-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.uplink_port = 0
        self.returncode: int | None = None

    def start(self, *, uplinks: bool = False) -> GatewayProcess:
        with self.log_path.open("a") as err:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([*self.command, "serve", *self.args], stdout=subprocess.PIPE, stderr=err,
                                         text=True, cwd=ROOT)
        lines: list[str] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for _ in range(2 if uplinks else 1):
                lines.append(self.proc.stdout.readline())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.timeout)
        text = "".join(lines)
        if SERVING not in text or (uplinks and UPLINKS not in text):
            self.stop(keep_log=True)
            tail = self.stderr_tail(chars=8000)
            if self._own_log:
                self.log_path.unlink(missing_ok=True)
            raise StartFailed(f"the gateway did not start: {text!r}\n{tail}")
        self.url = text.split(SERVING, 1)[1].split()[0]
        if uplinks:
            self.uplink_port = int(text.split(UPLINKS, 1)[1].split()[0].rsplit(":", 1)[1])
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    @property
    def base(self) -> str:
        """The URL without its service path: ``http://127.0.0.1:PORT``."""
        return self.url.rsplit("/onvif/", 1)[0]

    @property
    def event_url(self) -> str:
        return self.base + "/onvif/event_service"

    def stderr_tail(self, lines: int = 40, chars: int | None = None) -> str:
        """The last ``lines`` lines (or ``chars`` characters) of the server's stderr."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        if chars is not None:
            return text[-chars:]
        return "".join(text.splitlines(keepends=True)[-lines:])

    def children(self) -> set[int]:
        """The server's child processes now (a syncing gateway's reply parsers)."""
        return children(self.pid)

    def cpu_seconds(self, *, with_children: bool = False) -> float:
        return cpu_seconds(self.pid, with_children=with_children)

    def stop(self, *, keep_log: bool = False) -> int | None:
        """Stop the process (SIGTERM, SIGKILL after the grace period); its exit code, None if it never ran."""
        if self.proc is not None:
            self.returncode = stop_process(self.proc, self.grace)
            self.proc = None
        if self._own_log and not keep_log:
            self.log_path.unlink(missing_ok=True)
        return self.returncode


# --------------------------------------------------------------------------- Linux /proc


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """utime + stime of ``pid`` (all its threads), seconds. ``with_children``: plus the CPU of the children it
    already waited for and of those running now (NaN if the process is gone)."""
    if not with_children:
        fields = _stat(pid)
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    try:
        running = children(pid)
        fields = _stat(pid)
    except OSError:
        return float("nan")
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, and those of children it already waited for
    for child in running:
        try:
            ticks += sum(int(f) for f in _stat(child)[11:13])
        except OSError:  # ended meanwhile: counted once it is waited for
            pass
    return ticks / _CLK_TCK


def _status_kib(pid: int, key: str) -> int | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return None


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB."""
    value = _status_kib(pid, "VmRSS:")
    if value is None:
        raise RuntimeError(f"no VmRSS for pid {pid}")
    return value


def hwm_kib(pid: int) -> int:
    """VmHWM (peak RSS) of ``pid`` in KiB, 0 if unknown."""
    return _status_kib(pid, "VmHWM:") or 0
