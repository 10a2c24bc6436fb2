"""The device service: the entry point every ONVIF client calls first (digest §2.1).

Enough of it for the connect flows of ONVIF client libraries: service
discovery (``GetServices``, and the legacy ``GetCapabilities``), the clock
(clients derive their UsernameToken time offset from it), identity and
scopes.  Addresses are built from the scheme and host the client used.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from gateway.onvif import faults
from gateway.onvif.access import PRE_AUTH, READ_SYSTEM
from gateway.onvif.ns import TDS, TEV, TT, TUP
from gateway.onvif.xml import child, element, sub, utcnow
from gateway.soap.dispatch import Operation, Request, Service
from gateway.uplink import service as uplink

DEVICE_PATH = "/onvif/device_service"
EVENT_PATH = "/onvif/event_service"
ACTION = "http://www.onvif.org/ver10/device/wsdl/"

#: (namespace, path, version) of each service the gateway offers; versions are
#: those of the official WSDLs it serves.
SERVICES = (
    (TDS, DEVICE_PATH, (26, 6)),
    (TEV, EVENT_PATH, (24, 12)),
    (TUP, uplink.UPLINK_PATH, (26, 6)),
)


@dataclass(frozen=True, kw_only=True)
class DeviceIdentity:
    manufacturer: str = "vms-gateway"
    model: str = "vms-gateway"
    firmware: str = "0.1.0"
    serial: str = "0"
    hardware_id: str = "vms-gateway"
    scopes: tuple[str, ...] = field(default=(
        "onvif://www.onvif.org/name/vms-gateway",
        "onvif://www.onvif.org/hardware/vms-gateway",
    ))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _device_capabilities(tag: str) -> etree._Element:
    caps = etree.Element(tag)
    etree.SubElement(caps, f"{{{TDS}}}Network")
    etree.SubElement(caps, f"{{{TDS}}}Security", UsernameToken="true", HttpDigest="false",
                     DefaultAccessPolicy="true", **{"TLS1.2": "true"})
    etree.SubElement(caps, f"{{{TDS}}}System", DiscoveryResolve="false", DiscoveryBye="false",
                     RemoteDiscovery="false", SystemBackup="false", SystemLogging="false")
    return caps


def _event_capabilities(req: Request) -> etree._Element:
    return etree.Element(f"{{{TEV}}}Capabilities", WSSubscriptionPolicySupport="true",
                         WSPausableSubscriptionManagerInterfaceSupport="false", MaxNotificationProducers="0",
                         MaxPullPoints=str(req.state.events.limits.max_pull_points),
                         PersistentNotificationStorage="false")


def _service_capabilities(namespace: str, req: Request) -> etree._Element:
    if namespace == TDS:
        return _device_capabilities(f"{{{TDS}}}Capabilities")
    if namespace == TUP:
        return uplink.capabilities()
    return _event_capabilities(req)


def _flag(req: Request, local: str) -> bool:
    el = child(req.body, local)
    text = (el.text or "").strip() if el is not None else "false"
    if text not in ("true", "false", "1", "0"):
        raise faults.invalid_arg_val(None, f"{local} {text!r} is not an xs:boolean")
    return text in ("true", "1")


async def get_services(req: Request) -> etree._Element:
    include = _flag(req, "IncludeCapability")
    resp = element(f"{{{TDS}}}GetServicesResponse")
    for namespace, path, (major, minor) in SERVICES:
        svc = sub(resp, f"{{{TDS}}}Service")
        sub(svc, f"{{{TDS}}}Namespace", namespace)
        sub(svc, f"{{{TDS}}}XAddr", req.base_url + path)
        if include:
            holder = sub(svc, f"{{{TDS}}}Capabilities")
            holder.append(_service_capabilities(namespace, req))
        version = sub(svc, f"{{{TDS}}}Version")
        sub(version, f"{{{TT}}}Major", str(major))
        sub(version, f"{{{TT}}}Minor", str(minor))
    return resp


async def get_service_capabilities(req: Request) -> etree._Element:
    resp = element(f"{{{TDS}}}GetServiceCapabilitiesResponse")
    resp.append(_device_capabilities(f"{{{TDS}}}Capabilities"))
    return resp


async def get_capabilities(req: Request) -> etree._Element:
    """The pre-GetServices discovery call, still the first call of several client libraries."""
    resp = element(f"{{{TDS}}}GetCapabilitiesResponse")
    caps = sub(resp, f"{{{TDS}}}Capabilities")
    device = sub(caps, f"{{{TT}}}Device")
    sub(device, f"{{{TT}}}XAddr", req.base_url + DEVICE_PATH)
    events = sub(caps, f"{{{TT}}}Events")
    sub(events, f"{{{TT}}}XAddr", req.base_url + EVENT_PATH)
    sub(events, f"{{{TT}}}WSSubscriptionPolicySupport", "true")
    sub(events, f"{{{TT}}}WSPullPointSupport", "true")
    sub(events, f"{{{TT}}}WSPausableSubscriptionManagerInterfaceSupport", "false")
    return resp


async def get_system_date_and_time(req: Request) -> etree._Element:
    now = utcnow()
    resp = element(f"{{{TDS}}}GetSystemDateAndTimeResponse")
    sdt = sub(resp, f"{{{TDS}}}SystemDateAndTime")
    sub(sdt, f"{{{TT}}}DateTimeType", "NTP")
    sub(sdt, f"{{{TT}}}DaylightSavings", "false")
    sub(sub(sdt, f"{{{TT}}}TimeZone"), f"{{{TT}}}TZ", "UTC0")
    utc = sub(sdt, f"{{{TT}}}UTCDateTime")
    time = sub(utc, f"{{{TT}}}Time")
    for name, value in (("Hour", now.hour), ("Minute", now.minute), ("Second", now.second)):
        sub(time, f"{{{TT}}}{name}", str(value))
    date = sub(utc, f"{{{TT}}}Date")
    for name, value in (("Year", now.year), ("Month", now.month), ("Day", now.day)):
        sub(date, f"{{{TT}}}{name}", str(value))
    return resp


async def get_device_information(req: Request) -> etree._Element:
    ident: DeviceIdentity = req.state.identity
    resp = element(f"{{{TDS}}}GetDeviceInformationResponse")
    for name, value in (("Manufacturer", ident.manufacturer), ("Model", ident.model),
                        ("FirmwareVersion", ident.firmware), ("SerialNumber", ident.serial),
                        ("HardwareId", ident.hardware_id)):
        sub(resp, f"{{{TDS}}}{name}", value)
    return resp


async def get_scopes(req: Request) -> etree._Element:
    resp = element(f"{{{TDS}}}GetScopesResponse")
    for uri in req.state.identity.scopes:
        scope = sub(resp, f"{{{TDS}}}Scopes")
        sub(scope, f"{{{TT}}}ScopeDef", "Fixed")
        sub(scope, f"{{{TT}}}ScopeItem", uri)
    return resp


def _op(handler, name: str, access: str) -> Operation:  # type: ignore[no-untyped-def]
    return Operation(handler=handler, response_action=f"{ACTION}{name}Response", access=access)


DEVICE_SERVICE = Service(
    operations={
        f"{{{TDS}}}GetServices": _op(get_services, "GetServices", PRE_AUTH),
        f"{{{TDS}}}GetServiceCapabilities": _op(get_service_capabilities, "GetServiceCapabilities", PRE_AUTH),
        f"{{{TDS}}}GetCapabilities": _op(get_capabilities, "GetCapabilities", PRE_AUTH),
        f"{{{TDS}}}GetSystemDateAndTime": _op(get_system_date_and_time, "GetSystemDateAndTime", PRE_AUTH),
        f"{{{TDS}}}GetDeviceInformation": _op(get_device_information, "GetDeviceInformation", READ_SYSTEM),
        f"{{{TDS}}}GetScopes": _op(get_scopes, "GetScopes", READ_SYSTEM),
    },
    unknown=lambda qname: faults.action_not_supported(f"{etree.QName(qname).localname} is not supported by this gateway"),
    wsdl="gateway/device_service.wsdl",
)
