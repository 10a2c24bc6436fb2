"""A Resource Query client for any compliant server, on zeep and the official ONVIF WSDLs.

The flow (docs/wire-format.md §3.1, §6.2, §6.4, §6.7): ``GetServices`` on the device
service finds the event service (``GetCapabilities`` for servers without
it); ``CreatePullPointSubscription`` carries the filter; ``PullMessages`` is
repeated on the subscription's own address until a pull comes back empty at
its timeout, which is how a client knows the enumeration is over (the spec
has no end marker); ``Unsubscribe`` releases the pull point.

zeep builds and sends every request (WS-UsernameToken digest, WS-Addressing),
but messages are read from the raw reply envelope, which :class:`KeepReply`
keeps: zeep loses the topic text of ``wsnt:Topic`` (docs/pitfalls.md §2).
The WSDLs are the unmodified files of the installed ``onvif`` package, so the
client works offline.  Errors leave this module as :class:`QueryError`, one
line each.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import onvif
import requests
from lxml import etree
from zeep import Client, Plugin, Settings
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError
from zeep.transports import Transport
from zeep.wsa import WsAddressingPlugin
from zeep.wsse.username import UsernameToken

from gateway.onvif.ns import NSMAP, TDS, TEV
from gateway.onvif.resource_event.read import NOTIFICATION, Notification, parse_notifications
from gateway.query.filters import filter_elements
from gateway.query.model import ResourceQuery
from gateway.soap.ns import WSA

log = logging.getLogger("gateway.cli.query")

WSDL_DIR = Path(onvif.__file__).parent / "wsdl"
DEVICE_WSDL = WSDL_DIR / "ver10" / "device" / "wsdl" / "devicemgmt.wsdl"
EVENT_WSDL = WSDL_DIR / "ver10" / "events" / "wsdl" / "event.wsdl"
DEVICE_BINDING = f"{{{TDS}}}DeviceBinding"
EVENT_BINDING = f"{{{TEV}}}EventBinding"
PULL_POINT_BINDING = f"{{{TEV}}}PullPointSubscriptionBinding"
SUBSCRIPTION_MANAGER_BINDING = f"{{{TEV}}}SubscriptionManagerBinding"

#: Messages asked for per pull; a server may return fewer (docs/wire-format.md §6.4 rule 5).
MESSAGE_LIMIT = 1000
#: Seconds to wait for a connection and for a reply beyond the pull's own timeout.
NETWORK_TIMEOUT = 30.0
#: Pull point lifetime asked for at creation; every pull extends it (docs/wire-format.md §6.4 rule 9).
MIN_TERMINATION_S = 60
#: Prefixes for fault codes in messages, from the namespaces ONVIF faults use.
_PREFIXES = {ns: prefix for prefix, ns in NSMAP.items()}


class QueryError(Exception):
    """The query could not be carried out; the message is one line for the user."""


class KeepReply(Plugin):
    """Keeps the last reply envelope as lxml, before zeep interprets it."""

    def __init__(self) -> None:
        self.envelope: etree._Element | None = None

    def ingress(self, envelope, http_headers, operation):  # type: ignore[no-untyped-def]
        self.envelope = envelope
        return envelope, http_headers


def _qname(text: object) -> str:
    """A fault code as ``prefix:local`` with the usual ONVIF prefixes."""
    qname = etree.QName(str(text)) if str(text).startswith("{") else None
    if qname is None:
        return str(text)
    return f"{_PREFIXES.get(qname.namespace, qname.namespace)}:{qname.localname}"


def describe_fault(fault: Fault) -> str:
    """``env:Sender ter:InvalidArgs/ter:InvalidArgVal: reason`` from a zeep Fault."""
    code = "env:" + str(fault.code or "Receiver").rpartition(":")[2]
    subcodes = "/".join(_qname(q) for q in fault.subcodes or ())
    reason = " ".join(str(fault.message or "no reason given").split())
    return f"{code} {subcodes}: {reason}" if subcodes else f"{code}: {reason}"


@contextmanager
def _errors(url: str) -> Iterator[None]:
    """Translate zeep and requests errors into one-line :class:`QueryError` messages."""
    try:
        yield
    except Fault as err:
        raise QueryError(f"server fault: {describe_fault(err)}") from None
    except TransportError as err:
        hint = " (wrong user name or password?)" if err.status_code == 401 else ""
        raise QueryError(f"{url} answered HTTP {err.status_code}{hint}") from None
    except requests.exceptions.SSLError as err:
        raise QueryError(f"TLS failure talking to {url}: {err.__class__.__name__}") from None
    except requests.exceptions.Timeout:
        raise QueryError(f"{url} did not answer in time") from None
    except requests.exceptions.ConnectionError:
        raise QueryError(f"cannot connect to {url}") from None
    except requests.exceptions.RequestException as err:
        raise QueryError(f"request to {url} failed: {err}") from None
    except (ZeepError, etree.XMLSyntaxError) as err:
        raise QueryError(f"{url} sent a reply that is not valid for the ONVIF WSDL: {err}") from None


class ResourceQueryClient:
    """One server, one user; :meth:`run` performs a whole subscribe-pull-unsubscribe cycle."""

    def __init__(self, url: str, user: str, password: str, *, transport: Transport | None = None) -> None:
        self.url = url
        self.reply = KeepReply()
        settings = Settings(strict=False, xml_huge_tree=True)
        transport = transport or Transport(timeout=NETWORK_TIMEOUT, operation_timeout=NETWORK_TIMEOUT)
        security = UsernameToken(user, password, use_digest=True)

        def client(wsdl: Path) -> Client:
            return Client(
                str(wsdl), wsse=security, transport=transport, settings=settings,
                plugins=[WsAddressingPlugin(), self.reply],
            )  # fmt: skip

        self._device = client(DEVICE_WSDL)
        self._events = client(EVENT_WSDL)
        self._transport = transport

    def _last_reply(self) -> etree._Element:
        if self.reply.envelope is None:  # zeep returned without reading a reply (HTTP 202)
            raise QueryError(f"{self.url}: the server sent an empty reply")
        envelope, self.reply.envelope = self.reply.envelope, None
        return envelope

    def event_service(self) -> str:
        """The event service XAddr from GetServices, else (a server without it) from GetCapabilities."""
        device = self._device.create_service(DEVICE_BINDING, self.url)
        with _errors(self.url):
            try:
                services = device.GetServices(IncludeCapability=False)
            except Fault as err:
                log.info("GetServices refused (%s); trying GetCapabilities", describe_fault(err))
                services = None
            for service in services or ():
                if service.Namespace == TEV and service.XAddr:
                    return str(service.XAddr)
            capabilities = device.GetCapabilities(Category=["Events"])
        events = getattr(capabilities, "Events", None)
        if events is None or not events.XAddr:
            raise QueryError(f"{self.url} has no event service, so it cannot answer resource queries")
        return str(events.XAddr)

    def subscribe(self, address: str, query: ResourceQuery, termination_s: int) -> str:
        """Create a pull point for ``query``; return its SubscriptionReference address."""
        events = self._events.create_service(EVENT_BINDING, address)
        with _errors(address):
            events.CreatePullPointSubscription(
                Filter={"_value_1": filter_elements(query)}, InitialTerminationTime=f"PT{termination_s}S"
            )
        found: str | None = self._last_reply().findtext(f".//{{{TEV}}}SubscriptionReference/{{{WSA}}}Address")
        if not found or not found.strip():
            raise QueryError(f"{address} answered CreatePullPointSubscription without a subscription address")
        return found.strip()

    def pull(self, subscription: str, wait: float) -> tuple[int, list[Notification]]:
        """One PullMessages: how many messages arrived, and the resource events among them.

        Zero messages means ``wait`` seconds passed with nothing to send.  The
        count includes messages that are not resource events, so such a
        message never passes for the empty pull that ends the enumeration.
        """
        pull_point = self._events.create_service(PULL_POINT_BINDING, subscription)
        with _errors(subscription), self._transport.settings(timeout=wait + NETWORK_TIMEOUT):
            pull_point.PullMessages(Timeout=dt.timedelta(seconds=wait), MessageLimit=MESSAGE_LIMIT)
        reply = self._last_reply()
        return sum(1 for _ in reply.iter(NOTIFICATION)), parse_notifications(reply)

    def unsubscribe(self, subscription: str) -> None:
        manager = self._events.create_service(SUBSCRIPTION_MANAGER_BINDING, subscription)
        with _errors(subscription):
            manager.Unsubscribe()

    def run(
        self, query: ResourceQuery, wait: float, on_batch: Callable[[list[Notification]], None]
    ) -> None:
        """Subscribe, pull until an empty pull, unsubscribe (also after a failure or Ctrl-C)."""
        address = self.event_service()
        log.info("event service: %s", address)
        subscription = self.subscribe(address, query, max(MIN_TERMINATION_S, int(2 * wait) + 1))
        log.info("pull point: %s", subscription)
        try:
            while True:
                received, batch = self.pull(subscription, wait)
                if not received:
                    break
                on_batch(batch)
        finally:
            try:
                self.unsubscribe(subscription)
            except QueryError as err:  # the pull point expires on its own; say so, don't fail the query
                log.warning("could not unsubscribe: %s", err)
