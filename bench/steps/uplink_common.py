"""bench/uplink.py's settings, TLS material and requests."""
from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

from bench.kit.soap import CONCRETE_SET
from bench.kit.soap import envelope as soap_envelope

DEFAULT_RESOURCES = 10_000
DEFAULT_CONCURRENCY = (1, 10, 50)
DEFAULT_SECONDS = 8.0
DEFAULT_ROUNDS = 3
DEFAULT_UPLINKS = (100, 1000)
DEFAULT_HOLD = 45.0
#: The idle segments' PullMessages Timeout: the most a segment may have (catalog MAX_HEARTBEAT), so a parked
#: pull answers no sooner than that and, during the hold, PINGs alone keep the links alive.
DEFAULT_HEARTBEAT = 300.0
PAGE = 100
#: Acceptance (the issue): one gateway process holds 1,000 uplinks; through one uplink >= half the direct rate.
UPLINKS_WANTED = 1000
RATIO_MIN = 0.5
KEEPALIVE_RULE = 30.0  # docs/wire-format.md §9.4: no packet for 30 s -> the device closes and reconnects
START_TIMEOUT = 120.0
CONNECT_BATCH = 50
SETTLE = 10.0
CREATE_ACTION = "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest"
PULL_ACTION = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest"
TIME_ACTION = "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"
DEVICE_PATH = "/onvif/device_service"
EVENT_PATH = "/onvif/event_service"
CONTENT_TYPE = b"application/soap+xml; charset=utf-8"
#: One notification message in a PullMessagesResponse, counted in the raw bytes.
_MESSAGE_END = re.compile(rb"</[A-Za-z0-9_]*:?NotificationMessage>")


@dataclass
class Pki:
    ca_pem: Path  # the CA both sides trust
    server_pem: Path  # certificate chain + key for localhost / 127.0.0.1

    @classmethod
    def make(cls, folder: Path) -> Pki:
        ca = trustme.CA()  # ECDSA keys
        pki = cls(ca_pem=folder / "ca.pem", server_pem=folder / "server.pem")
        ca.cert_pem.write_to_path(str(pki.ca_pem))
        ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pki.server_pem))
        return pki

    def client_context(self, alpn: list[str]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_pem))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(alpn)
        return ctx


def envelope(action: str, to: str, body: str, credentials: tuple[str, str] | None) -> bytes:
    """A device- or events-service request (the kit's SOAP envelope with the device prefix declared)."""
    return soap_envelope(to, action, body, credentials, prefixes=("s", "wsa", "tds", "tev", "wsnt"))


PULL_BODY = (f"<tev:PullMessages><tev:Timeout>PT0S</tev:Timeout><tev:MessageLimit>{PAGE}</tev:MessageLimit>"
             "</tev:PullMessages>")
CREATE_BODY = ("<tev:CreatePullPointSubscription><tev:Filter>"
               f'<wsnt:TopicExpression Dialect="{CONCRETE_SET}" xmlns:tns1="http://www.onvif.org/ver10/topics">'
               "tns1:Resource//.</wsnt:TopicExpression></tev:Filter>"
               "<tev:InitialTerminationTime>PT2H</tev:InitialTerminationTime></tev:CreatePullPointSubscription>")
TIME_BODY = "<tds:GetSystemDateAndTime/>"


def messages_in(document: bytes) -> int:
    return len(_MESSAGE_END.findall(document))


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) (\S+): (.*)$")
_EXCEPTION = re.compile(r"^[\s|+-]*((?:\w+\.)*\w+(?:Error|Exception|Group))(?::|$)")


def error_summary(text: str) -> str:
    """The ERROR records of a server log, grouped by message, each with the exception types of its traceback."""
    groups: dict[str, tuple[int, set[str]]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        head = _LOG_LINE.match(line)
        if head:
            current = None
            if head.group(1) == "ERROR":
                key = f"{head.group(2)}: {head.group(3)[:120]}"
                count, kinds = groups.get(key, (0, set()))
                groups[key] = (count + 1, kinds)
                current = kinds
        elif current is not None and (kind := _EXCEPTION.match(line)):
            current.add(kind.group(1))
    if not groups:
        return "no ERROR lines"
    return "; ".join(f"{count} × ERROR `{key}`" + (f" ({', '.join(sorted(kinds))})" if kinds else "")
                     for key, (count, kinds) in sorted(groups.items(), key=lambda kv: -kv[1][0]))
