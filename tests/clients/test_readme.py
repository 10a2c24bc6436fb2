"""The README's commands against a real ``vmsgw demo``: each gives a non-empty answer that fits what it asked.

The ``vmsgw query`` examples are read from README.rst itself, so the text and
the test cannot drift apart: ``...`` stands for the demo's URL and user, as
the README says.  Each runs as a real process with ``--json``, and every
resource it prints is checked against its filters (distance, prefix, scope,
topic, projection).  The operations commands the README names (``catalog
stats``, ``catalog export``, ``user list``, ``id explain``) run on the
demo's catalog.
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.interop
ROOT = Path(__file__).parents[2]
README = (ROOT / "README.rst").read_text(encoding="utf-8")
STARTUP_TIMEOUT = 120.0
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Demo:
    url: str
    password: str
    printed_command: str  # the query line the demo prints
    db: str


def vmsgw(*args: str, password: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if password is not None:
        env["VMSGW_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    db = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    process = subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--db", db, "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None
    lines: list[str] = []
    timer = _kill_after(process, STARTUP_TIMEOUT)
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("vmsgw: serving on "):
                break
    finally:
        timer.cancel()
    output = "".join(lines)
    password = re.search(r"^  password: (\S+)$", output, re.M)
    command = re.search(r"^  (VMSGW_PASSWORD=\S+ vmsgw query .*)$", output, re.M)
    url = re.search(r"^vmsgw: serving on (\S+)$", output, re.M)
    assert password and command and url, f"the demo did not start:\n{output}"
    try:
        yield Demo(url=url[1], password=password[1], printed_command=command[1], db=db)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


def _kill_after(process: subprocess.Popen[str], seconds: float) -> threading.Timer:
    """A start-up that hangs ends the process, so reading its output cannot block the suite."""
    timer = threading.Timer(seconds, process.kill)
    timer.start()
    return timer


def readme_queries() -> list[list[str]]:
    """Every ``vmsgw query`` command of the README's literal blocks, as argument lists after ``query``."""
    found = []
    # The walkthrough's query runs against its own gateways (tests/clients/test_readme_live.py), not the demo.
    walkthrough = README.index("Trying it without a camera\n~~~~")
    text = README[:walkthrough] + README[README.index("\nRunning your own gateway\n", walkthrough):]
    for block in re.findall(r"::\n\n((?:    .*\n|\n)+)", text):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  # ")[0].strip()
            words = shlex.split(line)
            if words and words[0].startswith("VMSGW_PASSWORD="):
                words = words[1:]
            if words[:2] == ["vmsgw", "query"]:
                found.append(words[2:])
    return found


QUERIES = readme_queries()


def test_the_readme_has_the_query_examples() -> None:
    assert len(QUERIES) >= 5, QUERIES  # the pasted command and the four "Other filters"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def scope_matches(term: str, scope: str) -> bool:
    """WS-Discovery rfc3986 matching for the README's terms: the same URI or one below it, case-blind host."""
    return scope.lower() == term.lower() or scope.lower().startswith(term.lower().rstrip("/") + "/")


def option_values(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, word in enumerate(args[:-1]) if word == name]


def check_answer(args: list[str], resources: list[dict[str, Any]]) -> None:
    assert resources, f"vmsgw query {' '.join(args)} found nothing in the demo"
    near, radius = option_values(args, "--near"), option_values(args, "--radius")
    for resource in resources:
        if near:
            lat, lon = map(float, near[0].split(","))
            assert resource["lat"] is not None
            assert distance_m(lat, lon, resource["lat"], resource["lon"]) <= float(radius[0]) + 0.01
        for prefix in option_values(args, "--prefix"):
            assert resource["token"].startswith(prefix + ":")
        for term in option_values(args, "--scope"):
            assert any(scope_matches(term, s) for s in resource["scopes"]), (term, resource["scopes"])
        for kind in option_values(args, "--topic"):
            assert resource["kind"] == kind
    selected = option_values(args, "--select")
    if selected:  # /Name and /Scope/location: names and location scopes only, no coordinates, no Offline
        assert all(r["lat"] is None and r["offline"] is None for r in resources)
        assert all(s.startswith("onvif://www.onvif.org/location/") for r in resources for s in r["scopes"])
        assert all(r["name"] for r in resources)


@pytest.mark.parametrize("args", QUERIES, ids=[" ".join(q) for q in QUERIES])
def test_readme_query_answers_on_the_demo(demo: Demo, args: list[str]) -> None:
    if args[:1] == ["..."]:
        args = ["--url", demo.url, "--user", "demo", *args[1:]]
    else:  # the pasted command: the demo's own address instead of the README's default one
        args = [demo.url if word.startswith("http://127.0.0.1:8080/") else word for word in args]
    done = vmsgw("query", *args, "--json", password=demo.password)
    assert done.returncode == 0, done.stderr
    check_answer(args, json.loads(done.stdout))


def test_the_command_the_demo_prints_answers(demo: Demo) -> None:
    words = shlex.split(demo.printed_command)
    password = words[0].removeprefix("VMSGW_PASSWORD=")
    assert words[1:3] == ["vmsgw", "query"]
    done = vmsgw(*words[2:], "--json", password=password)
    assert done.returncode == 0, done.stderr
    check_answer(words[3:], json.loads(done.stdout))


def test_the_operations_commands_answer_on_the_demo(demo: Demo, tmp_path: Path) -> None:
    for named in ("``vmsgw catalog stats``", "``vmsgw user list``", "``vmsgw catalog export FILE``",
                  "``vmsgw id explain 32010001071321008015``"):
        assert named in README
    stats = vmsgw("catalog", "stats", "--db", demo.db)
    assert stats.returncode == 0 and re.search(r"^resources +12000$", stats.stdout, re.M), stats.stdout
    users = vmsgw("user", "list", "--db", demo.db)
    assert users.returncode == 0 and re.search(r"^demo +User$", users.stdout, re.M), users.stdout
    exported = tmp_path / "demo.csv"
    export = vmsgw("catalog", "export", str(exported), "--db", demo.db)
    assert export.returncode == 0, export.stderr
    assert len(exported.read_text(encoding="utf-8").splitlines()) == 12_001  # header + every resource
    explained = vmsgw("id", "explain", "32010001071321008015")
    assert explained.returncode == 0 and explained.stdout.strip(), explained.stderr
