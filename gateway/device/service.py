"""The device service: the entry point every ONVIF client calls first (docs/wire-format.md §2.2).

Enough of it for the connect flows of ONVIF client libraries: service
discovery (``GetServices``, and the legacy ``GetCapabilities``, in
:mod:`gateway.device.discovery`), the clock (clients derive their
UsernameToken time offset from it), identity and scopes, and the host's
network as setup wizards read it: ``GetNetworkInterfaces`` (non-loopback
interfaces with name, MAC, MTU and IPv4 addresses with prefix length),
``GetHostname`` and ``GetDNS`` (the resolvers of /etc/resolv.conf), each
with ``FromDHCP`` false since the gateway cannot tell how the host got them.
Addresses are built from the scheme and host the client used.

``GetNTP`` and ``GetZeroConfiguration`` are not implemented: the gateway
neither configures nor can reliably read the host's time servers or
link-local addressing, so they answer ``env:Receiver /
ter:ActionNotSupported`` "Optional Action Not Implemented", like every other
operation of the device WSDL this gateway lacks; its capabilities say the
same (NTP="0", ZeroConfiguration="false").
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from lxml import etree

from gateway.device import discovery, host
from gateway.onvif.access import PRE_AUTH, READ_SYSTEM
from gateway.onvif.ns import TDS, TT
from gateway.onvif.services import DEVICE
from gateway.onvif.xml import element, sub, utcnow
from gateway.soap.dispatch import Request


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


def _interface(parent: etree._Element, interface: host.Interface) -> None:
    el = sub(parent, f"{{{TDS}}}NetworkInterfaces", token=interface.name[:64])
    sub(el, f"{{{TT}}}Enabled", _bool(interface.up))
    if interface.mac is not None:
        info = sub(el, f"{{{TT}}}Info")
        sub(info, f"{{{TT}}}Name", interface.name)
        sub(info, f"{{{TT}}}HwAddress", interface.mac)
        if interface.mtu:
            sub(info, f"{{{TT}}}MTU", str(interface.mtu))
    if interface.ipv4:
        ipv4 = sub(el, f"{{{TT}}}IPv4")
        sub(ipv4, f"{{{TT}}}Enabled", "true")
        config = sub(ipv4, f"{{{TT}}}Config")
        for address, prefix in interface.ipv4:
            manual = sub(config, f"{{{TT}}}Manual")
            sub(manual, f"{{{TT}}}Address", address)
            sub(manual, f"{{{TT}}}PrefixLength", str(prefix))
        sub(config, f"{{{TT}}}DHCP", "false")


async def get_network_interfaces(req: Request) -> etree._Element:
    resp = element(f"{{{TDS}}}GetNetworkInterfacesResponse")
    for interface in await asyncio.to_thread(host.interfaces):
        _interface(resp, interface)
    return resp


async def get_hostname(req: Request) -> etree._Element:
    resp = element(f"{{{TDS}}}GetHostnameResponse")
    info = sub(resp, f"{{{TDS}}}HostnameInformation")
    sub(info, f"{{{TT}}}FromDHCP", "false")
    sub(info, f"{{{TT}}}Name", host.hostname())
    return resp


async def get_dns(req: Request) -> etree._Element:
    resolvers = await asyncio.to_thread(host.resolvers)
    resp = element(f"{{{TDS}}}GetDNSResponse")
    info = sub(resp, f"{{{TDS}}}DNSInformation")
    sub(info, f"{{{TT}}}FromDHCP", "false")
    for domain in resolvers.search:
        sub(info, f"{{{TT}}}SearchDomain", domain)
    for server in resolvers.servers:
        manual = sub(info, f"{{{TT}}}DNSManual")
        kind = "IPv4" if server.version == 4 else "IPv6"
        sub(manual, f"{{{TT}}}Type", kind)
        sub(manual, f"{{{TT}}}{kind}Address", str(server))
    return resp


def _bool(value: bool) -> str:
    return "true" if value else "false"


DEVICE_SERVICE = DEVICE.service({
    "GetServices": (discovery.get_services, PRE_AUTH),
    "GetServiceCapabilities": (discovery.get_service_capabilities, PRE_AUTH),
    "GetCapabilities": (discovery.get_capabilities, PRE_AUTH),
    "GetSystemDateAndTime": (get_system_date_and_time, PRE_AUTH),
    "GetDeviceInformation": (get_device_information, READ_SYSTEM),
    "GetScopes": (get_scopes, READ_SYSTEM),
    "GetNetworkInterfaces": (get_network_interfaces, READ_SYSTEM),
    "GetHostname": (get_hostname, PRE_AUTH),  # Core: PRE_AUTH, a name for discovery
    "GetDNS": (get_dns, READ_SYSTEM),
})
