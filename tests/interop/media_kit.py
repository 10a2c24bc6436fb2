"""Raw SOAP calls to the gateway's Media, Media2 and PTZ services, every answer checked against the schemas.

Requests are written out as XML text, so a test says exactly what goes on the wire; the reply envelope is
validated (tests/conformance) before the test sees its body.
"""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx
from lxml import etree

from bench.kit.process import vmsgw
from tests.conformance.schemas import SOAP_ENV, assert_valid_envelope
from tests.hostile.test_gateway_hostile import security
from tests.interop.conftest import PASSWORD, USER, Gateway, new_db_url, run_cli

TRT = "http://www.onvif.org/ver10/media/wsdl"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
NS = (f'xmlns:s="{SOAP_ENV}" xmlns:trt="{TRT}" xmlns:tr2="{TR2}" xmlns:tptz="{TPTZ}" xmlns:tt="{TT}"')
OPERATOR, OPERATOR_PASSWORD = "olga", "operator password"
PATHS = {"trt": "/onvif/media_service", "tr2": "/onvif/media2_service", "tptz": "/onvif/ptz_service"}


class Answer:
    """One reply: HTTP status, body element (validated), and for a fault its subcodes' local names and reason."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.body = assert_valid_envelope(response.content)
        self.subcodes: list[str] = []
        self.reason = ""
        if self.body.tag == f"{{{SOAP_ENV}}}Fault":
            self.subcodes = [(v.text or "").split(":")[-1] for v in self.body.iter(f"{{{SOAP_ENV}}}Value")]
            self.reason = self.body.findtext(f".//{{{SOAP_ENV}}}Text") or ""

    @property
    def fault(self) -> bool:
        return bool(self.subcodes)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {etree.tostring(self.body)[:600]!r})"


def call(base: str, body: str, *, user: str | None = USER, password: str = PASSWORD,
         headers: dict[str, str] | None = None, timeout: float = 30.0) -> Answer:
    """POST ``body`` (e.g. ``<tr2:GetProfiles/>``) to the service its prefix names; anonymous without ``user``."""
    prefix = body.lstrip("<").split(":", 1)[0]
    header = security(user, password) if user is not None else ""
    data = f"<s:Envelope {NS}><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>".encode()
    response = httpx.post(base + PATHS[prefix], content=data, timeout=timeout,
                          headers={"Content-Type": "application/soap+xml; charset=utf-8", **(headers or {})})
    return Answer(response)


def tokens(el: etree._Element) -> list[str]:
    """Every ``token`` attribute and ``…Token`` element text below ``el``, document order."""
    found = []
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        if node.get("token"):
            found.append(node.get("token"))
        if etree.QName(node).localname.endswith("Token") and len(node) == 0 and (node.text or "").strip():
            found.append(node.text.strip())
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Level:
    name: str
    gateway: Gateway
    rtsp_port: int

    @property
    def base(self) -> str:
        return self.gateway.base

    def call(self, body: str, **kwargs: object) -> Answer:
        return call(self.base, body, user=OPERATOR, password=OPERATOR_PASSWORD, **kwargs)  # type: ignore[arg-type]


def start_level(name: str, tmp: Path, segment: list[str], password: str, *extra: str) -> Level:
    work = tmp / name
    work.mkdir()
    db = new_db_url("sqlite", work)
    run_cli("user", "add", OPERATOR, "--level", "operator", db=db, input=OPERATOR_PASSWORD + "\n")
    run_cli("segment", "add", *segment, db=db, input=password + "\n")
    port = free_port()
    gw = Gateway(db=db, log=work / "server.log").start("--rtsp-listen", f"127.0.0.1:{port}", *extra)
    return Level(name, gw, port)


def profiles_found(level: Level) -> list[str]:
    """The MediaProfile tokens a Resource Query at ``level`` finds."""
    done = vmsgw(["query", "--url", level.gateway.url, "--user", OPERATOR, "--password-stdin", "--topic",
                  "MediaProfile", "--json"], stdin=OPERATOR_PASSWORD + "\n", check=False)
    if done.returncode != 0 or not done.stdout.strip().startswith("["):
        return []
    return sorted(r["token"] for r in json.loads(done.stdout) if not r.get("offline"))
