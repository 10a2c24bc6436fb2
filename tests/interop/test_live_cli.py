"""``vmsgw media uris`` and ``vmsgw ptz`` against a real gateway whose device segment is a camera behind NAT.

The fake camera listens on 127.0.0.1 but advertises 127.0.0.2 (where nothing listens) in its XAddrs and in
its stream and snapshot URIs, as a camera behind port forwarding reports its internal address.  The gateway
must still read it, relay its stream and fetch its snapshot (docs/wire-format.md §12.3); the CLI then gives
a new user the URIs and PTZ control with the gateway's remote tokens, and one clear line for every mistake.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.kit.process import ROOT
from tests.fakes.camera.fixture import Camera, start_camera
from tests.fakes.camera.probe import count_frames
from tests.fakes.camera.rtsp import require_media_tools
from tests.interop.media_kit import (
    OPERATOR,
    OPERATOR_PASSWORD,
    TR2,
    Level,
    call,
    free_port,
    profiles_found,
    start_level,
)

pytestmark = pytest.mark.interop

CAM_USER, CAM_PASSWORD = "admin", "camera secret"
WRONG_HOST = "127.0.0.2"  # what the camera says it is: loopback, but nothing of the camera's listens there
MIN_FRAMES = int(0.9 * 25 * 4)
SYNC_TIMEOUT = 60.0
#: What the commands make the gateway ask of the camera (its sync reads profiles and nodes on its own).
ASKED = {"ContinuousMove", "Stop", "GetStatus", "GetPresets", "GotoPreset", "GetStreamUri", "GetSnapshotUri"}


@dataclass
class Site:
    camera: Camera
    leaf: Level

    def token(self, n: int) -> str:
        found = [t for t in profiles_found(self.leaf) if t.endswith(f":Profile_{n}")]
        assert found, profiles_found(self.leaf)
        return found[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_media_tools()
    tmp = tmp_path_factory.mktemp("live-cli")
    camera = start_camera(tmp, user=CAM_USER, password=CAM_PASSWORD, ptz=True, ptz_profiles=1, rtsp="gst",
                          advertise=WRONG_HOST)
    leaf: Level | None = None
    try:
        leaf = start_level("leaf", tmp, ["cam", "--device", "--url", camera.url, "--user", CAM_USER], CAM_PASSWORD)
        deadline = time.monotonic() + SYNC_TIMEOUT
        while len(profiles_found(leaf)) < 2:
            assert time.monotonic() < deadline, f"the gateway never read the camera behind NAT:\n{leaf.gateway.log}"
            time.sleep(0.5)
        yield Site(camera, leaf)
    finally:
        if leaf is not None:
            leaf.gateway.stop()
        camera.stop()


@pytest.fixture
def camera(site: Site) -> Iterator[Camera]:
    site.camera.normal()
    site.camera.clear_calls()
    yield site.camera
    site.camera.normal()


def cli(site: Site, *args: str, password: str | None = OPERATOR_PASSWORD, url: str | None = None,
        user: str = OPERATOR) -> subprocess.CompletedProcess[str]:
    """``vmsgw COMMAND --url (the leaf) --user operator ARGS``, the password in $VMSGW_PASSWORD."""
    command, rest = (args[:2], args[2:]) if args[0] == "media" else (args[:1], args[1:])
    env = {k: v for k, v in os.environ.items() if k != "VMSGW_PASSWORD"}
    if password is not None:
        env["VMSGW_PASSWORD"] = password
    argv = [sys.executable, "-m", "gateway", *command, "--url", url or site.leaf.gateway.url, "--user", user, *rest]
    return subprocess.run(argv, input="", text=True, capture_output=True, env=env, cwd=ROOT, timeout=120,
                          check=False)


def one_line_error(done: subprocess.CompletedProcess[str], command: str, *fragments: str) -> str:
    """The command failed with one line on stderr holding every fragment, and no traceback."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, (done.returncode, done.stderr)
    assert lines[0].startswith(f"vmsgw {command}: "), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_the_camera_reports_a_host_we_cannot_reach(site: Site) -> None:
    """The premise: what the camera answers about itself leads nowhere."""
    answer = call(site.camera.base, "<tr2:GetStreamUri><tr2:Protocol>RtspUnicast</tr2:Protocol>"
                  "<tr2:ProfileToken>Profile_1</tr2:ProfileToken></tr2:GetStreamUri>", user=CAM_USER,
                  password=CAM_PASSWORD)
    assert f"rtsp://{WRONG_HOST}:" in (answer.body.findtext(f"{{{TR2}}}Uri") or "")
    with pytest.raises(httpx.ConnectError):
        httpx.get(site.camera.base.replace("127.0.0.1", WRONG_HOST), timeout=5)


def test_media_uris_of_a_camera_behind_nat_play_and_give_a_jpeg(site: Site) -> None:
    tokens = [site.token(1), site.token(2)]
    done = cli(site, "media", "uris", *tokens, "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [u["token"] for u in found] == tokens and all(u["service"] == "media2" for u in found)
    login = f"{OPERATOR}:{OPERATOR_PASSWORD.replace(' ', '%20')}@"
    for uris in found:
        assert uris["errors"] == [] and WRONG_HOST not in json.dumps(uris), uris
        assert uris["stream"].startswith(f"rtsp://127.0.0.1:{site.leaf.rtsp_port}/"), uris
        assert uris["http"].startswith(site.leaf.base + "/"), uris  # the web-service port, as Media2 wants
    first = found[0]
    assert count_frames(first["stream"].replace("rtsp://", f"rtsp://{login}", 1)).frames >= MIN_FRAMES
    over_http = count_frames(first["http"].replace("http://", f"rtsp://{login}", 1), transport="http")
    assert over_http.frames >= MIN_FRAMES
    reply = httpx.get(first["snapshot"], auth=httpx.DigestAuth(OPERATOR, OPERATOR_PASSWORD), timeout=30)
    assert (reply.status_code, reply.content[:3]) == (200, b"\xff\xd8\xff")


def test_media_uris_prints_a_table_for_people(site: Site) -> None:
    done = cli(site, "media", "uris", site.token(1))
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.strip().splitlines()
    assert header.split()[:3] == ["token", "service", "rtsp"]
    assert row.split()[0] == site.token(1) and row.count("://") == 3


def test_ptz_move_stop_and_status_reach_the_camera_with_its_own_token(site: Site, camera: Camera) -> None:
    token = site.token(1)
    done = cli(site, "ptz", token, "move", "--pan", "0.5", "--tilt", "-0.25", "--timeout", "2")
    assert (done.returncode, done.stdout.strip()) == (0, f"{token}: move sent"), done.stderr
    [move] = camera.calls("ContinuousMove")
    assert move["tokens"] == {"ProfileToken": "Profile_1"}
    assert (move["params"]["Velocity/PanTilt@x"], move["params"]["Velocity/PanTilt@y"]) == ("0.5", "-0.25")
    assert move["params"]["Timeout"] == "PT2S"
    assert cli(site, "ptz", token, "stop").returncode == 0
    assert [c["tokens"] for c in camera.calls("Stop")] == [{"ProfileToken": "Profile_1"}]
    status = cli(site, "ptz", token, "status", "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["pan_tilt_status"] == "IDLE" and isinstance(state["pan"], float), state
    zoom = cli(site, "ptz", token, "move", "--zoom", "-1")
    assert zoom.returncode == 0, zoom.stderr
    assert float(camera.calls("ContinuousMove")[-1]["params"]["Velocity/Zoom@x"]) == -1
    assert "Velocity/PanTilt@x" not in camera.calls("ContinuousMove")[-1]["params"]  # an axis not given stays


def test_ptz_presets_and_goto(site: Site, camera: Camera) -> None:
    token = site.token(1)
    made = site.leaf.call(f"<tptz:SetPreset><tptz:ProfileToken>{token}</tptz:ProfileToken>"
                          "<tptz:PresetName>door</tptz:PresetName></tptz:SetPreset>")
    assert not made.fault, made
    listed = cli(site, "ptz", token, "presets", "--json")
    assert listed.returncode == 0, listed.stderr
    presets = json.loads(listed.stdout)
    assert "door" in [p["name"] for p in presets], presets
    assert sorted(p["token"] for p in presets) == sorted(camera.ptz_state()["presets"])
    goto = cli(site, "ptz", token, "goto", presets[0]["token"])
    assert goto.returncode == 0, goto.stderr
    [sent] = camera.calls("GotoPreset")
    assert sent["tokens"]["ProfileToken"] == "Profile_1" and sent["tokens"]["PresetToken"] == presets[0]["token"]
    table = cli(site, "ptz", token, "presets")
    assert table.stdout.splitlines()[0].split() == ["preset", "name", "pan", "tilt", "zoom"]


def test_a_segments_fault_is_one_line_naming_the_segment_and_its_subcode(site: Site) -> None:
    done = cli(site, "ptz", site.token(2), "status")  # the camera's second profile has no PTZ
    one_line_error(done, "ptz", "segment cam", "ter:NoPTZProfile")
    assert done.returncode == 1


def test_an_unknown_token_is_one_line_with_the_gateways_subcode(site: Site) -> None:
    for args in (("ptz", "nobody:Profile_1", "stop"), ("media", "uris", "nobody:Profile_1")):
        done = cli(site, *args)
        line = one_line_error(done, " ".join(args[:2]) if args[0] == "media" else "ptz", "ter:")
        assert "nobody:Profile_1" in line
        assert done.stdout.count("://") == 0


def test_the_camera_hanging_is_a_fault_in_bounded_time(site: Site, camera: Camera) -> None:
    camera.hang("ContinuousMove")
    started = time.monotonic()
    done = cli(site, "ptz", site.token(1), "move", "--pan", "0.1")
    one_line_error(done, "ptz", "segment cam", "env:Receiver")
    assert time.monotonic() - started < 20


def test_an_unreachable_gateway_or_a_refused_login_is_one_line(site: Site) -> None:
    url = f"http://127.0.0.1:{free_port()}/onvif/device_service"
    one_line_error(cli(site, "ptz", site.token(1), "status", url=url), "ptz", "cannot connect", url)
    one_line_error(cli(site, "media", "uris", site.token(1), password="wrong"), "media uris", "ter:NotAuthorized")
    one_line_error(cli(site, "media", "uris", site.token(1), password=None), "media uris", "VMSGW_PASSWORD")


@pytest.mark.parametrize("args", [
    ("ptz", "T", "move"),  # no axis
    ("ptz", "T", "move", "--pan", "2"),
    ("ptz", "T", "move", "--pan", "nan"),
    ("ptz", "T", "move", "--tilt", "1e999"),
    ("ptz", "T", "move", "--pan", "0.1", "--timeout", "0"),
    ("ptz", "T", "move", "--pan", "0.1", "--timeout", "86400"),
    ("ptz", "T", "jump"),
    ("ptz", "T", "goto"),
    ("ptz", "bad token", "stop"),
    ("ptz", "x" * 129, "stop"),
    ("ptz", "T\x1b[2J", "stop"),
    ("media", "uris"),
    ("media", "uris", ""),
])
def test_bad_arguments_are_refused_before_anything_is_sent(site: Site, camera: Camera, args: tuple[str, ...]) -> None:
    done = cli(site, *args)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert [c for c in camera.calls() if c["operation"] in ASKED] == []  # the sync's own reads go on


def test_a_url_that_is_not_http_is_refused(site: Site) -> None:
    done = cli(site, "ptz", "T", "stop", url="ftp://127.0.0.1/onvif/device_service")
    assert done.returncode == 2 and "http://" in done.stderr


def readme_commands() -> list[str]:
    """The ``vmsgw media uris`` and ``vmsgw ptz`` examples of README.rst, comments removed."""
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    text = text.split("Trying it without a camera\n~~~~")[0]  # the walkthrough's run by test_readme_live.py
    found = [line.split("#", 1)[0].strip() for line in text.splitlines()
             if line.startswith(("    vmsgw media uris", "    vmsgw ptz"))]
    assert len(found) >= 6, found
    return found


def test_the_readmes_live_commands_run_as_written(site: Site, camera: Camera) -> None:
    token = site.token(1)
    made = site.leaf.call(f"<tptz:SetPreset><tptz:ProfileToken>{token}</tptz:ProfileToken>"
                          "<tptz:PresetName>readme</tptz:PresetName></tptz:SetPreset>")
    preset = made.body.findtext("{http://www.onvif.org/ver20/ptz/wsdl}PresetToken")
    assert preset, made
    login = f"--url {site.leaf.gateway.url} --user {OPERATOR}"
    for line in readme_commands():
        line = re.sub(r"--url \S+ --user \S+", login, line).replace(" ... ", f" {login} ")
        line = line.replace("TOKEN [TOKEN ...]", f"{token} {site.token(2)}").replace("PRESET", preset)
        args = shlex.split(line.replace("TOKEN", token))[1:]
        assert "--url" in args and "USER" not in args, args
        env = {**os.environ, "VMSGW_PASSWORD": OPERATOR_PASSWORD}
        done = subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=120, check=False)
        assert done.returncode == 0, (line, done.stderr)
    assert {c["operation"] for c in camera.calls()} >= {"ContinuousMove", "Stop", "GotoPreset", "GetStatus"}


def test_the_readmes_fault_example_is_what_a_fault_looks_like(site: Site) -> None:
    text = " ".join((ROOT / "README.rst").read_text(encoding="utf-8").split())
    example = re.search(r"``(vmsgw ptz: segment \w+: \.\.\. \([^)]*\))``", text)
    assert example, "README.rst lost its fault example"
    pattern = re.escape(example.group(1)).replace("gate8", "cam").replace(r"\.\.\.", ".+")
    line = one_line_error(cli(site, "ptz", site.token(2), "status"), "ptz")
    assert re.fullmatch(pattern, line), (pattern, line)


@pytest.mark.parametrize(("mode", "expected"), [
    ("garbage", "answered something that is not XML"),
    ("http-error", "answered an error that is not a SOAP fault"),
    ("close", "closed the connection without answering"),
    ("fault", "(env:Receiver"),
])
def test_a_server_that_misbehaves_is_one_line_too(site: Site, camera: Camera, mode: str, expected: str) -> None:
    """The commands speak to any ONVIF server: here the camera itself, answering badly."""
    camera.mode(mode, operations=["GetStatus", "GetStreamUri"])
    for args, command in ((("ptz", "Profile_1", "status"), "ptz"), (("media", "uris", "Profile_1"), "media uris")):
        done = cli(site, *args, url=site.camera.url, user=CAM_USER, password=CAM_PASSWORD)
        one_line_error(done, command, expected)
        assert done.returncode == 1


def test_media_ver10_is_used_where_a_server_has_no_media2(site: Site, tmp_path: Path) -> None:
    """A camera without Media2, asked directly: the URIs come from Media ver10, printed as the server gave them."""
    with start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, media2=False, advertise=WRONG_HOST) as old:
        done = cli(site, "media", "uris", "Profile_1", "--json", url=old.url, user=CAM_USER, password=CAM_PASSWORD)
        assert done.returncode == 0, done.stderr
        [uris] = json.loads(done.stdout)
        assert uris["service"] == "media" and uris["errors"] == [], uris
        assert uris["stream"].startswith(f"rtsp://{WRONG_HOST}:") and uris["snapshot"].startswith("http://"), uris
        assert [c["operation"] for c in old.calls(service="media2")] == []
        assert {c["operation"] for c in old.calls(service="media")} == {"GetStreamUri", "GetSnapshotUri"}
