"""ONVIF devices as segments, through real processes: a gateway, the fake camera, the CLI (issue 10, deliverable 1).

The camera (tests/fakes/camera) is added with ``vmsgw segment add --device``
and the gateway is asked with Resource Query, as a user would; convergence is
waited for with a deadline, never a fixed sleep.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.camera.fixture import Camera, start_camera
from tests.interop.conftest import PASSWORD, USER, Gateway, run_cli, seeded
from tests.interop.onvif_client import Client, Event, topic_expression
from tests.interop.test_federation import free_port

pytestmark = pytest.mark.interop

CAM_USER, CAM_PASSWORD = "admin", "cam-Pa55"
HEARTBEAT = "1"
#: Heartbeat + the device call's grace + one supervisor interval + a pull: when a dead camera must show.
OFFLINE_DEADLINE = 1 + 5 + 2 + 4
ANNEX_A = "34020000001320000001"


def add_device(gw: Gateway, name: str, cam: Camera, *extra: str, password: str = CAM_PASSWORD) -> None:
    run_cli("segment", "add", name, "--device", "--url", cam.url, "--user", CAM_USER, "--heartbeat", HEARTBEAT,
            *extra, db=gw.db, input=password + "\n")


def status(gw: Gateway) -> dict[str, dict]:  # type: ignore[type-arg]
    return {s["name"]: s for s in json.loads(run_cli("segment", "status", "--json", db=gw.db).stdout)}


class View:
    """What a client holds after applying every event of one Resource Query subscription."""

    def __init__(self, gw: Gateway) -> None:
        self.client = Client(gw.url, USER, PASSWORD)
        self.address = self.client.subscribe(topic_expression(), termination="PT10M")
        self.state: dict[str, Event] = {}

    def wait(self, done: Callable[[dict[str, Event]], bool], deadline: float, what: str) -> float:
        started = time.monotonic()
        while not done(self.state):
            if time.monotonic() - started > deadline:
                raise AssertionError(f"not within {deadline} s: {what}; have {sorted(self.state)}")
            for e in self.client.pull(self.address, "PT1S"):
                if e.operation == "Deleted":
                    self.state.pop(e.token, None)
                else:
                    self.state[e.token] = e
        return time.monotonic() - started


@pytest.fixture
def gateway(backend: str, tmp_path: Path) -> Iterator[Gateway]:
    (tmp_path / "gw").mkdir()
    gw = seeded(backend, tmp_path / "gw", [])
    yield gw
    gw.stop()


def wait_state(gw: Gateway, name: str, want: Callable[[dict], bool], deadline: float = 30) -> dict:  # type: ignore[type-arg]
    started = time.monotonic()
    while True:
        st = status(gw)[name]
        if want(st):
            return st
        assert time.monotonic() - started < deadline, st
        time.sleep(0.3)


@pytest.mark.parametrize("auth", ["ws", "digest"])
def test_a_camera_added_by_the_cli_is_served_kept_current_and_followed_through_failure(
        gateway: Gateway, tmp_path: Path, auth: str) -> None:
    cam = start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, auth=auth, profiles=2, ptz=True,
                       serial=ANNEX_A, scopes=("onvif://www.onvif.org/location/city/Nanjing",), port=free_port())
    try:
        add_device(gateway, "gate8", cam, "--location", "32.0603,118.7969,12.5")
        gateway.start()
        view = View(gateway)
        view.wait(lambda s: len(s) >= 4, 30, "the camera's profiles, video source and PTZ node")
        assert {t.split(":", 1)[0] for t in view.state} == {ANNEX_A}
        kinds = {e.kind for e in view.state.values()}
        assert {"MediaProfile", "VideoSource", "PTZNode"} <= kinds
        profiles = {t for t, e in view.state.items() if e.kind == "MediaProfile"}
        assert len(profiles) == 2
        for e in view.state.values():
            assert e.location == (32.0603, 118.7969) and e.offline == "false"
            assert "onvif://www.onvif.org/location/city/Nanjing" in e.scopes
        assert all(view.state[t].name for t in profiles)
        st = status(gateway)["gate8"]
        assert st["kind"] == "device" and st["state"] == "up"
        assert {c["auth"] for c in cam.calls("GetProfiles") if c["status"] == 200} == {auth}  # as the camera asks
        assert st["prefixes"] == [{"remote_prefix": ANNEX_A, "local_prefix": ANNEX_A}]

        # A profile removed on the camera disappears from the gateway.
        cam.set_profiles(1)
        view.wait(lambda s: len([t for t, e in s.items() if e.kind == "MediaProfile"]) == 1, 15, "one profile")
        before = set(view.state)

        # Stopped: Offline within the deadline; restarted on its port: back online with the same tokens.
        stopped = time.monotonic()
        cam.stop()
        view.wait(lambda s: all(e.offline == "true" for e in s.values()), OFFLINE_DEADLINE, "offline")
        print(f"camera offline at the gateway {time.monotonic() - stopped:.1f} s after it was told to stop")
        assert wait_state(gateway, "gate8", lambda s: s["state"] == "down")["last_error"]
        cam.options["profiles"] = 1  # as it was reconfigured
        cam.start()  # on the same port
        view.wait(lambda s: all(e.offline == "false" for e in s.values()), 40, "back online")
        assert set(view.state) == before
    finally:
        cam.stop()


def test_without_an_id_or_location_the_prefix_is_derived_and_the_location_is_the_devices(
        gateway: Gateway, tmp_path: Path) -> None:
    cam = start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, profiles=1, location=(48.8584, 2.2945, 35.0),
                       media2=False)
    other = start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, profiles=1, serial="OTHER-1")
    try:
        add_device(gateway, "eiffel", cam)
        add_device(gateway, "named", other, "--prefix", "porch")
        gateway.start()
        view = View(gateway)
        view.wait(lambda s: len(s) >= 4, 30, "both cameras")
        prefixes = {t.split(":", 1)[0] for t in view.state}
        assert "porch" in prefixes and len(prefixes) == 2
        (derived,) = prefixes - {"porch"}
        assert derived.startswith("onvif-")
        eiffel = [e for t, e in view.state.items() if t.startswith(derived)]
        assert eiffel and all(e.location == (48.8584, 2.2945) for e in eiffel)  # from GetGeoLocation
        assert all(e.location is None for t, e in view.state.items() if t.startswith("porch:"))
        assert {c["service"] for c in cam.calls("GetProfiles")} == {"media"}, cam.calls("GetProfiles")
    finally:
        cam.stop()
        other.stop()


def test_a_camera_whose_clock_is_hours_off_still_takes_our_usernametoken(gateway: Gateway, tmp_path: Path) -> None:
    cam = start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, auth="ws", profiles=1,
                       clock_offset=-3 * 3600.0)
    try:
        add_device(gateway, "late", cam)
        gateway.start()
        st = wait_state(gateway, "late", lambda s: s["state"] == "up" and s["resources"] == 2)
        assert st["last_error"] is None
        assert not [c for c in cam.calls("GetProfiles") if c["status"] != 200]
    finally:
        cam.stop()


def test_a_configuration_event_is_read_before_the_next_heartbeat(gateway: Gateway, tmp_path: Path) -> None:
    cam = start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, profiles=3)
    quiet = start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, profiles=3, events=False, serial="QUIET-1")
    try:
        add_device(gateway, "evented", cam, "--heartbeat", "60", "--prefix", "evented")
        add_device(gateway, "polled", quiet, "--prefix", "polled")  # no event service: the heartbeat's polls
        gateway.start()
        view = View(gateway)
        view.wait(lambda s: len([t for t in s if t.startswith("evented:")]) == 4, 30, "the evented camera")
        view.wait(lambda s: len([t for t in s if t.startswith("polled:")]) == 4, 30, "the polled camera")
        time.sleep(1.5)  # the evented sync is waiting on its PullMessages now
        cam.set_profiles(1)
        quiet.set_profiles(1)
        took = view.wait(lambda s: "evented:Profile_2" not in s and "evented:Profile_3" not in s, 10, "the event")
        view.wait(lambda s: "polled:Profile_2" not in s, 10, "the next poll")
        assert took < 10 and "evented:Profile_1" in view.state
        assert cam.calls("CreatePullPointSubscription") and not quiet.calls("CreatePullPointSubscription")
    finally:
        cam.stop()
        quiet.stop()


def test_hostile_cameras_are_marked_down_and_the_gateway_keeps_answering(gateway: Gateway, tmp_path: Path) -> None:
    modes = ("hang", "garbage", "truncate", "http-error")
    good, *bad = (start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, profiles=1, serial=f"S-{name}")
                  for name in ("good", *modes))
    locked = start_camera(tmp_path, user=CAM_USER, password=CAM_PASSWORD, profiles=1, auth="digest")
    cams = (good, *bad, locked)
    try:
        add_device(gateway, "good", good)
        for mode, cam in zip(modes, bad, strict=True):
            cam.mode(mode)
            add_device(gateway, mode, cam)
        add_device(gateway, "locked", locked, password="wrong")
        gateway.start()
        wait_state(gateway, "good", lambda s: s["state"] == "up" and s["resources"] >= 2)
        for name in (*modes, "locked"):
            st = wait_state(gateway, name, lambda s: s["state"] == "down")
            assert st["resources"] == 0 and st["last_error"], st
        errors = {n: status(gateway)[n]["last_error"] for n in (*modes, "locked")}
        assert "no answer" in errors["hang"] and "SOAP" in errors["garbage"] and "refused" in errors["locked"], errors
        assert "HTTP 503" in errors["http-error"], errors
        client = Client(gateway.url, USER, PASSWORD)
        started = time.monotonic()
        got = client.drain(client.subscribe(topic_expression()))
        assert time.monotonic() - started < 2.0
        assert {e.token.split(":", 1)[0] for e in got} == {status(gateway)["good"]["prefixes"][0]["local_prefix"]}
    finally:
        for cam in cams:
            cam.stop()
