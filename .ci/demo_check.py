"""Run an installed gateway's demo for real, as a new user would: ``vmsgw demo``, the README's query, Ctrl-C.

Called by .ci/wheel.sh with the interpreter of a fresh virtualenv holding the wheel, from an empty
folder, as ``python demo_check.py README.rst``.  Uses the standard library only.  Checks that

* the installed package is the one imported (not a source tree on the path);
* ``vmsgw demo --listen 127.0.0.1:0`` prints its "serving on URL" line;
* the endpoint serves its WSDL (the package's own documents) addressed to that URL;
* the README's worked ``vmsgw query`` command, run against that URL with ``--json``, prints a
  non-empty list of resources of the topic it asked for, all within the radius it asked for;
* SIGINT stops the demo cleanly (exit status 0, "vmsgw: stopped", no traceback).

Prints one line of timings; exits non-zero with the evidence when a check fails.
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
import sysconfig
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT = 180.0
QUERY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
EARTH_RADIUS_M = 6_371_008.8


def fail(message: str, output: str = "") -> None:
    sys.exit(f"demo check FAILED: {message}" + (f"\n--- output ---\n{output}" if output else ""))


def readme_query(readme: Path) -> list[str]:
    """The arguments of the README's worked query (the ``VMSGW_PASSWORD=... vmsgw query`` example)."""
    text = readme.read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.search(r"^\s*VMSGW_PASSWORD=\.\.\. vmsgw query (.+)$", text, re.M)
    if found is None:
        fail(f"{readme} has no 'VMSGW_PASSWORD=... vmsgw query' example")
    return shlex.split(found[1])


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def main() -> None:
    readme = Path(sys.argv[1])
    bin_dir = Path(sysconfig.get_path("scripts"))
    vmsgw = str(bin_dir / "vmsgw")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VMSGW_PASSWORD")}

    located = subprocess.run([sys.executable, "-c", "import gateway; print(gateway.__file__)"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
    if not Path(located).is_relative_to(sysconfig.get_path("purelib")):
        fail(f"gateway is imported from {located}, not from the virtualenv's site-packages")

    started = time.monotonic()
    demo = subprocess.Popen([vmsgw, "demo", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    assert demo.stdout is not None
    timer = threading.Timer(STARTUP_TIMEOUT, demo.kill)
    timer.start()
    lines: list[str] = []
    try:
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("vmsgw: serving on "):
                break
    finally:
        timer.cancel()
    output = "".join(lines)
    url = re.search(r"^vmsgw: serving on (\S+)$", output, re.M)
    password = re.search(r"^  password: (\S+)$", output, re.M)
    if url is None or password is None:
        demo.kill()
        fail("the demo did not print its password and 'serving on URL'", output + demo.communicate()[0])
    serving = time.monotonic()

    try:
        try:
            with urllib.request.urlopen(url[1] + "?wsdl", timeout=30) as response:
                wsdl = response.read().decode()
        except urllib.error.URLError as err:
            fail(f"GET {url[1]}?wsdl: {err}")
        if f'location="{url[1]}"' not in wsdl:
            fail(f"{url[1]}?wsdl is not addressed to {url[1]}", wsdl)

        args = readme_query(readme)
        args[args.index("--url") + 1] = url[1]
        query = subprocess.run([vmsgw, "query", *args, "--json"], env={**env, "VMSGW_PASSWORD": password[1]},
                               capture_output=True, text=True, timeout=QUERY_TIMEOUT)
        if query.returncode != 0:
            fail(f"vmsgw query {shlex.join(args)} exited {query.returncode}", query.stdout + query.stderr)
        resources = json.loads(query.stdout)
        lat, lon = map(float, option(args, "--near").split(","))
        radius, topic = float(option(args, "--radius")), option(args, "--topic")
        if not resources:
            fail(f"vmsgw query {shlex.join(args)} found nothing", query.stdout)
        for resource in resources:
            if resource["kind"] != topic or distance_m(lat, lon, resource["lat"], resource["lon"]) > radius + 0.5:
                fail(f"vmsgw query {shlex.join(args)} printed a resource outside its filter: {resource}")
        queried = time.monotonic()
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
        try:
            rest = demo.communicate(timeout=STOP_TIMEOUT)[0]
        except subprocess.TimeoutExpired:
            demo.kill()
            rest = demo.communicate()[0]
            fail(f"the demo did not stop within {STOP_TIMEOUT:.0f} s of SIGINT", output + rest)
    stopped = time.monotonic()
    if demo.returncode != 0 or "vmsgw: stopped" not in rest or "Traceback" in output + rest:
        fail(f"the demo did not stop cleanly on SIGINT (exit status {demo.returncode})", output + rest)
    print(f"demo check passed: {len(resources)} resources within {radius:g} m; startup {serving - started:.1f} s, "
          f"WSDL + query {queried - serving:.1f} s, stop {stopped - queried:.1f} s")


if __name__ == "__main__":
    main()
