"""The device service through the gateway's own app: Category, versions, the host's network, faults.

Every answer is checked against the official devicemgmt.wsdl declarations (XSD 1.1) and against what
the host itself reports (psutil, socket, resolv.conf), not against values written into the test.
"""
from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from lxml import etree

from gateway.catalog.store import Catalog
from gateway.device import host
from gateway.device.service import DEVICE_SERVICE
from gateway.events.service import capabilities as event_capabilities
from gateway.events.waiter import FeedWatcher
from gateway.onvif.access import PRE_AUTH, READ_SYSTEM
from gateway.onvif.ns import TDS, TER, TEV, TPTZ, TR2, TRT, TT, TUP
from gateway.onvif.services import DEVICE, EVENTS, MEDIA, MEDIA2, PTZ, UPLINK
from gateway.runtime import Composite, ServeOptions, build_app
from gateway.soap.ns import SOAP_ENV, qn
from tests.conformance.schemas import assert_valid
from tests.unit.soap.soapkit import call, fault_of, onvif_call

SENDER, RECEIVER = qn(SOAP_ENV, "Sender"), qn(SOAP_ENV, "Receiver")
CONTENT_TYPE = "application/soap+xml; charset=utf-8"


def ter(*locals_: str) -> list[str]:
    return [qn(TER, local) for local in locals_]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Composite]:
    catalog = Catalog.open(f"sqlite:///{tmp_path_factory.mktemp('device') / 'catalog.db'}")
    catalog.upgrade()
    catalog.add_user("viewer", "User", "pw-viewer")

    async def watcher() -> FeedWatcher:
        return FeedWatcher(catalog.head_seq)

    yield build_app(catalog, asyncio.run(watcher()), ServeOptions(db_url="unused"))
    catalog.close()


def soap(app: Composite, body: str, user: str | None = None, path: str = DEVICE.path) -> httpx.Response:
    return onvif_call(app, path, body, user=user)


def body_of(response: httpx.Response) -> etree._Element:
    assert response.status_code == 200, response.text
    body = etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body")[0]
    assert_valid(body)
    return body


def capabilities(app: Composite, *categories: str) -> etree._Element:
    inner = "".join(f"<tds:Category>{c}</tds:Category>" for c in categories)
    return body_of(soap(app, f"<tds:GetCapabilities>{inner}</tds:GetCapabilities>"))


def parts(resp: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in resp.find(f"{{{TDS}}}Capabilities")]


def version(el: etree._Element) -> tuple[int, int]:
    return int(el.findtext(f"{{{TT}}}Major") or -1), int(el.findtext(f"{{{TT}}}Minor") or -1)


@pytest.mark.parametrize(("categories", "expected"), [
    ((), ["Device", "Events", "Media", "PTZ"]),
    (("All",), ["Device", "Events", "Media", "PTZ"]),
    (("Device",), ["Device"]),
    (("Events",), ["Events"]),
    (("Media",), ["Media"]),
    (("PTZ", "Media"), ["Media", "PTZ"]),
    (("Events", "Device"), ["Device", "Events"]),
    (("All", "Device"), ["Device", "Events", "Media", "PTZ"]),
])
def test_get_capabilities_answers_the_categories_asked_for(app: Composite, categories: tuple[str, ...],
                                                           expected: list[str]) -> None:
    assert parts(capabilities(app, *categories)) == expected


def test_the_capabilities_parts_address_the_services_and_state_the_release(app: Composite) -> None:
    caps = capabilities(app).find(f"{{{TDS}}}Capabilities")
    assert caps.findtext(f"{{{TT}}}Device/{{{TT}}}XAddr") == "http://gw.test" + DEVICE.path
    assert caps.findtext(f"{{{TT}}}Events/{{{TT}}}XAddr") == "http://gw.test" + EVENTS.path
    assert caps.findtext(f"{{{TT}}}Events/{{{TT}}}WSPullPointSupport") == "true"
    assert caps.findtext(f"{{{TT}}}Media/{{{TT}}}XAddr") == "http://gw.test" + MEDIA.path
    assert caps.findtext(f"{{{TT}}}Media/{{{TT}}}StreamingCapabilities/{{{TT}}}RTP_RTSP_TCP") == "true"
    assert caps.findtext(f"{{{TT}}}PTZ/{{{TT}}}XAddr") == "http://gw.test" + PTZ.path
    [supported] = caps.findall(f"{{{TT}}}Device/{{{TT}}}System/{{{TT}}}SupportedVersions")
    assert version(supported) == DEVICE.version
    services = body_of(soap(app, "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability>"
                                 "</tds:GetServices>"))
    [device] = [s for s in services if s.findtext(f"{{{TDS}}}Namespace") == TDS]
    assert version(device.find(f"{{{TDS}}}Version")) == version(supported)


@pytest.mark.parametrize("categories", [("Analytics",), ("Imaging",), ("Device", "Imaging"), ("Media", "Analytics")])
def test_a_category_not_served_is_no_such_service(app: Composite, categories: tuple[str, ...]) -> None:
    inner = "".join(f"<tds:Category>{c}</tds:Category>" for c in categories)
    response = soap(app, f"<tds:GetCapabilities>{inner}</tds:GetCapabilities>")
    assert response.status_code == 500
    assert fault_of(response.content)[:2] == (RECEIVER, ter("ActionNotSupported", "NoSuchService"))


@pytest.mark.parametrize("body", [
    "<tds:Category>media</tds:Category>",  # the enumeration is case-sensitive
    "<tds:Category>Bogus</tds:Category>",
    "<tds:Category/>",
    "<tds:Category>Device</tds:Category><tds:Category>Recording</tds:Category>",
])
def test_a_value_outside_capability_category_is_invalid_arg_val(app: Composite, body: str) -> None:
    response = soap(app, f"<tds:GetCapabilities>{body}</tds:GetCapabilities>")
    assert response.status_code == 400
    assert fault_of(response.content)[:2] == (SENDER, ter("InvalidArgVal"))


def test_an_unexpected_child_of_get_capabilities_is_invalid_args(app: Composite) -> None:
    response = soap(app, "<tds:GetCapabilities><x:Category>Device</x:Category><x:Other/></tds:GetCapabilities>")
    assert (response.status_code, fault_of(response.content)[:2]) == (400, (SENDER, ter("InvalidArgs")))


def test_get_services_versions_and_capabilities_come_from_each_service(app: Composite) -> None:
    resp = body_of(soap(app, "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>"))
    found = {s.findtext(f"{{{TDS}}}Namespace"): s for s in resp}
    assert list(found) == [TDS, TEV, TUP, TRT, TR2, TPTZ]
    for contract in (DEVICE, EVENTS, UPLINK, MEDIA, MEDIA2, PTZ):
        svc = found[contract.namespace]
        assert svc.findtext(f"{{{TDS}}}XAddr") == "http://gw.test" + contract.path
        assert version(svc.find(f"{{{TDS}}}Version")) == contract.version
    [events] = found[TEV].find(f"{{{TDS}}}Capabilities")
    built = event_capabilities(_request_for(app))
    assert (events.tag, dict(events.attrib)) == (built.tag, dict(built.attrib))
    [media2] = found[TR2].find(f"{{{TDS}}}Capabilities")
    assert (media2.tag, media2.get("SnapshotUri")) == (f"{{{TR2}}}Capabilities", "true")
    assert media2.find(f"{{{TR2}}}StreamingCapabilities").get("RTP_RTSP_TCP") == "true"


def _request_for(app: Composite):  # type: ignore[no-untyped-def]
    """Just enough of a request for a capabilities builder, which reads the app state only."""
    class _Req:
        state = app.soap.state
    return _Req()


def test_the_versions_are_the_official_wsdls(app: Composite) -> None:
    for contract, relpath in ((DEVICE, "ver10/device/wsdl/devicemgmt.wsdl"), (EVENTS, "ver10/events/wsdl/event.wsdl")):
        text = call(app, "GET", f"/onvif/wsdl/{relpath}").text
        assert f'version="{contract.version[0]}.{contract.version[1]:02d}"' in text


def test_network_interfaces_are_the_hosts(app: Composite) -> None:
    resp = body_of(soap(app, "<tds:GetNetworkInterfaces/>", user="viewer"))
    answered = {el.get("token"): el for el in resp}
    stats = psutil.net_if_stats()
    expected = {name for name in psutil.net_if_addrs() if "loopback" not in stats[name].flags.split(",")}
    assert set(answered) == expected
    for name, addresses in psutil.net_if_addrs().items():
        if name not in answered:
            continue
        el = answered[name]
        mac = next((a.address.lower() for a in addresses if a.family == psutil.AF_LINK), None)
        if mac and mac != "00:00:00:00:00:00":
            assert el.findtext(f"{{{TT}}}Info/{{{TT}}}HwAddress") == mac
            assert el.findtext(f"{{{TT}}}Info/{{{TT}}}Name") == name
        ipv4 = [(a.address, a.netmask) for a in addresses if a.family == socket.AF_INET]
        got = [(m.findtext(f"{{{TT}}}Address"), int(m.findtext(f"{{{TT}}}PrefixLength") or -1))
               for m in el.iterfind(f"{{{TT}}}IPv4/{{{TT}}}Config/{{{TT}}}Manual")]
        assert [a for a, _ in got] == [a for a, _ in ipv4]
        for (_, prefix), (_, mask) in zip(got, ipv4, strict=True):
            assert bin(int.from_bytes(socket.inet_aton(mask), "big")).count("1") == prefix
    assert any(el.find(f"{{{TT}}}IPv4") is not None for el in answered.values()), "the test host has an IPv4 address"


def test_hostname_is_the_hosts(app: Composite) -> None:
    resp = body_of(soap(app, "<tds:GetHostname/>"))  # PRE_AUTH: no user needed
    info = resp.find(f"{{{TDS}}}HostnameInformation")
    assert (info.findtext(f"{{{TT}}}FromDHCP"), info.findtext(f"{{{TT}}}Name")) == ("false", socket.gethostname())


def test_dns_is_resolv_conf(app: Composite) -> None:
    resp = body_of(soap(app, "<tds:GetDNS/>", user="viewer"))
    info = resp.find(f"{{{TDS}}}DNSInformation")
    expected = host.resolvers()
    assert info.findtext(f"{{{TT}}}FromDHCP") == "false"
    assert tuple(e.text for e in info.iterfind(f"{{{TT}}}SearchDomain")) == expected.search
    servers = [(m.findtext(f"{{{TT}}}Type"), m.findtext(f"{{{TT}}}IPv4Address") or m.findtext(f"{{{TT}}}IPv6Address"))
               for m in info.iterfind(f"{{{TT}}}DNSManual")]
    assert servers == [(f"IPv{s.version}", str(s)) for s in expected.servers]


def test_resolv_conf_is_read_as_the_c_resolver_does(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\n; also\nnameserver 10.0.0.53\nnameserver not-an-address\nnameserver\n"
                    "domain first.example\nsearch corp.example lab.example\nnameserver fe80::1%eth0\n"
                    "options ndots:2\n\x00garbage line\n")
    found = host.resolvers(conf)
    assert [str(s) for s in found.servers] == ["10.0.0.53", "fe80::1%eth0"]
    assert found.search == ("corp.example", "lab.example")
    assert host.resolvers(tmp_path / "missing") == host.Resolvers(servers=(), search=())


@pytest.mark.parametrize("op", ["GetNetworkInterfaces", "GetDNS", "GetScopes"])
def test_network_reads_need_a_user(app: Composite, op: str) -> None:
    response = soap(app, f"<tds:{op}/>")
    assert (response.status_code, fault_of(response.content)[:2]) == (400, (SENDER, ter("NotAuthorized")))


def test_access_classes_follow_the_default_policy() -> None:
    access = {etree.QName(q).localname: op.access for q, op in DEVICE_SERVICE.operations.items()}
    assert access == {"GetServices": PRE_AUTH, "GetServiceCapabilities": PRE_AUTH, "GetCapabilities": PRE_AUTH,
                      "GetSystemDateAndTime": PRE_AUTH, "GetDeviceInformation": READ_SYSTEM,
                      "GetScopes": READ_SYSTEM, "GetNetworkInterfaces": READ_SYSTEM, "GetHostname": PRE_AUTH,
                      "GetDNS": READ_SYSTEM}


@pytest.mark.parametrize("op", ["GetNTP", "GetZeroConfiguration", "SystemReboot", "SetHostname"])
def test_wsdl_operations_not_implemented_are_optional(app: Composite, op: str) -> None:
    response = soap(app, f"<tds:{op}/>", user="viewer")
    code, subcodes, reason = fault_of(response.content)
    assert (response.status_code, response.headers["content-type"]) == (500, CONTENT_TYPE)
    assert (code, subcodes) == (RECEIVER, ter("ActionNotSupported"))
    assert reason == f"Optional Action Not Implemented: {op}"


@pytest.mark.parametrize("body", ["<tds:Frobnicate/>", "<x:GetNTP/>", "<GetHostname/>", "<tt:GetHostname/>"])
def test_operations_of_no_wsdl_are_unknown_actions(app: Composite, body: str) -> None:
    response = soap(app, body)
    code, subcodes, reason = fault_of(response.content)
    assert (response.status_code, code, subcodes) == (400, SENDER, ter("UnknownAction"))
    assert reason is not None and reason.startswith("Unknown Action")


@pytest.mark.parametrize("body", [
    "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>",
    "<tds:GetServiceCapabilities/>", "<tds:GetSystemDateAndTime/>", "<tds:GetDeviceInformation/>",
    "<tds:GetScopes/>",
])
def test_every_other_answer_is_valid(app: Composite, body: str) -> None:
    body_of(soap(app, body, user="viewer"))
