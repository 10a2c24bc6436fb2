"""The fake camera's run-time failure modes, as a gateway meets them: hang, slow, garbage, faults, cut replies."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.fakes.camera.fixture import Camera, CameraFailed, start_camera

ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP = {"Content-Type": "application/soap+xml; charset=utf-8"}
TIME = (f'<s:Envelope xmlns:s="{ENV}"><s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
        '</s:Body></s:Envelope>').encode()
INFO = TIME.replace(b"GetSystemDateAndTime", b"GetServices")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    with start_camera(Path(tmp_path_factory.mktemp("modes"))) as camera:
        yield camera


@pytest.fixture()
def cam(shared: Camera) -> Iterator[Camera]:
    """The module's camera, back to normal after each test."""
    yield shared
    shared.normal()


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Camera]:
    """A camera of the test's own, for tests that stop it."""
    with start_camera(tmp_path) as camera:
        yield camera


def ask(camera: Camera, body: bytes = TIME, timeout: float = 10.0) -> httpx.Response:
    return httpx.post(camera.url, content=body, headers=SOAP, timeout=timeout)


def test_hang_never_answers_until_released(cam: Camera) -> None:
    cam.hang()
    with pytest.raises(httpx.ReadTimeout):
        ask(cam, timeout=1.0)
    assert cam.calls()[-1]["status"] is None  # received, never answered
    cam.normal()
    assert ask(cam).status_code == 200


def test_a_mode_can_be_limited_to_operations(cam: Camera) -> None:
    cam.hang("GetServices")
    assert ask(cam, TIME).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        ask(cam, INFO, timeout=1.0)
    cam.normal()


def test_slow_answers_late(cam: Camera) -> None:
    cam.slow(1.0)
    started = time.monotonic()
    assert ask(cam).status_code == 200
    assert time.monotonic() - started >= 1.0


def test_garbage_is_no_xml(cam: Camera) -> None:
    cam.garbage()
    reply = ask(cam)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/soap+xml")
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(reply.content)


def test_fault_answers_every_call_with_a_receiver_fault(cam: Camera) -> None:
    cam.fault()
    reply = ask(cam)
    fault = etree.fromstring(reply.content).find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
    assert reply.status_code == 500 and fault is not None
    assert [v.text for v in fault.iter(f"{{{ENV}}}Value")] == ["env:Receiver", "ter:Action"]
    assert cam.calls()[-1]["status"] == "fault"


@pytest.mark.parametrize("mode", ["close", "truncate"])
def test_cut_replies(cam: Camera, mode: str) -> None:
    cam.mode(mode)
    with pytest.raises(httpx.RemoteProtocolError):
        ask(cam)


def test_http_error_is_a_web_server_page(cam: Camera) -> None:
    with cam.misbehaving("http-error"):
        reply = ask(cam)
        assert reply.status_code == 503 and reply.headers["Content-Type"] == "text/html"
    assert ask(cam).status_code == 200


def test_a_hung_camera_still_stops_at_once(own: Camera) -> None:
    cam = own
    cam.hang()
    failures: list[BaseException] = []

    def hung() -> None:
        try:
            ask(cam, timeout=30.0)
        except httpx.HTTPError as exc:
            failures.append(exc)

    caller = threading.Thread(target=hung)
    caller.start()
    time.sleep(0.3)
    started = time.monotonic()
    cam.stop()
    caller.join(10)
    assert time.monotonic() - started < 5 and failures and not caller.is_alive()


def test_the_camera_comes_back_on_its_port(own: Camera) -> None:
    cam = own
    url = cam.url
    cam.stop()
    with pytest.raises(httpx.ConnectError):
        ask(cam, timeout=2.0)
    cam.start()
    assert cam.url == url and ask(cam).status_code == 200


@pytest.mark.parametrize("line", ["mode sleepy", "mode slow", "mode slow -1", "profiles 0", "frobnicate",
                                  "close-streams"])
def test_bad_control_commands_are_refused(cam: Camera, line: str) -> None:
    with pytest.raises(CameraFailed):
        cam.command(line)
    assert ask(cam).status_code == 200


def test_one_hung_operation_does_not_stall_the_others(cam: Camera) -> None:
    cam.hang("GetServices")
    timeouts: list[httpx.ReadTimeout] = []

    def wait() -> None:
        try:
            ask(cam, INFO, 2.0)
        except httpx.ReadTimeout as exc:
            timeouts.append(exc)

    hung = [threading.Thread(target=wait) for _ in range(4)]
    for thread in hung:
        thread.start()
    started = time.monotonic()
    with httpx.Client(timeout=5) as client:
        for _ in range(20):
            assert client.post(cam.url, content=TIME, headers=SOAP).status_code == 200
    assert time.monotonic() - started < 2.0
    for thread in hung:
        thread.join(5)
    assert len(timeouts) == 4 and len(cam.calls("GetServices")) >= 4
