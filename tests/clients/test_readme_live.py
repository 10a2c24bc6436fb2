"""The README's "Trying it without a camera" walkthrough, run as written: camera, leaf, city, district, then the viewer.

The commands are read from README.rst's literal blocks of that section, so text and test cannot drift apart.
Each line runs in ``bash`` as a user would paste it, in a scratch directory (the catalog files and the
certificate land there; ``PYTHONPATH`` names the checkout, which ``python -m tests.fakes.camera`` needs);
``&`` lines stay running until their serving line appears.  Two liberties, both so the test can run beside
others: every port the README names is mapped to a free one, and the camera gets ``--control`` so the test
can read what it was asked.  What the README says is then checked: the city's Resource Query finds both
profiles, ``vmsgw media uris`` gives exactly the URIs the next lines use, ffprobe counts ≥ 90 % of the frames
over TCP and over HTTP tunnelling, curl fetches a JPEG, and the camera received the move with its own token.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.camera.rtsp import require_media_tools

pytestmark = pytest.mark.interop
ROOT = Path(__file__).parents[2]
README = (ROOT / "README.rst").read_text(encoding="utf-8")
HEADING = "Trying it without a camera\n~~~~"
STARTUP_TIMEOUT = 60.0
SYNC_TIMEOUT = 120.0  # the uplink's first connection, then a sync at each level
MIN_FRAMES = int(0.9 * 25 * 4)  # ffprobe reads [0, 4 s] of a 25 fps source
PROFILES = ("gate8:Profile_1", "gate8:Profile_2")


def section() -> str:
    """The walkthrough's text: from its heading to the next heading."""
    start = README.index(HEADING)
    end = re.search(r"\n[^\n]+\n(?:=+|-+|~+)\n", README[start + len(HEADING):])
    return README[start:start + len(HEADING) + end.start()] if end else README[start:]


def blocks() -> list[list[str]]:
    """Each literal block of the section as its command lines (continuations joined)."""
    found = []
    for block in re.findall(r"::\n\n((?:    .*\n|\n)+)", section()):
        text = block.replace("\\\n", " ")
        found.append([" ".join(line.split()) for line in text.splitlines() if line.strip()])
    return found


APT, SETUP, VIEW = blocks()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORTS = {port: str(free_port()) for port in sorted(set(re.findall(r"(?:127\.0\.0\.1|localhost):(\d+)",
                                                                  "\n".join(SETUP + VIEW))))}


def local(line: str) -> str:
    """``line`` with this run's ports."""
    return re.sub(r"(?<=127\.0\.0\.1:|localhost:)(\d+)\b", lambda m: PORTS[m[1]], line)


@dataclass
class Walk:
    cwd: Path
    env: dict[str, str]
    servers: list[subprocess.Popen[str]] = field(default_factory=list)
    camera: subprocess.Popen[str] | None = None

    def run(self, line: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", local(line)], cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)

    def start(self, line: str) -> None:
        """A server line (``... &``): started, and awaited until it prints where it serves."""
        command = local(line.removesuffix("&").strip())
        is_camera = "tests.fakes.camera" in command
        if is_camera:
            command += " --control"
        proc = subprocess.Popen(["bash", "-c", "exec " + command], cwd=self.cwd, env=self.env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.servers.append(proc)
        if is_camera:
            self.camera = proc
        assert proc.stdout is not None
        seen: list[str] = []
        timer = threading.Timer(STARTUP_TIMEOUT, proc.kill)  # a silent hang ends the process, so readline returns
        timer.start()
        try:
            for out in proc.stdout:
                seen.append(out)
                if out.startswith(("vmsgw: serving on ", "camera: serving on ")):
                    break
            else:
                pytest.fail(f"{command} did not start:\n{''.join(seen)}")
        finally:
            timer.cancel()
        if not is_camera:  # nothing reads a gateway's output from here on, and a full pipe would block it
            threading.Thread(target=proc.stdout.read, daemon=True).start()

    def ask_camera(self, verb: str) -> str:
        assert self.camera is not None and self.camera.stdin is not None and self.camera.stdout is not None
        self.camera.stdin.write(verb + "\n")
        self.camera.stdin.flush()
        while True:
            line = self.camera.stdout.readline()
            assert line, "the camera ended"
            if line.startswith("camera: ok") or line.startswith("camera: error"):
                assert line.startswith("camera: ok"), line
                return line.removeprefix("camera: ok").strip()

    def stop(self) -> None:
        for proc in reversed(self.servers):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.servers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    require_media_tools()
    env = {k: v for k, v in os.environ.items() if k not in ("VMSGW_PASSWORD", "PYTHONPATH")}
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # this vmsgw, this python
    w = Walk(tmp_path_factory.mktemp("readme-live"), env)
    try:
        for line in SETUP:
            if line.endswith("&"):
                w.start(line)
            else:
                done = w.run(line)
                assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        yield w
    finally:
        w.stop()


def view(word: str) -> list[str]:
    """The viewer's lines whose command contains ``word``."""
    return [line for line in VIEW if word in line]


def test_the_walkthrough_installs_what_ci_installs() -> None:
    ci = re.search(r"MEDIA_PACKAGES=\(([^)]*)\)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert ci is not None
    [apt] = APT
    assert apt.startswith("sudo apt-get install ") and sorted(apt.split()[3:]) == sorted(ci[1].split())


def test_the_walkthrough_runs_the_camera_through_three_levels_and_an_uplink() -> None:
    text = "\n".join(SETUP)
    assert "--device" in text and "--uplink-token-stdin" in text and "uplink set" in text
    assert sum(line.startswith("vmsgw serve ") for line in SETUP) == 3
    assert sum(line.endswith("&") for line in SETUP) == 4


def test_the_readme_walkthrough_as_written(walk: Walk) -> None:
    [export] = [line for line in VIEW if line.startswith("export ")]
    name, _, value = export.removeprefix("export ").partition("=")
    walk.env[name] = value

    [query] = view("vmsgw query")
    deadline = time.monotonic() + SYNC_TIMEOUT
    while True:
        found = walk.run(query)
        if found.returncode == 0 and all(re.search(rf"^{re.escape(t)}\s+MediaProfile\s", found.stdout, re.M)
                                         for t in PROFILES):
            break
        assert time.monotonic() < deadline, f"the city never found the camera's profiles:\n{found.stdout}"
        time.sleep(1)

    [uris] = view("vmsgw media uris")
    listed = walk.run(uris)
    assert listed.returncode == 0, listed.stderr
    printed = set(re.findall(r"\S+://\S+", listed.stdout))  # RTSP over TCP, RTSP over HTTP, snapshot
    used = set()
    for line in VIEW[VIEW.index(uris) + 1:]:
        for url in re.findall(r"(?:rtsp|http)://\S+/(?:live|snapshot)/\S+", local(line)):
            url = re.sub(r"//[^@/]*@", "//", url)
            used.add(url.replace("rtsp://", "http://") if "-rtsp_transport http" in line else url)
    assert printed == used, (printed, used)

    probes = view("ffprobe")
    assert [("-rtsp_transport tcp" in p, "-rtsp_transport http" in p) for p in probes] == [(True, False),
                                                                                           (False, True)]
    for line in probes:
        played = walk.run(line, timeout=60)
        assert played.returncode == 0, played.stderr
        assert int(played.stdout.strip()) >= MIN_FRAMES, (line, played.stdout)

    [curl] = view("curl ")
    fetched = walk.run(curl)
    assert fetched.returncode == 0, fetched.stderr
    output = shlex.split(curl)[shlex.split(curl).index("-o") + 1]
    assert (walk.cwd / output).read_bytes()[:3] == b"\xff\xd8\xff"

    walk.ask_camera("clear")
    [move] = [line for line in view("vmsgw ptz") if " move " in line]
    moved = walk.run(move)
    assert (moved.returncode, moved.stdout.strip()) == (0, "gate8:Profile_1: move sent"), moved.stderr
    calls = [c for c in json.loads(walk.ask_camera("calls")) if c["operation"] == "ContinuousMove"]
    assert len(calls) == 1 and calls[0]["params"]["ProfileToken"] == "Profile_1", calls
    [status] = [line for line in view("vmsgw ptz") if line.endswith(" status")]
    read = walk.run(status)
    assert read.returncode == 0 and read.stdout.split()[:3] == ["pan", "tilt", "zoom"], read.stderr
