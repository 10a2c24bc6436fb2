"""The Uplink configuration service through the gateway's own ASGI app: faults, element order, status, access.

Requests go through the whole SOAP stack in process (WS-UsernameToken,
authorisation, dispatch) onto a real catalog, SQLite and PostgreSQL alike.
tests/interop/test_uplink_service.py drives the same service in a real
process with zeep built from the official uplink.wsdl.
"""
from __future__ import annotations

import asyncio

import httpx
import pytest
from lxml import etree

from gateway.catalog.model import KeyEntry
from gateway.catalog.store import Catalog
from gateway.events.waiter import FeedWatcher
from gateway.onvif.access import PRE_AUTH, READ_SYSTEM, WRITE_SYSTEM
from gateway.onvif.ns import TDS, TER, TT, TUP
from gateway.onvif.services import DEVICE, UPLINK
from gateway.runtime import ServeOptions, build_app
from gateway.soap.asgi import SoapApp
from gateway.soap.ns import SOAP_ENV, qn
from gateway.uplink_config.service import MAX_UPLINKS, UPLINK_SERVICE
from tests.unit.soap.soapkit import call, fault_of, onvif_call
from tests.uplink_keys import CERT, KEY

USERS = {"admin": "Administrator", "oper": "Operator", "viewer": "User"}
ADDRESS = "https://upper-vms.example.net/uplink"
SENDER, RECEIVER = qn(SOAP_ENV, "Sender"), qn(SOAP_ENV, "Receiver")


def ter(*locals_: str) -> list[str]:
    return [qn(TER, local) for local in locals_]


@pytest.fixture
def app(catalog: Catalog) -> SoapApp:
    """The gateway's app on a fresh catalog holding three users and one key of each kind."""
    for name, level in USERS.items():
        catalog.add_user(name, level, f"pw-{name}")
    catalog.add_key(KeyEntry(id="uplinkClientCert", kind="certificate", cert_pem=CERT, key_pem=KEY))
    catalog.add_key(KeyEntry(id="upperVmsCA", kind="ca", cert_pem=CERT))
    catalog.add_key(KeyEntry(id="oauth", kind="token", secret="bearer-token-value"))
    return build_app(catalog, asyncio.run(_watcher(catalog)), ServeOptions(db_url="unused"))


async def _watcher(catalog: Catalog) -> FeedWatcher:
    """A feed watcher (made in a loop, as it must be); only PullMessages would use it."""
    return FeedWatcher(catalog.head_seq)


def soap(app: SoapApp, body: str, user: str | None = "admin", path: str = UPLINK.path) -> httpx.Response:
    return onvif_call(app, path, body, user=user)


def configuration(*children: str) -> str:
    return f"<tup:SetUplink><tup:Configuration>{''.join(children)}</tup:Configuration></tup:SetUplink>"


def el(local: str, text: str) -> str:
    return f"<tup:{local}>{text}</tup:{local}>"


MTLS = (el("RemoteAddress", ADDRESS), el("CertificateID", "uplinkClientCert"), el("UserLevel", "Operator"),
        el("CertPathValidationPolicyID", "upperVmsCA"))


def body_of(response: httpx.Response) -> etree._Element:
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body")[0]


def uplinks(app: SoapApp) -> list[list[tuple[str, str]]]:
    """GetUplinks as [(local name, text) of each child] per configuration, in document order."""
    resp = body_of(soap(app, "<tup:GetUplinks/>", user="viewer"))
    assert resp.tag == f"{{{TUP}}}GetUplinksResponse"
    return [[(etree.QName(c).localname, c.text) for c in cfg] for cfg in resp]


def test_capabilities_are_pre_auth_and_name_the_current_modes(app: SoapApp) -> None:
    resp = body_of(soap(app, "<tup:GetServiceCapabilities/>", user=None))
    [caps] = resp
    assert caps.tag == f"{{{TUP}}}Capabilities"
    assert dict(caps.attrib) == {"MaxUplinks": str(MAX_UPLINKS), "Protocols": "https wss",
                                 "AuthorizationModes": "mTLS AccessToken", "StreamingOverUplink": "true"}


def test_get_services_lists_the_uplink_service(app: SoapApp) -> None:
    body = "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>"
    resp = body_of(soap(app, body, user=None, path=DEVICE.path))
    [svc] = [s for s in resp if s.findtext(f"{{{TDS}}}Namespace") == TUP]
    assert svc.findtext(f"{{{TDS}}}XAddr") == "http://gw.test" + UPLINK.path
    assert (svc.findtext(f"{{{TDS}}}Version/{{{TT}}}Major"), svc.findtext(f"{{{TDS}}}Version/{{{TT}}}Minor")) == \
        ("26", "6")
    assert svc.find(f"{{{TDS}}}Capabilities/{{{TUP}}}Capabilities").get("Protocols") == "https wss"


def test_access_classes() -> None:
    access = {etree.QName(q).localname: op.access for q, op in UPLINK_SERVICE.operations.items()}
    assert access == {"GetServiceCapabilities": PRE_AUTH, "GetUplinks": READ_SYSTEM, "SetUplink": WRITE_SYSTEM,
                      "DeleteUplink": WRITE_SYSTEM}


@pytest.mark.parametrize(("user", "body"), [
    (None, "<tup:GetUplinks/>"),
    ("viewer", configuration(*MTLS)),
    ("oper", configuration(*MTLS)),
    ("oper", f"<tup:DeleteUplink>{el('RemoteAddress', ADDRESS)}</tup:DeleteUplink>"),
])
def test_who_may_not(app: SoapApp, user: str | None, body: str) -> None:
    response = soap(app, body, user=user)
    assert response.status_code == 400
    assert fault_of(response.content)[:2] == (SENDER, ter("NotAuthorized"))


def test_set_then_get_in_schema_order_with_status_and_error(app: SoapApp, catalog: Catalog) -> None:
    assert uplinks(app) == []
    # Status and Error are read-only: ignored.  Children in another order and an extension are accepted.
    body = configuration(el("UserLevel", "Operator"), el("Error", "mine"), el("Status", "Connected"),
                         el("CertPathValidationPolicyID", "upperVmsCA"), el("CertificateID", "uplinkClientCert"),
                         "<x:Vendor>ignored</x:Vendor>", el("RemoteAddress", "HTTPS://Upper-VMS.example.net/uplink"))
    assert body_of(soap(app, body)).tag == f"{{{TUP}}}SetUplinkResponse"
    token = configuration(el("RemoteAddress", "wss://b.example/ws"), el("UserLevel", "PTZControl onvif:User"),
                          el("AuthorizationServer", "oauth"))
    body_of(soap(app, token))
    assert uplinks(app) == [
        [("RemoteAddress", ADDRESS), ("CertificateID", "uplinkClientCert"), ("UserLevel", "Operator"),
         ("Status", "Offline"), ("CertPathValidationPolicyID", "upperVmsCA")],
        [("RemoteAddress", "wss://b.example/ws"), ("UserLevel", "User"), ("Status", "Offline"),
         ("AuthorizationServer", "oauth")],
    ]
    catalog.set_uplink_status("wss://b.example/ws", "Connecting", "TLS handshake failed: certificate verify failed")
    assert uplinks(app)[1] == [
        ("RemoteAddress", "wss://b.example/ws"), ("UserLevel", "User"), ("Status", "Connecting"),
        ("AuthorizationServer", "oauth"), ("Error", "TLS handshake failed: certificate verify failed")]


def test_delete_uplink(app: SoapApp) -> None:
    body_of(soap(app, configuration(*MTLS)))
    missing = soap(app, f"<tup:DeleteUplink>{el('RemoteAddress', 'https://other.example/')}</tup:DeleteUplink>")
    assert missing.status_code == 400
    assert fault_of(missing.content)[:2] == (SENDER, ter("InvalidArgVal", "Address"))
    gone = soap(app, f"<tup:DeleteUplink>{el('RemoteAddress', 'https://UPPER-vms.example.net/uplink')}"
                     "</tup:DeleteUplink>")
    assert body_of(gone).tag == f"{{{TUP}}}DeleteUplinkResponse"
    assert uplinks(app) == []


def replaced(local: str, text: str | None) -> tuple[str, ...]:
    """MTLS with ``local`` given ``text``, or left out for None."""
    kept = tuple(c for c in MTLS if not c.startswith(f"<tup:{local}>"))
    return kept if text is None else (*kept, el(local, text))


@pytest.mark.parametrize(("children", "code", "subcodes"), [
    (replaced("CertificateID", "nope"), SENDER, ter("InvalidArgVal", "CertificateID")),
    (replaced("CertPathValidationPolicyID", "nope"), SENDER, ter("InvalidArgVal", "CertPathValidationPolicyID")),
    ((*replaced("CertificateID", None), el("AuthorizationServer", "nope")), SENDER,
     ter("InvalidArgVal", "AuthorizationServerConfigurationToken")),
    (replaced("CertificateID", None), SENDER, ter("InvalidArgs", "MissingAuthentication")),
    ((*MTLS, el("AuthorizationServer", "oauth")), SENDER, ter("InvalidArgs", "AmbiguousAuthentication")),
    (replaced("RemoteAddress", "http://upper-vms.example.net/"), SENDER, ter("InvalidArgs", "ProtocolNotSupported")),
    (replaced("RemoteAddress", "https://user:pw@upper/"), SENDER, ter("InvalidArgVal")),
    (replaced("UserLevel", "Anonymous"), SENDER, ter("InvalidArgVal")),
    (replaced("UserLevel", None), SENDER, ter("InvalidArgs")),
    (replaced("RemoteAddress", None), SENDER, ter("InvalidArgs")),
    ((*MTLS, el("CertificateID", "again")), SENDER, ter("InvalidArgs")),
])
def test_set_uplink_faults_write_nothing(app: SoapApp, children: tuple[str, ...], code: str,
                                         subcodes: list[str]) -> None:
    response = soap(app, configuration(*children))
    assert response.status_code == 400
    assert fault_of(response.content)[:2] == (code, subcodes)
    assert uplinks(app) == []


@pytest.mark.parametrize("body", [
    "<tup:SetUplink/>",
    f"<tup:SetUplink><tup:Configuration>{''.join(MTLS)}</tup:Configuration><tup:Extra/></tup:SetUplink>",
    "<tup:DeleteUplink/>",
])
def test_malformed_requests_are_invalid_args(app: SoapApp, body: str) -> None:
    response = soap(app, body)
    assert response.status_code == 400 and fault_of(response.content)[:2] == (SENDER, ter("InvalidArgs"))


def test_max_uplinks_is_a_receiver_fault_and_updates_still_pass(app: SoapApp) -> None:
    for i in range(MAX_UPLINKS):
        body_of(soap(app, configuration(*replaced("RemoteAddress", f"https://gw{i}.example/"))))
    response = soap(app, configuration(*replaced("RemoteAddress", "https://one-more.example/")))
    assert response.status_code == 500
    assert fault_of(response.content)[:2] == (RECEIVER, ter("Action", "MaxUplinks"))
    body_of(soap(app, configuration(*replaced("RemoteAddress", "https://GW0.example/"))))
    assert len(uplinks(app)) == MAX_UPLINKS


def test_an_operation_no_uplink_wsdl_defines_is_an_unknown_action(app: SoapApp) -> None:
    response = soap(app, "<tup:GetUplinkStatistics/>")
    assert response.status_code == 400
    assert fault_of(response.content)[:2] == (SENDER, ter("UnknownAction"))


def test_the_service_document_imports_the_official_uplink_wsdl(app: SoapApp) -> None:
    root = etree.fromstring(call(app, "GET", UPLINK.path + "?wsdl", base="https://gw.example:8443").content)
    assert root.find("{http://schemas.xmlsoap.org/wsdl/}import").get("location") == \
        "wsdl/ver10/uplink/wsdl/uplink.wsdl"
    assert [a.get("location") for a in root.iter("{http://schemas.xmlsoap.org/wsdl/soap12/}address")] == \
        ["https://gw.example:8443" + UPLINK.path]
    assert call(app, "GET", "/onvif/wsdl/ver10/uplink/wsdl/uplink.wsdl").status_code == 200
