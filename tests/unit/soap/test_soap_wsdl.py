"""WSDL serving: the official tree byte for byte, traversal refused, and zeep loading our documents over HTTP."""
from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep
from hypercorn.asyncio import serve
from hypercorn.config import Config
from lxml import etree
from soapkit import UNKNOWN_ACTION, VOCAB, call, lookup_in, make_app, raw_call
from zeep.exceptions import Fault as ZeepFault
from zeep.wsse.username import UsernameToken

from gateway.onvif.ns import NSMAP, TER, TEV
from gateway.onvif.wsdl_files import OWN_ROOT, WSDL_MOUNT, official_root, wsdl_files
from gateway.soap.asgi import SoapApp
from gateway.soap.dispatch import Operation, Request, Service
from gateway.soap.fault import SENDER, SoapFault
from gateway.soap.ns import qn
from gateway.soap.wsdl import ADDRESS_PLACEHOLDER, WsdlFiles

EVENT_WSDL = "ver10/events/wsdl/event.wsdl"


def test_both_trees_are_found() -> None:
    official, own = official_root(), OWN_ROOT
    assert official is not None and (official / EVENT_WSDL).is_file()
    assert {p.name for p in own.iterdir()} >= {
        "device_service.wsdl", "event_service.wsdl", "resourcequery.xsd"}


def test_official_and_own_files_are_served_unmodified() -> None:
    app = make_app()
    response = call(app, "GET", "/onvif/wsdl/" + EVENT_WSDL)
    assert response.status_code == 200 and response.headers["content-type"] == "application/xml"
    assert response.content == (official_root() / EVENT_WSDL).read_bytes()
    own = call(app, "GET", "/onvif/wsdl/gateway/event_service.wsdl")
    assert own.content == (OWN_ROOT / "event_service.wsdl").read_bytes()
    assert ADDRESS_PLACEHOLDER.encode() in own.content
    assert call(app, "GET", "/onvif/wsdl/schema/common/soap-envelope").status_code == 200


def test_endpoint_wsdl_gets_the_callers_address_and_a_reachable_import() -> None:
    app = make_app()
    response = call(app, "GET", "/onvif/event_service?wsdl", base="https://gw.example:8443")
    assert ADDRESS_PLACEHOLDER.encode() not in response.content
    root = etree.fromstring(response.content)
    addresses = {el.get("location") for el in root.iter("{http://schemas.xmlsoap.org/wsdl/soap12/}address")}
    assert addresses == {"https://gw.example:8443/onvif/event_service"}
    assert root.find("{http://schemas.xmlsoap.org/wsdl/}import").get("location") == "wsdl/" + EVENT_WSDL
    deeper = etree.fromstring(call(app, "GET", "/onvif/pullpoint/abc?wsdl").content)
    assert deeper.find("{http://schemas.xmlsoap.org/wsdl/}import").get("location") == "../wsdl/" + EVENT_WSDL


@pytest.mark.parametrize("path", [
    "/onvif/wsdl/../../etc/passwd",
    "/onvif/wsdl/ver10/../../../../../etc/passwd",
    "/onvif/wsdl//etc/passwd",
    "/onvif/wsdl/%2e%2e/%2e%2e/etc/passwd",
    "/onvif/wsdl/gateway/../../setup.cfg",
    "/onvif/wsdl/ver10\\..\\..\\..\\setup.cfg",
    "/onvif/wsdl/.hidden",
    "/onvif/wsdl/",
    "/onvif/wsdl/ver10",
    "/onvif/wsdl/nope.wsdl",
])
def test_traversal_and_missing_files_are_404(path: str) -> None:
    result = raw_call(make_app(), {"method": "GET", "path": path, "raw_path": path.encode()}, [])
    assert (result.status, result.body) == (404, b"not found")


def test_symlink_out_of_the_tree_is_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "secret.xsd"
    root.mkdir()
    outside.write_bytes(b"<secret/>")
    (root / "link.xsd").symlink_to(outside)
    (root / "fine.xsd").write_bytes(b"<fine/>")
    files = WsdlFiles(WSDL_MOUNT, official=root, own=None, own_prefix="gateway/")
    assert (files.static("link.xsd"), files.static("fine.xsd")) == (None, b"<fine/>")
    assert files.static("gateway/fine.xsd") is None  # no own tree


def test_the_mount_and_the_own_prefix_are_the_callers(tmp_path: Path) -> None:
    official, own = tmp_path / "official", tmp_path / "own"
    (official / "std").mkdir(parents=True)
    own.mkdir()
    (official / "std" / "svc.wsdl").write_bytes(b"<std/>")
    (own / "svc.wsdl").write_text(f'<d><import location="docs/std/svc.wsdl"/><a location="{ADDRESS_PLACEHOLDER}"/></d>')
    service = Service(operations={}, unknown=_unknown, wsdl="mine/svc.wsdl")
    app = SoapApp(
        {"/svc": service, "/deep/er/{id}": service}, authorizer=lambda principal, access: None,
        credentials=lookup_in({}), vocab=VOCAB, nsmap=NSMAP,
        wsdl=WsdlFiles("/docs/", official=official, own=own, own_prefix="mine/"))
    assert call(app, "GET", "/docs/std/svc.wsdl").content == b"<std/>"
    assert call(app, "GET", "/docs/mine/svc.wsdl").content == (own / "svc.wsdl").read_bytes()
    assert call(app, "GET", "/onvif/wsdl/" + EVENT_WSDL).status_code == 404
    assert call(app, "GET", "/svc?wsdl", base="http://h:1").text == \
        '<d><import location="docs/std/svc.wsdl"/><a location="http://h:1/svc"/></d>'
    assert call(app, "GET", "/deep/er/7?wsdl", base="http://h:1").text == \
        '<d><import location="../../docs/std/svc.wsdl"/><a location="http://h:1/deep/er/7"/></d>'
    with pytest.raises(ValueError):
        WsdlFiles("/docs", official=official, own=own, own_prefix="mine/")


def test_without_wsdl_files_no_document_is_served() -> None:
    app = make_app(wsdl=None)
    assert call(app, "GET", "/onvif/event_service?wsdl").status_code == 404
    assert call(app, "GET", "/onvif/wsdl/" + EVENT_WSDL).status_code == 404


def test_resourcequery_xsd_is_a_schema_for_the_four_filters() -> None:
    schema = etree.XMLSchema(etree.parse(str(OWN_ROOT / "resourcequery.xsd")))
    tt = 'xmlns="http://www.onvif.org/ver10/schema"'
    good = [(f"<LocationFilter {tt}><lon>118.79</lon><lat>32.06</lat><height>3</height><radius>100</radius>"
             f"<includeUnknown>true</includeUnknown></LocationFilter>"),
            f"<LocationFilter {tt}><lon>1</lon><lat>2</lat><radius>3</radius></LocationFilter>",
            f"<PrefixFilter {tt}><Prefix>00012345678901234567</Prefix></PrefixFilter>",
            (f'<ScopeFilter {tt}><Scope Match="http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986">'
             f"onvif://www.onvif.org/location/x</Scope><Scope>onvif://b</Scope></ScopeFilter>"),
            f"<SelectFilter {tt}><Path>/Name</Path><Path>/Scope/Location</Path></SelectFilter>"]
    bad = [f"<LocationFilter {tt}><lat>2</lat><lon>1</lon><radius>3</radius></LocationFilter>",
           f"<LocationFilter {tt}><lon>1</lon><lat>2</lat></LocationFilter>",
           f"<LocationFilter {tt}><lon>east</lon><lat>2</lat><radius>3</radius></LocationFilter>",
           f"<ScopeFilter {tt}/>", f"<SelectFilter {tt}/>",
           "<PrefixFilter><Prefix>unqualified</Prefix></PrefixFilter>"]
    assert [schema.validate(etree.fromstring(x)) for x in good] == [True] * len(good)
    assert [schema.validate(etree.fromstring(x)) for x in bad] == [False] * len(bad)


# --- a real hypercorn on a loopback port, and zeep built from what it serves --------------------------

async def _capabilities(req: Request) -> etree._Element:
    if req.principal.name is None:
        raise SoapFault(SENDER, "Sender not Authorized", subcodes=VOCAB.not_authorized)
    response = etree.Element(qn(TEV, "GetServiceCapabilitiesResponse"), nsmap=NSMAP)
    etree.SubElement(response, qn(TEV, "Capabilities"), WSSubscriptionPolicySupport="true", MaxPullPoints="7")
    return response


async def _pull(req: Request) -> etree._Element:
    raise SoapFault(SENDER, "Argument Value Invalid", subcodes=(qn(TER, "InvalidArgVal"), qn(TER, "NoProfile")))


def _unknown(qname: str) -> SoapFault:
    return SoapFault(SENDER, "Unknown Action", subcodes=(UNKNOWN_ACTION,))


def _onvif_app(ready: threading.Event) -> SoapApp:
    action = "http://www.onvif.org/ver10/events/wsdl/"
    events = Service(operations={
        qn(TEV, "GetServiceCapabilities"): Operation(
            handler=_capabilities, access="pre-auth",
            response_action=action + "EventPortType/GetServiceCapabilitiesResponse"),
        qn(TEV, "PullMessages"): Operation(
            handler=_pull, access="read", response_action=action + "PullPointSubscription/PullMessagesResponse"),
    }, unknown=_unknown, wsdl="gateway/event_service.wsdl")
    device = Service(operations={}, unknown=_unknown, wsdl="gateway/device_service.wsdl")

    async def started() -> None:
        ready.set()

    return SoapApp({"/onvif/event_service": events, "/onvif/device_service": device,
                    "/onvif/pullpoint/{id}": events},
                   authorizer=lambda principal, access: None, credentials=lookup_in({"alice": ("wonderland", "User")}),
                   vocab=VOCAB, nsmap=NSMAP, on_startup=started, wsdl=wsdl_files())


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Base URL of a hypercorn serving the app; readiness is the app's own lifespan startup."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    app = _onvif_app(ready)
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(app, config, shutdown_trigger=stop.wait),))
    thread.start()
    assert ready.wait(10), "hypercorn did not start"
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


def _ports(client: zeep.Client) -> dict[tuple[str, str], tuple[str, str]]:
    return {(service.name, port.name): (port.binding.name.text, port.binding_options["address"])
            for service in client.wsdl.services.values() for port in service.ports.values()}


def test_zeep_loads_the_event_service_wsdl_over_http(server: str) -> None:
    client = zeep.Client(server + "/onvif/event_service?wsdl")
    address = server + "/onvif/event_service"
    assert _ports(client) == {
        ("EventService", "EventPort"): (qn(TEV, "EventBinding"), address),
        ("EventService", "PullPointSubscriptionPort"): (qn(TEV, "PullPointSubscriptionBinding"), address),
        ("EventService", "SubscriptionManagerPort"): (qn(TEV, "SubscriptionManagerBinding"), address),
    }


def test_zeep_loads_the_device_and_pull_point_wsdl_over_http(server: str) -> None:
    device = zeep.Client(server + "/onvif/device_service?wsdl")
    assert _ports(device) == {("DeviceService", "DevicePort"): (
        "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding", server + "/onvif/device_service")}
    pull = zeep.Client(server + "/onvif/pullpoint/p1?wsdl")
    assert _ports(pull)[("EventService", "PullPointSubscriptionPort")][1] == server + "/onvif/pullpoint/p1"


def test_zeep_calls_succeed_with_a_digest_token_and_faults_read_back(server: str) -> None:
    client = zeep.Client(server + "/onvif/event_service?wsdl", wsse=UsernameToken("alice", "wonderland",
                                                                                  use_digest=True))
    capabilities = client.bind("EventService", "EventPort").GetServiceCapabilities()
    assert (capabilities.WSSubscriptionPolicySupport, capabilities.MaxPullPoints) == (True, 7)
    with pytest.raises(ZeepFault) as info:
        client.bind("EventService", "PullPointSubscriptionPort").PullMessages(Timeout="PT1S", MessageLimit=1)
    assert (info.value.code, info.value.message) == ("s:Sender", "Argument Value Invalid")
    assert [q.text for q in info.value.subcodes] == [qn(TER, "InvalidArgVal"), qn(TER, "NoProfile")]
    anonymous = zeep.Client(server + "/onvif/event_service?wsdl")
    with pytest.raises(ZeepFault) as info:
        anonymous.bind("EventService", "EventPort").GetServiceCapabilities()
    assert [q.text for q in info.value.subcodes] == list(VOCAB.not_authorized)
