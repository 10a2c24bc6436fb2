"""``python -m gateway`` as a real process: exit codes, stdin passwords, and the demo's promise.

The demo test runs the command line the demo prints, against the demo it
started, and expects the resources around the demo point.
"""
from __future__ import annotations

import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.cli.demo_city import DEMO_POINT, generate_city
from gateway.vocabulary.geodesy import haversine_m

VMSGW = [sys.executable, "-m", "gateway"]
ROOT = Path(__file__).resolve().parents[3]
#: Seconds a started demo gets to seed its catalog and announce its address.
START_TIMEOUT = 60.0
DEMO_SIZE = 1_500


def vmsgw(*argv: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMSGW, *argv], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, **(env or {})})


def test_id_explain_process() -> None:
    done = vmsgw("id", "explain", "32010001071321008015")
    assert done.returncode == 0 and "IPC (peripheral device)" in done.stdout
    bad = vmsgw("id", "explain", "32010001071321008O15")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("vmsgw id explain: ") and "position 18" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_user_add_from_stdin_process(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert vmsgw("db", "upgrade", "--db", db).returncode == 0
    assert vmsgw("user", "add", "carol", "--level", "operator", "--db", db, stdin="hunter2-x\n").returncode == 0
    listed = vmsgw("user", "list", "--db", db)
    assert listed.returncode == 0 and "carol" in listed.stdout and "hunter2" not in listed.stdout + listed.stderr
    assert vmsgw("catalog", "stats", "--db", "not a url").returncode == 2


def _read_until(proc: subprocess.Popen[str], pattern: str) -> list[str]:
    """Lines of the process's stdout up to one matching ``pattern``."""
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as sel:
        assert proc.stdout is not None
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=deadline - time.monotonic()):
                break
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if re.search(pattern, line):
                return lines
    pytest.fail(f"no line matching {pattern!r} in {lines!r}")


def test_demo_prints_a_working_query(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    proc = subprocess.Popen([*VMSGW, "demo", "--size", str(DEMO_SIZE), "--listen", "127.0.0.1:0", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines = _read_until(proc, r"serving on http://")
        command = next(line.strip() for line in lines if "vmsgw query" in line)
        password = next(line.split()[-1] for line in lines if line.strip().startswith("password:"))
        words = shlex.split(command)
        assert words[0] == f"VMSGW_PASSWORD={password}" and words[1] == "vmsgw"
        done = vmsgw(*words[2:], env={"VMSGW_PASSWORD": password})
        assert done.returncode == 0, done.stderr
        expected = sum(1 for r in generate_city(DEMO_SIZE)
                       if r.has_location and haversine_m(r.lat, r.lon, *DEMO_POINT) <= 300)  # type: ignore[arg-type]
        assert done.stdout.splitlines()[-1] == f"{expected} resources"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
