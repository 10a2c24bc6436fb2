"""The camera's web server: SOAP 1.2 over HTTP/1.1 (keep-alive) for its services, and the snapshot JPEGs.

Threaded stdlib HTTP: a hung or slow request holds only its own thread. Each request is checked as devices check
them: size, well-formedness, SOAP 1.2, a known operation of that service, then credentials (HTTP Digest and/or
WS-UsernameToken per ``--auth``; GetServices, GetCapabilities, GetSystemDateAndTime and GetServiceCapabilities
need none), then the access class (PTZ moves need more than a User-level account).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lxml import etree

from tests.fakes.camera import device, events, media1, media2, media_options, ptz
from tests.fakes.camera.context import PATHS, SNAPSHOT_PATH, Context, Handler
from tests.fakes.camera.faults import Fault, envelope, not_authorized
from tests.fakes.camera.model import Device
from tests.fakes.camera.modes import Mode, Switch
from tests.fakes.camera.ns import ENV, TDS, TEV, TPTZ, TR2, TRT, WSA, WSNT, el
from tests.fakes.camera.record import Record, parameters
from tests.fakes.camera.security import Account, Authenticator, Verdict

log = logging.getLogger("fake-camera")
MAX_BODY = 1 << 20
GARBAGE = b"\x00\x9c<<not-xml garbage from a confused camera \xff\xfe" * 8
ERROR_PAGE = b"<html><body><h1>503 Service Unavailable</h1>webserver restarting</body></html>"


@dataclass(frozen=True)
class Service:
    name: str
    namespaces: frozenset[str]
    handlers: dict[str, Handler]
    pre_auth: frozenset[str]
    actuate: frozenset[str] = frozenset()


def services(dev: Device) -> dict[str, Service]:
    """path -> the service answering there, as the options configure the camera."""
    o = dev.options
    found = {PATHS["device"]: Service("device", frozenset({TDS}), device.HANDLERS, frozenset(device.PRE_AUTH))}
    if o.media1:
        found[PATHS["media"]] = Service("media", frozenset({TRT}), {**media1.HANDLERS, **media_options.MEDIA1},
                                          frozenset(media1.PRE_AUTH))
    if o.media2:
        found[PATHS["media2"]] = Service("media2", frozenset({TR2}), {**media2.HANDLERS, **media_options.MEDIA2},
                                           frozenset(media2.PRE_AUTH))
    if o.ptz:
        found[PATHS["ptz"]] = Service("ptz", frozenset({TPTZ}), ptz.HANDLERS, frozenset(ptz.PRE_AUTH),
                                      frozenset(ptz.ACTUATE))
    if o.events:
        found[PATHS["events"]] = Service("events", frozenset({TEV, WSNT}), events.HANDLERS,
                                         frozenset(events.PRE_AUTH))
    return found


class CameraServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, dev: Device, accounts: list[Account], rtsp_base: str,
                 snapshots: dict[tuple[int, int], Path]) -> None:
        self.device = dev
        self.auth = Authenticator(accounts, dev.utc_now)
        self.record = Record()
        self.switch = Switch()
        self.hub = events.Hub()
        self.stopping = threading.Event()
        self.snapshots = snapshots
        self.rtsp_base = rtsp_base
        self.services = services(dev)
        super().__init__((dev.options.host, dev.options.port), CameraHandler)

    @property
    def base(self) -> str:
        """http://HOST:PORT with the host the camera advertises in its XAddrs and URIs."""
        return self._base(self.device.options.public_host)

    @property
    def local_base(self) -> str:
        """http://HOST:PORT where it listens."""
        return self._base(self.device.options.host)

    def _base(self, host: str) -> str:
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.server_address[1]}"

    def context(self, path: str, account: Account | None) -> Context:
        return Context(self.device, self.base, self.rtsp_base, self.hub, path, account)

    def stop(self) -> None:
        self.stopping.set()
        self.switch.wake()
        self.shutdown()
        self.server_close()


class CameraHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Headers and body are two writes: with Nagle the body waits for the client's delayed ACK (40 ms a reply).
    disable_nagle_algorithm = True
    server: CameraServer
    server_version = "FakeCam-httpd/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, text in (headers or {}).items():
            self.send_header(name, text)
        self.end_headers()
        self.wfile.write(body)

    def _challenge(self, stale: bool = False) -> None:
        self._send(401, b"401 Unauthorized", "text/plain", {"WWW-Authenticate": self.server.auth.challenge(stale)})

    def _fault(self, fault: Fault) -> None:
        self._send(fault.status, envelope(fault.element()), "application/soap+xml; charset=utf-8")

    def _misbehave(self, mode: Mode, reply: bytes | None = None) -> bool:
        """Apply a failure mode other than slow; True when the request has been dealt with."""
        if mode.name == "hang":
            self.server.switch.hold(self.server.stopping)
            self.close_connection = True
        elif mode.name == "garbage":
            self._send(200, GARBAGE, "application/soap+xml; charset=utf-8")
        elif mode.name == "fault":
            self._fault(Fault("Receiver", ("Action",), "the device failed to carry out the action"))
        elif mode.name == "close":
            self.close_connection = True
        elif mode.name == "http-error":
            self._send(503, ERROR_PAGE, "text/html")
        elif mode.name == "truncate":
            body = reply if reply is not None else envelope(el(TDS, "GetDeviceInformationResponse"))
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            return False
        return True

    def _slow(self, mode: Mode) -> None:
        if mode.name == "slow":
            self.server.stopping.wait(mode.seconds)

    # ------------------------------------------------------------------ HTTP methods

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not path.startswith(SNAPSHOT_PATH + "/"):
            self._send(404 if path not in self.server.services else 405, b"", "text/plain")
            return
        mode = self.server.switch.mode
        if mode.applies("Snapshot"):
            self._slow(mode)
            if self._misbehave(mode):
                return
        if self.server.auth.accounts:
            header = self.headers.get("Authorization")
            verdict = self.server.auth.digest(header, "GET", self.path) if header else Verdict(None, None)
            if verdict.account is None:
                self._challenge(verdict.stale)
                return
        if not self.server.snapshots:
            self._send(503, b"no snapshot encoder on this camera", "text/plain")
            return
        name = path[len(SNAPSHOT_PATH) + 1:]
        index = name.removeprefix("profile").removesuffix(".jpg")
        profile = self.server.device.profile(f"Profile_{index}") if name.endswith(".jpg") else None
        jpeg = self.server.snapshots.get((profile.width, profile.height)) if profile else None
        if jpeg is None:
            self._send(404, b"no such snapshot", "text/plain")
            return
        self._send(200, jpeg.read_bytes(), "image/jpeg")

    def do_PUT(self) -> None:
        self._send(405, b"", "text/plain")

    do_DELETE = do_PUT

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        service = self.server.services.get(path)
        if service is None and path.startswith(events.PULL_POINT_PATH):
            service = self.server.services.get(PATHS["events"])
        length = self.headers.get("Content-Length")
        if service is None:
            self._send(404, b"", "text/plain")
            self._discard(length)
            return
        if length is None or not length.isdigit():
            self._send(411, b"", "text/plain")
            self.close_connection = True
            return
        if int(length) > MAX_BODY:
            self._send(413, b"", "text/plain")
            self.close_connection = True
            return
        raw = self.rfile.read(int(length))
        if "xml" not in self.headers.get("Content-Type", ""):
            self._send(415, b"", "text/plain")
            return
        self._soap(service, path, raw)

    def _discard(self, length: str | None) -> None:
        if length and length.isdigit() and int(length) <= MAX_BODY:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    # ------------------------------------------------------------------ SOAP

    def _soap(self, service: Service, path: str, raw: bytes) -> None:
        try:
            doc = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
        except etree.XMLSyntaxError:
            self._fault(Fault("Sender", ("WellFormed",), "Well-formed Error"))
            return
        if doc.getroottree().docinfo.doctype:
            self._fault(Fault("Sender", ("WellFormed",), "a DTD is not allowed"))
            return
        if doc.tag != f"{{{ENV}}}Envelope":
            self._fault(Fault("VersionMismatch", (), "SOAP 1.2 envelopes only"))
            return
        body = doc.find(f"{{{ENV}}}Body")
        ops = [c for c in body if isinstance(c.tag, str)] if body is not None else []
        if len(ops) != 1:
            self._fault(Fault("Sender", ("InvalidArgs",), "the body must hold one operation"))
            return
        op = ops[0]
        qname = etree.QName(op)
        call = self.server.record.add(service.name, qname.localname, parameters(op), path)
        mode = self.server.switch.mode
        if mode.applies(qname.localname):
            self._slow(mode)
            if self._misbehave(mode):
                self.server.record.update(call, status=mode.name)
                return
        handler = service.handlers.get(qname.localname) if qname.namespace in service.namespaces else None
        if handler is None:
            self.server.record.update(call, status=400)
            self._fault(Fault("Receiver", ("ActionNotSupported",), "Optional Action Not Implemented"))
            return
        account = None
        if qname.localname not in service.pre_auth and self.server.auth.accounts:  # no accounts: an open camera
            verdict = self._authenticate(doc)
            if verdict is None:
                self.server.record.update(call, status=401)
                return
            account = verdict.account
            assert account is not None
            self.server.record.update(call, user=account.name, auth=verdict.method)
            if qname.localname in service.actuate and account.level != "Administrator":
                self.server.record.update(call, status=400)
                self._fault(not_authorized())
                return
        try:
            reply = handler(self.server.context(path, account), op)
        except Fault as fault:
            self.server.record.update(call, status=fault.status, fault=list(fault.subcodes))
            self._fault(fault)
            return
        action = doc.findtext(f"{{{ENV}}}Header/{{{WSA}}}Action")
        message_id = doc.findtext(f"{{{ENV}}}Header/{{{WSA}}}MessageID")
        self.server.record.update(call, status=200)
        self._send(200, envelope(reply, action and action.strip() + "Response", message_id),
                   "application/soap+xml; charset=utf-8")

    def _authenticate(self, doc: etree._Element) -> Verdict | None:
        """Who sent the request, or None when it was refused (the 401 or the fault has been sent)."""
        method = self.server.device.options.auth
        header = self.headers.get("Authorization")
        if header and method in ("digest", "both"):
            verdict = self.server.auth.digest(header, "POST", self.path)
            if verdict.account is None:
                self._challenge(verdict.stale)
                return None
            if method == "both" and self.server.auth.username_token(doc).failed:
                self._fault(not_authorized())  # both layers sent: the WS layer must check out too
                return None
            return verdict
        if method in ("ws", "both"):
            verdict = self.server.auth.username_token(doc)
            if verdict.account is not None:
                return verdict
            if verdict.failed or method == "ws":
                self._fault(not_authorized())
                return None
        self._challenge()
        return None
