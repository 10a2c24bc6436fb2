"""Real client libraries against a real gateway: every Resource event item read through their typed objects.

Each library runs as a subprocess (tests/clients/*_client.py, node/resource_events.js), connects as its
users do, subscribes with topic ``tns1:Resource//.`` and a LocationFilter, pulls, and prints what it read;
the events are compared exactly with the imported catalog rows.  The libraries' environments are
installed on first use (the virtualenv from PyPI, node_modules by ``npm ci``) unless .ci/run already made
them.  Without Node a run is skipped with the command that installs it, except under CI, where it fails.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.interop.conftest import CENTRE, PASSWORD, USER, Gateway
from tests.interop.expect import within

pytestmark = pytest.mark.interop
HERE = Path(__file__).parent
ROOT = HERE.parents[1]
RADIUS = 102.0  # takes in "Just outside" (101 m, Offline true)
ZEEP_ASYNC_PYTHON = HERE / "zeep_async" / ".venv" / "bin" / "python"
NODE_MODULES = HERE / "node" / "node_modules" / "onvif"
DEVICE_NS, EVENTS_NS = "http://www.onvif.org/ver10/device/wsdl", "http://www.onvif.org/ver10/events/wsdl"


def run_client(command: list[str], gateway: Gateway) -> dict[str, Any]:
    where = urlsplit(gateway.url)
    done = subprocess.run(
        [*command, str(where.hostname), str(where.port), USER, repr(CENTRE[0]), repr(CENTRE[1]), repr(RADIUS)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, f"{command[-1]} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def expected_events(rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """What a subscription to every topic within RADIUS of CENTRE must report, from the imported rows."""
    out = {}
    for row in rows:
        if not within(row, *CENTRE, RADIUS):
            continue
        out[row["token"]] = {
            "topic": f"tns1:Resource/{row['kind']}",
            "operation": "Initialized",
            "token": row["token"],
            "name": row["name"],
            "scopes": row["scopes"].split(),
            "offline": row["offline"] or None,
            "location": {"lon": float(row["lon"]), "lat": float(row["lat"]),
                         "elevation": float(row["elevation"]) if row["elevation"] else None},
        }
    return out


def check(result: dict[str, Any], gateway: Gateway, rows: list[dict[str, str]]) -> None:
    connect = result["connect"]
    assert connect["events_xaddr"] == gateway.base + "/onvif/event_service"
    assert {DEVICE_NS, EVENTS_NS} <= set(connect["services"])
    expected = expected_events(rows)
    got = {e["token"]: e for e in result["events"]}
    assert len(result["events"]) == len(got) == len(expected)
    assert got == expected
    # The fixture's rows near CENTRE hold each case: elevation, several scopes, Offline true/false/absent.
    assert {e["offline"] for e in got.values()} == {"true", "false", None}
    assert max(len(e["scopes"]) for e in got.values()) == 3
    assert any(e["location"]["elevation"] is not None for e in got.values())


def test_onvif_python_reads_every_item(gateway: Gateway, city_rows: list[dict[str, str]]) -> None:
    result = run_client([sys.executable, str(HERE / "onvif_python_client.py")], gateway)
    assert result["connect"]["year"] >= 2024
    check(result, gateway, city_rows)


def zeep_async_python() -> Path:
    """onvif-zeep-async's interpreter: its own virtualenv, since its top-level ``onvif`` would overwrite onvif-python's."""
    if not ZEEP_ASYNC_PYTHON.exists():
        venv = ZEEP_ASYNC_PYTHON.parents[1]
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(ZEEP_ASYNC_PYTHON), "-m", "pip", "install", "-q", "-r", str(HERE / "zeep_async" /
                        "requirements.txt")], check=True, timeout=600)
    return ZEEP_ASYNC_PYTHON


def node_with_onvif() -> str:
    """``node``, with the package-lock's onvif installed; without Node, a skip (a failure under CI)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = "Node is not installed: `apt-get install -y nodejs npm` (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    if not NODE_MODULES.exists():
        subprocess.run([npm, "ci", "--prefix", str(HERE / "node")], check=True, timeout=600, capture_output=True)
    return node


def test_onvif_zeep_async_reads_every_item(gateway: Gateway, city_rows: list[dict[str, str]]) -> None:
    result = run_client([str(zeep_async_python()), str(HERE / "zeep_async_client.py")], gateway)
    assert result["connect"]["year"] >= 2024
    check(result, gateway, city_rows)


def test_node_onvif_reads_every_item(gateway: Gateway, city_rows: list[dict[str, str]]) -> None:
    node = node_with_onvif()
    check(run_client([node, str(HERE / "node" / "resource_events.js")], gateway), gateway, city_rows)
