"""The relay with real parts: GStreamer's RTSP source behind it, ffprobe and rtspsrc in front, relays chained.

Each relay is a process (bench/steps/stream_relay.py) with a static resolver. Frame counts follow the
conformance probe: codec and size as the source's, at least 90 % of 25 fps × 4 s.
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from gateway.relay.rtsp import NEED_DATA, Frame, Parser, Response
from tests.fakes.camera.probe import ProbeFailed, count_frames
from tests.fakes.camera.rtsp import RtspSource, require_media_tools

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "alice", "p@ss:w/rd"
CAM_USER, CAM_PASSWORD = "cam", "cam-secret"
TOKEN = "12345678901234567890:Profile_1"
MIN_FRAMES = 90
LIMITS = {"reply_timeout": 2.0, "resolve_timeout": 2.0, "connect_timeout": 2.0, "stall_timeout": 3.0,
          "idle_timeout": 3.0}


@dataclass
class RelayProcess:
    proc: subprocess.Popen[str]
    rtsp: int
    http: int
    log: Path

    def url(self, token: str = TOKEN, *, user: str = USER, password: str = PASSWORD, http: bool = False) -> str:
        from urllib.parse import quote
        port = self.http if http else self.rtsp
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        return f"rtsp://{auth}127.0.0.1:{port}/live/{token}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start_relay(tmp: Path, config: dict[str, Any], name: str = "relay") -> RelayProcess:
    config = {"users": {USER: [PASSWORD, "User"]}, "limits": LIMITS, **config}
    log = tmp / f"{name}.log"
    err = log.open("a")
    proc = subprocess.Popen([sys.executable, "-m", "bench.steps.stream_relay", json.dumps(config)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("relay: rtsp "):
        proc.kill()
        raise RuntimeError(f"the relay did not start: {line!r}\n{log.read_text()}")
    _, _, rtsp, _, http_port = line.split()
    return RelayProcess(proc, int(rtsp), int(http_port), log)


class SilentServer:
    """A TCP server in a thread: ``hang`` accepts and never answers, ``garbage`` answers bytes that are no RTSP."""

    def __init__(self, mode: str) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.mode, self.held = mode, []  # type: ignore[var-annotated]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            if self.mode == "garbage":
                conn.recv(4096)
                conn.sendall(b"\x00\xffHELLO\r\n\r\n" * 10)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture(scope="module")
def source() -> Iterator[RtspSource]:
    require_media_tools()
    with RtspSource(profiles=2, user=CAM_USER, password=CAM_PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SilentServer]]:
    found = {mode: SilentServer(mode) for mode in ("hang", "garbage")}
    yield found
    for server in found.values():
        server.close()


@pytest.fixture(scope="module")
def relay(source: RtspSource, servers: dict[str, SilentServer], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[RelayProcess]:
    closed = socket.create_server(("127.0.0.1", 0))
    refused = closed.getsockname()[1]
    closed.close()
    cam = {"key": "leaf", "user": CAM_USER, "password": CAM_PASSWORD}
    streams = {
        TOKEN: {"url": source.mount(1), **cam},
        "dev:sub": {"url": source.mount(2), **cam},
        "dev:capped": {"url": source.mount(1), **cam, "key": "small", "cap": 1},
        "dev:nocreds": {"url": source.mount(1), "key": "leaf"},
        "dev:forbidden": {"url": source.mount(1), "forbidden": True},
        "dev:hang": {"url": f"rtsp://127.0.0.1:{servers['hang'].port}/x", "key": "hung"},
        "dev:garbage": {"url": f"rtsp://127.0.0.1:{servers['garbage'].port}/x", "key": "mad"},
        "dev:refused": {"url": f"rtsp://127.0.0.1:{refused}/x", "key": "gone"},
    }
    running = start_relay(tmp_path_factory.mktemp("relay"), {"streams": streams, "hang": ["dev:slow"]})
    yield running
    running.stop()


@pytest.mark.parametrize("transport", ["tcp", "http"])
def test_ffprobe_reads_every_frame_through_the_relay(relay: RelayProcess, transport: str) -> None:
    probe = count_frames(relay.url(http=transport == "http"), transport=transport)
    assert (probe.codec, probe.width, probe.height) == ("h264", 320, 240)
    assert probe.frames >= MIN_FRAMES, probe


def test_ffprobe_tunnels_over_http_to_the_rtsp_port_too(relay: RelayProcess) -> None:
    """ffmpeg's http transport on an rtsp:// URL tunnels to that URL's own port: the listener answers HTTP there."""
    probe = count_frames(relay.url(), transport="http")
    assert (probe.codec, probe.width, probe.height) == ("h264", 320, 240)
    assert probe.frames >= MIN_FRAMES, probe


@pytest.mark.parametrize(("data", "answer"), [
    (b"GET /live/a HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.0 404"),  # no cookie
    (b"POST /live/a HTTP/1.1\r\nx-sessioncookie: nobody\r\nContent-Length: 4\r\n\r\nAAAA", b"HTTP/1.0 404"),
    (b"GET /elsewhere HTTP/1.1\r\nx-sessioncookie: c\r\n\r\n", b"HTTP/1.0 404"),
    (b"GET /live/a HTTP/1.1\r\nX: " + b"y" * 20000, b"HTTP/1.0 431"),
])
def test_http_misuse_on_the_rtsp_port_is_refused(relay: RelayProcess, data: bytes, answer: bytes) -> None:
    with socket.create_connection(("127.0.0.1", relay.rtsp), timeout=10) as sock:
        sock.sendall(data)
        assert sock.recv(4096).startswith(answer)


def test_each_token_reaches_its_own_profile(relay: RelayProcess) -> None:
    probe = count_frames(relay.url("dev:sub"))
    assert (probe.width, probe.height) == (160, 120) and probe.frames >= MIN_FRAMES


@pytest.mark.parametrize("transport", ["tcp", "http"])
def test_relay_through_relay_through_relay(relay: RelayProcess, tmp_path: Path, transport: str) -> None:
    """A city's relay → a district's relay → the leaf's relay → the source, each authenticating at the next."""
    district = start_relay(tmp_path, {"streams": {TOKEN: {"url": relay.url(user=""), "key": "leaf-gw",
                                                          "user": USER, "password": PASSWORD}}}, "district")
    city = start_relay(tmp_path, {"streams": {TOKEN: {"url": district.url(user=""), "key": "district-gw",
                                                      "user": USER, "password": PASSWORD}}}, "city")
    try:
        probe = count_frames(city.url(http=transport == "http"), transport=transport)
        assert (probe.codec, probe.width, probe.height) == ("h264", 320, 240)
        assert probe.frames >= MIN_FRAMES, probe
    finally:
        assert city.stop() == 0
        assert district.stop() == 0


def test_in_a_chain_the_level_next_to_a_hanging_camera_answers_first(relay: RelayProcess, tmp_path: Path) -> None:
    """The city waits 2 s and tells the district so; the district waits 1.4 s for the leaf, which waits 0.9 s."""
    district = start_relay(tmp_path, {"streams": {TOKEN: {"url": relay.url("dev:hang", user=""), "key": "leaf-gw",
                                                          "user": USER, "password": PASSWORD}}}, "district")
    city = start_relay(tmp_path, {"streams": {TOKEN: {"url": district.url(user=""), "key": "district-gw",
                                                      "user": USER, "password": PASSWORD}}}, "city")
    client = RawClient(city.rtsp)
    try:
        client.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        started = time.monotonic()
        answer = client.request("DESCRIBE", f"rtsp://127.0.0.1:{city.rtsp}/live/{TOKEN}")
        assert answer.status == 504
        assert time.monotonic() - started < LIMITS["reply_timeout"] * 0.8, "the city's own timer answered"
    finally:
        client.close()
        city.stop()
        district.stop()
    assert "segment hung: no answer to DESCRIBE in time (504)" in relay.log.read_text()  # the leaf names the camera


@pytest.mark.parametrize("scheme", ["rtsp", "rtsph"])
def test_gstreamer_rtspsrc_plays_through_the_relay(relay: RelayProcess, scheme: str) -> None:
    port = relay.http if scheme == "rtsph" else relay.rtsp
    argv = ["gst-launch-1.0", "-q", "rtspsrc", f"location={scheme}://127.0.0.1:{port}/live/{TOKEN}", "protocols=tcp",
            f"user-id={USER}", f"user-pw={PASSWORD}", "!", "rtph264depay", "!", "h264parse", "!",
            "identity", "eos-after=50", "!", "fakesink"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("url_args", "transport", "status"), [
    ({"password": "wrong"}, "tcp", "401"),
    ({"user": ""}, "tcp", "401"),
    ({"user": "nobody"}, "tcp", "401"),
    ({"token": "dev:unknown"}, "tcp", "404"),
    ({"token": "dev:forbidden"}, "tcp", "403"),
    ({}, "udp", "461"),
    ({"token": "dev:hang"}, "tcp", "504"),
    ({"token": "dev:slow"}, "tcp", "504"),
    ({"token": "dev:garbage"}, "tcp", "502"),
    ({"token": "dev:refused"}, "tcp", "502"),
    ({"token": "dev:nocreds"}, "tcp", "502"),  # the camera wants Digest, the resolver gave no credentials
])
def test_failures_are_rtsp_statuses_at_once(relay: RelayProcess, url_args: dict[str, str], transport: str,
                                            status: str) -> None:
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match=status):
        count_frames(relay.url(**url_args), transport=transport, timeout=20)
    assert time.monotonic() - started < LIMITS["reply_timeout"] + 5


class RawClient:
    """An RTSP client on a plain socket, reading with the relay's own parser."""

    def __init__(self, port: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.parser, self.cseq, self.port = Parser(), 0, port
        self.auth: str | None = None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def event(self) -> Response | Frame | None:
        while (event := self.parser.next_event()) is NEED_DATA:
            data = self.sock.recv(65536)
            self.parser.receive_data(data)
        return event if isinstance(event, Response | Frame) else None

    def response(self) -> Response:
        while True:
            event = self.event()
            if event is None or isinstance(event, Response):
                assert event is not None, "the connection closed"
                return event

    def request(self, method: str, url: str, *headers: str) -> Response:
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", *headers]
        if self.auth:
            lines.append(f"Authorization: {self.auth}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self.response()

    def play(self, token: str = TOKEN) -> None:
        """Basic auth, DESCRIBE, SETUP of the first track, PLAY."""
        self.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        base = f"rtsp://127.0.0.1:{self.port}/live/{token}"
        for _ in range(20):  # GStreamer's server answers 503 while it winds a shared media down
            described = self.request("DESCRIBE", base, "Accept: application/sdp")
            if described.status != 503:
                break
            time.sleep(0.2)
        assert described.status == 200, described
        control = next(line.split(":", 1)[1] for line in described.body.decode().splitlines()
                       if line.startswith("a=control:") and "stream" in line)
        content_base = described.headers.get("Content-Base") or base + "/"
        track = control if control.startswith("rtsp://") else content_base.rstrip("/") + "/" + control
        setup = self.request("SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1")
        assert setup.status == 200, setup
        session = (setup.headers.get("Session") or "").split(";")[0]
        self.session = session
        played = self.request("PLAY", base + "/", f"Session: {session}")
        assert played.status == 200, played

    def close(self) -> None:
        self.sock.close()


def test_urls_the_client_sees_point_at_the_relay_and_cseq_session_are_kept(relay: RelayProcess) -> None:
    client = RawClient(relay.rtsp)
    try:
        client.play()
        base = f"rtsp://127.0.0.1:{relay.rtsp}/live/{TOKEN}"
        described = client.request("DESCRIBE", base, "Accept: application/sdp")
        assert described.headers.get("CSeq") == str(client.cseq)
        assert (described.headers.get("Content-Base") or "").startswith(base)
        assert b"rtsp://" not in described.body or base.encode() in described.body
        assert b"profile1" not in described.body and "profile1" not in str(list(described.headers))
        kept = client.request("GET_PARAMETER", base + "/", f"Session: {client.session}")
        assert kept.status == 200 and kept.headers.get("CSeq") == str(client.cseq)
        frames = 0
        while frames < 20:  # RTP on channel 0 (and RTCP on 1), interleaved as they came
            event = client.event()
            assert event is not None
            frames += isinstance(event, Frame) and event.channel in (0, 1)
        client.send(b"$\x01\x00\x08" + b"\x81\xc9\x00\x01" + b"\x00" * 4)  # a receiver report goes upstream
        teardown = client.request("TEARDOWN", base + "/", f"Session: {client.session}")
        assert teardown.status == 200
    finally:
        client.close()


def test_the_segment_cap_refuses_with_453(relay: RelayProcess) -> None:
    first = RawClient(relay.rtsp)
    try:
        first.play("dev:capped")
        with pytest.raises(ProbeFailed, match="453"):
            count_frames(relay.url("dev:capped"), timeout=20)
    finally:
        first.close()
    deadline = time.monotonic() + 5
    while True:  # the place is given back once the first session ends
        try:
            assert count_frames(relay.url("dev:capped")).frames >= MIN_FRAMES
            break
        except ProbeFailed:
            assert time.monotonic() < deadline
            time.sleep(0.2)


@pytest.mark.parametrize(("data", "status"), [  # framing errors close the connection; request errors do not
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(64) + b"\r\n\r\n", b"400"),
    (b"DESCRIBE rtsp://x/live/a RTSP/1.0\r\nCSeq: 1\r\nX: " + b"a" * 20000, b"400"),
    (b"DESCRIBE rtsp://x/live/a RTSP/1.0\r\n" + b"X: y\r\n" * 100 + b"\r\n", b"400"),
    (b"SET_PARAMETER rtsp://x/live/a RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 999999\r\n\r\n", b"413"),
    (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", b"505"),
    (b"DESCRIBE rtsp://x/live/a RTSP/1.0\r\n\r\n", b"400 Bad Request\r\n\r\n"),  # no CSeq: a request error
    (b"DESCRIBE rtsp://x/elsewhere RTSP/1.0\r\nCSeq: 1\r\n\r\n", b"401 Unauthorized\r\n"),  # authentication first
])
def test_hostile_input_is_answered_and_closed(relay: RelayProcess, data: bytes, status: bytes) -> None:
    with socket.create_connection(("127.0.0.1", relay.rtsp), timeout=10) as sock:
        sock.sendall(data)
        answer = sock.recv(4096)
        assert answer.startswith(b"RTSP/1.0 " + status), answer
        if len(status) == 3:
            rest = b""
            while chunk := sock.recv(4096):
                rest += chunk
            assert rest == b""


@pytest.mark.parametrize("opening", [b"", b"DESCRIBE rtsp://x/live/a RTSP/1.0\r\nCSeq: 1\r\n",
                                     b"GET /live/a HTTP/1.0\r\nx-sessioncookie: slow\r\n"])
def test_a_client_that_trickles_or_says_nothing_is_closed(relay: RelayProcess, opening: bytes) -> None:
    """Silence, or a head that never ends sent a byte at a time: closed once the opening deadline passes."""
    with socket.create_connection(("127.0.0.1", relay.rtsp), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(opening)
        try:
            while time.monotonic() - started < 10:
                sock.sendall(b"X")
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert time.monotonic() - started < LIMITS["idle_timeout"] + 2


def test_a_stream_that_the_camera_closes_ends_for_the_client(relay: RelayProcess, source: RtspSource) -> None:
    client = RawClient(relay.rtsp)
    try:
        client.play("dev:sub")
        assert isinstance(client.event(), Frame)
        source.close_streams()
        deadline = time.monotonic() + 8
        while client.event() is not None:
            assert time.monotonic() < deadline, "the relay kept the client after the camera closed"
    finally:
        client.close()
    assert count_frames(relay.url("dev:sub")).frames >= MIN_FRAMES  # and serves the next client


def test_a_client_that_never_reads_neither_grows_the_relay_nor_stalls_others(relay: RelayProcess) -> None:
    stalled = [RawClient(relay.rtsp, rcvbuf=4096) for _ in range(3)]
    try:
        for client in stalled:
            client.play()
        process = psutil.Process(relay.proc.pid)
        before = process.memory_info().rss
        probe = count_frames(relay.url())  # 4 s of another client's stream, meanwhile
        assert probe.frames >= MIN_FRAMES, probe
        grown = process.memory_info().rss - before
        assert grown < 8 * 1024 * 1024, f"the relay grew by {grown} octets"
    finally:
        for client in stalled:
            client.close()


def test_a_hanging_resolver_or_camera_never_hangs_a_raw_client(relay: RelayProcess) -> None:
    client = RawClient(relay.rtsp)
    try:
        client.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        started = time.monotonic()
        answer = client.request("DESCRIBE", f"rtsp://127.0.0.1:{relay.rtsp}/live/dev:hang")
        assert answer.status == 504 and answer.headers.get("CSeq") == "1"
        assert time.monotonic() - started < LIMITS["reply_timeout"] + 2
    finally:
        client.close()


def test_shutdown_ends_streams_and_exits(source: RtspSource, tmp_path: Path) -> None:
    running = start_relay(tmp_path, {"streams": {TOKEN: {"url": source.mount(1), "key": "leaf", "user": CAM_USER,
                                                         "password": CAM_PASSWORD}}})
    client = RawClient(running.rtsp)
    try:
        client.play()
        assert isinstance(client.event(), Frame)
        started = time.monotonic()
        assert running.stop() == 0
        assert time.monotonic() - started < 5
        while client.event() is not None:
            pass  # frames already sent, then the end
    finally:
        client.close()


# -- snapshots ---------------------------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(50_000) + b"\xff\xd9"


class _DigestCamera(http.server.BaseHTTPRequestHandler):
    """A device's snapshot URL behind HTTP Digest (RFC 2617 without qop, as many cameras)."""

    def log_message(self, *_: object) -> None:
        pass

    def do_GET(self) -> None:
        header = self.headers.get("Authorization", "")
        params = dict(part.strip().split("=", 1) for part in header[7:].split(",")) if header.startswith("Digest ") \
            else {}
        params = {key: value.strip('"') for key, value in params.items()}
        ha1 = hashlib.md5(f"{CAM_USER}:cam:{CAM_PASSWORD}".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:{self.path}".encode()).hexdigest()
        if params.get("response") != hashlib.md5(f"{ha1}:n0nce:{ha2}".encode()).hexdigest():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Digest realm="cam", nonce="n0nce"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/hang":
            time.sleep(30)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(JPEG)))
        self.end_headers()
        self.wfile.write(JPEG)


@pytest.fixture(scope="module")
def snapshot_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    camera = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DigestCamera)
    camera.daemon_threads = True
    threading.Thread(target=camera.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{camera.server_address[1]}"
    snapshots = {TOKEN: {"url": base + "/snap.jpg", "user": CAM_USER, "password": CAM_PASSWORD},
                 "dev:wrong": {"url": base + "/snap.jpg", "user": CAM_USER, "password": "nope"},
                 "dev:hang": {"url": base + "/hang", "user": CAM_USER, "password": CAM_PASSWORD}}
    running = start_relay(tmp_path_factory.mktemp("snap"), {"snapshots": snapshots})
    yield running
    running.stop()
    camera.shutdown()


def snapshot_url(relay: RelayProcess, token: str = TOKEN) -> str:
    return f"http://127.0.0.1:{relay.http}/snapshot/{token}"


@pytest.mark.parametrize("auth", [httpx.DigestAuth(USER, PASSWORD), httpx.BasicAuth(USER, PASSWORD)],
                         ids=["digest", "basic"])
def test_the_snapshot_proxy_gives_the_devices_jpeg(snapshot_relay: RelayProcess, auth: httpx.Auth) -> None:
    reply = httpx.get(snapshot_url(snapshot_relay), auth=auth, timeout=10)
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"
    assert reply.content == JPEG


def test_the_snapshot_proxy_challenges_and_maps_failures(snapshot_relay: RelayProcess) -> None:
    bare = httpx.get(snapshot_url(snapshot_relay), timeout=10)
    assert bare.status_code == 401
    schemes = [value.split()[0] for value in bare.headers.get_list("www-authenticate")]
    assert schemes == ["Digest", "Basic"]
    assert httpx.get(snapshot_url(snapshot_relay), auth=httpx.DigestAuth(USER, "wrong"), timeout=10).status_code == 401
    auth = httpx.DigestAuth(USER, PASSWORD)
    assert httpx.get(snapshot_url(snapshot_relay, "dev:unknown"), auth=auth, timeout=10).status_code == 404
    assert httpx.get(snapshot_url(snapshot_relay, "dev:wrong"), auth=auth, timeout=10).status_code == 502
    started = time.monotonic()
    assert httpx.get(snapshot_url(snapshot_relay, "dev:hang"), auth=auth, timeout=20).status_code == 504
    assert time.monotonic() - started < LIMITS["reply_timeout"] + 3
    assert httpx.post(snapshot_url(snapshot_relay), auth=auth, timeout=10).status_code == 405
    assert httpx.get(f"http://127.0.0.1:{snapshot_relay.http}/other", timeout=10).status_code == 404


def test_tunnel_misuse_is_refused(snapshot_relay: RelayProcess) -> None:
    url = f"http://127.0.0.1:{snapshot_relay.http}/live/{TOKEN}"
    assert httpx.post(url, headers={"x-sessioncookie": "nobody"}, content=b"AAAA", timeout=10).status_code == 404
    assert httpx.put(url, headers={"x-sessioncookie": "x"}, content=b"", timeout=10).status_code == 405
    assert httpx.get(url, timeout=10).status_code == 404  # no cookie: no tunnel


class TunnelClient:
    """RTSP over HTTP by hand: an HTTP/1.0 GET for the answers, one POST per request (several per session)."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port, self.cookie = port, cookie
        self.get = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.get.sendall(f"GET /live/{TOKEN} HTTP/1.0\r\nx-sessioncookie: {cookie}\r\n"
                         "Accept: application/x-rtsp-tunnelled\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.get.recv(1)
        assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0], head
        assert b"application/x-rtsp-tunnelled" in head.lower() and b"content-length" not in head.lower()
        self.parser = Parser()

    def post(self, body: bytes, *, pieces: int = 1, encode: bool = True) -> socket.socket:
        """One POST carrying ``body`` in base64, sent in ``pieces`` writes split inside base64 groups."""
        text = base64.b64encode(body) if encode else body
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall(f"POST /live/{TOKEN} HTTP/1.0\r\nx-sessioncookie: {self.cookie}\r\n"
                     "Content-Type: application/x-rtsp-tunnelled\r\nContent-Length: 32767\r\n\r\n".encode())
        step = max(1, len(text) // pieces + 1)
        for start in range(0, len(text), step):
            sock.sendall(text[start:start + step])
            time.sleep(0.01)
        return sock

    def event(self) -> Response | Frame | None:
        while (event := self.parser.next_event()) is NEED_DATA:
            self.parser.receive_data(self.get.recv(65536))
        return event if isinstance(event, Response | Frame) else None

    def response(self) -> Response:
        while not isinstance(event := self.event(), Response):
            assert event is not None, "the tunnel closed"
        return event


@pytest.mark.parametrize("port_of", ["rtsp", "http"])
def test_a_tunnel_takes_several_posts_split_anywhere(relay: RelayProcess, port_of: str) -> None:
    port = relay.rtsp if port_of == "rtsp" else relay.http
    tunnel = TunnelClient(port, f"cookie-{port_of}")
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    base = f"rtsp://127.0.0.1:{port}/live/{TOKEN}"
    posts = []
    try:
        posts.append(tunnel.post(f"DESCRIBE {base} RTSP/1.0\r\nCSeq: 1\r\nAuthorization: {auth}\r\n\r\n".encode(),
                                 pieces=5))
        described = tunnel.response()
        for _ in range(20):  # GStreamer's server answers 503 while it winds a shared media down
            if described.status != 503:
                break
            time.sleep(0.2)
            posts.append(tunnel.post(f"DESCRIBE {base} RTSP/1.0\r\nCSeq: 1\r\nAuthorization: {auth}\r\n\r\n".encode()))
            described = tunnel.response()
        assert described.status == 200 and (described.headers.get("Content-Base") or "").startswith(base)
        posts.append(tunnel.post(f"SETUP {base}/stream=0 RTSP/1.0\r\nCSeq: 2\r\nAuthorization: {auth}\r\n"
                                 "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n".encode(), pieces=3))
        setup = tunnel.response()
        assert setup.status == 200 and setup.headers.get("CSeq") == "2"
        session = (setup.headers.get("Session") or "").split(";")[0]
        posts.append(tunnel.post(f"PLAY {base}/ RTSP/1.0\r\nCSeq: 3\r\nAuthorization: {auth}\r\nSession: {session}"
                                 "\r\n\r\n".encode()))
        assert tunnel.response().status == 200
        frames = 0
        while frames < 25:
            frames += isinstance(tunnel.event(), Frame)
        posts.append(tunnel.post(b"!!not base64!!", encode=False))  # garbage ends the session, and the GET
        deadline = time.monotonic() + 5
        while tunnel.event() is not None:
            assert time.monotonic() < deadline
    finally:
        for sock in [tunnel.get, *posts]:
            sock.close()
