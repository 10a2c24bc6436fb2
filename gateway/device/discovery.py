"""Service discovery: GetServices, GetServiceCapabilities and the legacy GetCapabilities.

The services listed are those the application offers (``req.state.services``,
one :class:`~gateway.onvif.services.OfferedService` each, handed over by the
runner): this module knows no other service's capabilities, it asks each
service's own builder.  Versions are the contracts' (their WSDLs'), and the
device service's version is the ONVIF release stated as SupportedVersions.

``GetCapabilities`` predates GetServices and describes services by category.
The gateway has the Device, Events, Media and PTZ parts (Media is the ver10
service, which is what clients asking this way use); a category it does not
serve (Analytics, Imaging) is ``env:Receiver / ter:ActionNotSupported /
ter:NoSuchService``, as ONVIF Core defines for it, and so is a request naming
one among served ones: answering part of a request would look like a device
whose Imaging service has no capabilities.  A value outside
``tt:CapabilityCategory`` is the client's mistake, ``ter:InvalidArgVal``.
"""
from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from gateway.onvif import faults
from gateway.onvif.ns import TDS, TEV, TPTZ, TRT, TT
from gateway.onvif.services import DEVICE, MEDIA, PTZ, OfferedService
from gateway.onvif.xml import child, element, sub
from gateway.soap.dispatch import Request

#: ``tt:CapabilityCategory`` in the schema's order, which is also the order of tt:Capabilities' children.
CATEGORIES = ("All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ")


def capabilities(req: Request) -> etree._Element:
    """``tds:Capabilities``, for GetServiceCapabilities and GetServices."""
    caps = etree.Element(f"{{{TDS}}}Capabilities")
    # No NTP servers can be set, the gateway runs no zero-configuration and takes no hostname from DHCP.
    etree.SubElement(caps, f"{{{TDS}}}Network", NTP="0", ZeroConfiguration="false", HostnameFromDHCP="false")
    etree.SubElement(caps, f"{{{TDS}}}Security", UsernameToken="true", HttpDigest="false",
                     DefaultAccessPolicy="true", **{"TLS1.2": "true"})
    etree.SubElement(caps, f"{{{TDS}}}System", DiscoveryResolve="false", DiscoveryBye="false",
                     RemoteDiscovery="false", SystemBackup="false", SystemLogging="false")
    return caps


def _offered(req: Request) -> tuple[OfferedService, ...]:
    services: tuple[OfferedService, ...] = req.state.services
    return services


def _flag(req: Request, local: str) -> bool:
    el = child(req.body, local)
    text = (el.text or "").strip() if el is not None else "false"
    if text not in ("true", "false", "1", "0"):
        raise faults.invalid_arg_val(None, f"{local} {text!r} is not an xs:boolean")
    return text in ("true", "1")


def _version(parent: etree._Element, tag: str, version: tuple[int, int]) -> None:
    el = sub(parent, tag)
    sub(el, f"{{{TT}}}Major", str(version[0]))
    sub(el, f"{{{TT}}}Minor", str(version[1]))


async def get_services(req: Request) -> etree._Element:
    include = _flag(req, "IncludeCapability")
    resp = element(f"{{{TDS}}}GetServicesResponse")
    for offered in _offered(req):
        svc = sub(resp, f"{{{TDS}}}Service")
        sub(svc, f"{{{TDS}}}Namespace", offered.contract.namespace)
        sub(svc, f"{{{TDS}}}XAddr", req.base_url + offered.contract.path)
        if include:
            sub(svc, f"{{{TDS}}}Capabilities").append(offered.capabilities(req))
        _version(svc, f"{{{TDS}}}Version", offered.contract.version)
    return resp


async def get_service_capabilities(req: Request) -> etree._Element:
    resp = element(f"{{{TDS}}}GetServiceCapabilitiesResponse")
    resp.append(capabilities(req))
    return resp


def _categories(req: Request) -> list[str]:
    """The requested categories, schema order, checked against the schema and what is served."""
    for c in req.body:
        if isinstance(c.tag, str) and etree.QName(c).localname != "Category":
            raise faults.sender(f"unexpected element {etree.QName(c).localname} in GetCapabilities",
                                faults.INVALID_ARGS)
    asked = {(c.text or "").strip() for c in req.body if isinstance(c.tag, str)}
    unknown = sorted(asked - set(CATEGORIES))
    if unknown:
        raise faults.invalid_arg_val(None, f"Category {unknown[0]!r} is not a tt:CapabilityCategory "
                                           f"({', '.join(CATEGORIES)})")
    offered = {o.contract.namespace for o in _offered(req)}
    served = [category for category, (namespace, _) in _PARTS.items() if namespace in offered]
    if not asked or "All" in asked:
        return served
    missing = [category for category in CATEGORIES if category in asked and category not in served]
    if missing:
        raise faults.action_not_supported(f"this gateway has no {' or '.join(missing)} service",
                                          faults.NO_SUCH_SERVICE)
    return [category for category in served if category in asked]


def _device_part(req: Request, parent: etree._Element) -> None:
    device = sub(parent, f"{{{TT}}}Device")
    sub(device, f"{{{TT}}}XAddr", req.base_url + DEVICE.path)
    network = sub(device, f"{{{TT}}}Network")
    for name in ("IPFilter", "ZeroConfiguration", "IPVersion6", "DynDNS"):
        sub(network, f"{{{TT}}}{name}", "false")
    system = sub(device, f"{{{TT}}}System")
    for name in ("DiscoveryResolve", "DiscoveryBye", "RemoteDiscovery", "SystemBackup", "SystemLogging",
                 "FirmwareUpgrade"):
        sub(system, f"{{{TT}}}{name}", "false")
    _version(system, f"{{{TT}}}SupportedVersions", DEVICE.version)


def _events_part(req: Request, parent: etree._Element) -> None:
    """``tt:EventCapabilities``, read off the event service's own ``tev:Capabilities``."""
    offered = next(o for o in _offered(req) if o.contract.namespace == TEV)
    caps = offered.capabilities(req)
    events = sub(parent, f"{{{TT}}}Events")
    sub(events, f"{{{TT}}}XAddr", req.base_url + offered.contract.path)
    sub(events, f"{{{TT}}}WSSubscriptionPolicySupport", caps.get("WSSubscriptionPolicySupport", "false"))
    sub(events, f"{{{TT}}}WSPullPointSupport", "true" if int(caps.get("MaxPullPoints", "0")) > 0 else "false")
    sub(events, f"{{{TT}}}WSPausableSubscriptionManagerInterfaceSupport",
        caps.get("WSPausableSubscriptionManagerInterfaceSupport", "false"))


def _media_part(req: Request, parent: etree._Element) -> None:
    """``tt:MediaCapabilities``: RTP over RTSP over TCP only, as the Media service's own capabilities say."""
    media = sub(parent, f"{{{TT}}}Media")
    sub(media, f"{{{TT}}}XAddr", req.base_url + MEDIA.path)
    streaming = sub(media, f"{{{TT}}}StreamingCapabilities")
    for name, value in (("RTPMulticast", "false"), ("RTP_TCP", "false"), ("RTP_RTSP_TCP", "true")):
        sub(streaming, f"{{{TT}}}{name}", value)


def _ptz_part(req: Request, parent: etree._Element) -> None:
    sub(sub(parent, f"{{{TT}}}PTZ"), f"{{{TT}}}XAddr", req.base_url + PTZ.path)


#: The categories that have a part here: the namespace of the service each describes, and its writer.
_PARTS: dict[str, tuple[str, Callable[[Request, etree._Element], None]]] = {
    "Device": (TDS, _device_part),
    "Events": (TEV, _events_part),
    "Media": (TRT, _media_part),
    "PTZ": (TPTZ, _ptz_part),
}


async def get_capabilities(req: Request) -> etree._Element:
    """The pre-GetServices discovery call, still the first call of several client libraries."""
    categories = _categories(req)
    resp = element(f"{{{TDS}}}GetCapabilitiesResponse")
    caps = sub(resp, f"{{{TDS}}}Capabilities")
    for category in categories:
        _PARTS[category][1](req, caps)
    return resp
