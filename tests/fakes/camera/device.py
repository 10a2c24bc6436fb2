"""The device service (``tds``): services, capabilities, identity, scopes, clock and location."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from lxml import etree

from tests.fakes.camera import events, media1, media2, ptz
from tests.fakes.camera.context import Context, Handler
from tests.fakes.camera.faults import Fault, not_supported
from tests.fakes.camera.model import AUXILIARY_COMMANDS
from tests.fakes.camera.ns import TDS, TEV, TPTZ, TR2, TRT, TT, el, tt, value

VERSION = (23, 12)


def _version() -> etree._Element:
    return el(TDS, "Version", value(TT, "Major", VERSION[0]), value(TT, "Minor", VERSION[1]))


def service_capabilities(ctx: Context) -> etree._Element:
    """tds:Capabilities of GetServiceCapabilities (and of GetServices with IncludeCapability)."""
    auth = ctx.options.auth
    return el(TDS, "Capabilities",
              el(TDS, "Network", IPFilter=False, ZeroConfiguration=False, IPVersion6=False, DynDNS=False,
                 NTP=1),
              el(TDS, "Security", UsernameToken=auth in ("ws", "both"), HttpDigest=auth in ("digest", "both"),
                 DefaultAccessPolicy=True, MaxUsers=8, HashingAlgorithms="MD5"),
              el(TDS, "System", DiscoveryResolve=False, DiscoveryBye=True, RemoteDiscovery=False, SystemBackup=False,
                 SystemLogging=False, GeoLocationEntries=1 if ctx.options.location else None),
              el(TDS, "Misc", AuxiliaryCommands=" ".join(AUXILIARY_COMMANDS) if ctx.options.ptz else None))


def get_services(ctx: Context, op: etree._Element) -> etree._Element:
    include = (op.findtext(f"{{{TDS}}}IncludeCapability") or "false").strip() in ("true", "1")
    entries: list[tuple[str, str, Callable[[Context], etree._Element]]] = [(TDS, "device", service_capabilities)]
    if ctx.options.media1:
        entries.append((TRT, "media", media1.service_capabilities))
    if ctx.options.media2:
        entries.append((TR2, "media2", media2.service_capabilities))
    if ctx.options.ptz:
        entries.append((TPTZ, "ptz", ptz.service_capabilities))
    if ctx.options.events:
        entries.append((TEV, "events", events.service_capabilities))
    response = el(TDS, "GetServicesResponse")
    for namespace, name, capabilities in entries:
        service = el(TDS, "Service", value(TDS, "Namespace", namespace), value(TDS, "XAddr", ctx.xaddr(name)))
        if include:
            service.append(el(TDS, "Capabilities", capabilities(ctx)))
        service.append(_version())
        response.append(service)
    return response


def get_service_capabilities(ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TDS, "GetServiceCapabilitiesResponse", service_capabilities(ctx))


def _bool(name: str, flag: bool) -> etree._Element:
    return value(TT, name, flag)


def get_capabilities(ctx: Context, op: etree._Element) -> etree._Element:
    asked = {(c.text or "").strip() for c in op.iterfind(f"{{{TDS}}}Category")} or {"All"}
    known = {"All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ"}
    if asked - known:
        raise Fault("Sender", ("InvalidArgVal",), "unknown capability category")
    missing = {"Analytics", "Imaging"} | ({"PTZ"} if not ctx.options.ptz else set()) \
        | ({"Media"} if not ctx.options.media1 else set()) | ({"Events"} if not ctx.options.events else set())
    if "All" not in asked and asked <= missing:
        raise Fault("Receiver", ("ActionNotSupported", "NoSuchService"), "the device has no such service")
    want = (known - {"All"}) if "All" in asked else asked
    caps = el(TDS, "Capabilities")
    if "Device" in want:
        caps.append(tt("Device", value(TT, "XAddr", ctx.xaddr("device")),
                       tt("Network", _bool("IPFilter", False), _bool("ZeroConfiguration", False),
                          _bool("IPVersion6", False), _bool("DynDNS", False)),
                       tt("System", _bool("DiscoveryResolve", False), _bool("DiscoveryBye", True),
                          _bool("RemoteDiscovery", False), _bool("SystemBackup", False),
                          _bool("SystemLogging", False), _bool("FirmwareUpgrade", False),
                          tt("SupportedVersions", value(TT, "Major", 2), value(TT, "Minor", 60))),
                       tt("Security", *(_bool(n, False) for n in (
                           "TLS1.1", "TLS1.2", "OnboardKeyGeneration", "AccessPolicyConfig", "X.509Token",
                           "SAMLToken", "KerberosToken", "RELToken")))))
    if "Events" in want and ctx.options.events:
        caps.append(tt("Events", value(TT, "XAddr", ctx.xaddr("events")), _bool("WSSubscriptionPolicySupport", False),
                       _bool("WSPullPointSupport", True),
                       _bool("WSPausableSubscriptionManagerInterfaceSupport", False)))
    if "Media" in want and ctx.options.media1:
        caps.append(tt("Media", value(TT, "XAddr", ctx.xaddr("media")),
                       tt("StreamingCapabilities", _bool("RTPMulticast", False), _bool("RTP_TCP", True),
                          _bool("RTP_RTSP_TCP", True))))
    if "PTZ" in want and ctx.options.ptz:
        caps.append(tt("PTZ", value(TT, "XAddr", ctx.xaddr("ptz"))))
    return el(TDS, "GetCapabilitiesResponse", caps)


def get_device_information(ctx: Context, _op: etree._Element) -> etree._Element:
    o = ctx.options
    return el(TDS, "GetDeviceInformationResponse", value(TDS, "Manufacturer", o.manufacturer),
              value(TDS, "Model", o.model), value(TDS, "FirmwareVersion", o.firmware),
              value(TDS, "SerialNumber", o.serial), value(TDS, "HardwareId", o.hardware))


def scopes(ctx: Context) -> list[tuple[str, str]]:
    """(definition, URI) of every scope: the fixed ones a camera reports, then the name and the extra ones."""
    o = ctx.options
    fixed = ["onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming",
             f"onvif://www.onvif.org/hardware/{quote(o.model, safe='')}"]
    if o.ptz:
        fixed.insert(1, "onvif://www.onvif.org/type/ptz")
    if o.media2:
        fixed.append("onvif://www.onvif.org/Profile/T")
    configurable = [f"onvif://www.onvif.org/name/{quote(o.name, safe='')}", *o.scopes]
    return [("Fixed", s) for s in fixed] + [("Configurable", s) for s in configurable]


def get_scopes(ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TDS, "GetScopesResponse", *(
        el(TDS, "Scopes", value(TT, "ScopeDef", kind), value(TT, "ScopeItem", uri)) for kind, uri in scopes(ctx)))


def _datetime(moment: datetime) -> tuple[etree._Element, etree._Element]:
    return (tt("Time", value(TT, "Hour", moment.hour), value(TT, "Minute", moment.minute),
               value(TT, "Second", moment.second)),
            tt("Date", value(TT, "Year", moment.year), value(TT, "Month", moment.month),
               value(TT, "Day", moment.day)))


def get_system_date_and_time(ctx: Context, _op: etree._Element) -> etree._Element:
    now = datetime.fromtimestamp(ctx.device.utc_now(), UTC)
    return el(TDS, "GetSystemDateAndTimeResponse", el(
        TDS, "SystemDateAndTime", value(TT, "DateTimeType", "NTP"), value(TT, "DaylightSavings", False),
        tt("TimeZone", value(TT, "TZ", "UTC0")), tt("UTCDateTime", *_datetime(now)),
        tt("LocalDateTime", *_datetime(now))))


def get_geo_location(ctx: Context, _op: etree._Element) -> etree._Element:
    if ctx.options.location is None:
        raise not_supported("GetGeoLocation")
    lat, lon, elevation = ctx.options.location
    return el(TDS, "GetGeoLocationResponse", el(
        TDS, "Location", tt("GeoLocation", lat=lat, lon=lon, elevation=elevation), Entity="VideoSource",
        Token="VideoSource_1", Fixed=True))


def get_hostname(_ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TDS, "GetHostnameResponse", el(TDS, "HostnameInformation", value(TT, "FromDHCP", False),
                                             value(TT, "Name", "fakecam")))


def get_network_interfaces(_ctx: Context, _op: etree._Element) -> etree._Element:
    return el(TDS, "GetNetworkInterfacesResponse", el(
        TDS, "NetworkInterfaces", value(TT, "Enabled", True),
        tt("Info", value(TT, "Name", "eth0"), value(TT, "HwAddress", "02:00:00:fa:ce:01"), value(TT, "MTU", 1500)),
        token="eth0"))


HANDLERS: dict[str, Handler] = {
    "GetServices": get_services, "GetServiceCapabilities": get_service_capabilities,
    "GetCapabilities": get_capabilities, "GetDeviceInformation": get_device_information,
    "GetScopes": get_scopes, "GetSystemDateAndTime": get_system_date_and_time,
    "GetGeoLocation": get_geo_location, "GetHostname": get_hostname,
    "GetNetworkInterfaces": get_network_interfaces,
}
#: Callable without credentials: what a client needs before it can authenticate.
PRE_AUTH = {"GetServices", "GetServiceCapabilities", "GetCapabilities", "GetSystemDateAndTime"}
