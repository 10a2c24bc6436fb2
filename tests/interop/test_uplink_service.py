"""The Uplink configuration service of a real gateway, driven by zeep built from the official uplink.wsdl.

The gateway is seeded through the real CLI (users, keystore) and its service
is found through GetServices, as any ONVIF client finds it; configurations
written over SOAP are the ones ``vmsgw uplink list`` shows.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

from tests.interop.conftest import Gateway, new_db_url, run_cli
from tests.interop.onvif_client import TDS, WSDL
from tests.uplink_keys import CERT, KEY

pytestmark = pytest.mark.interop

TUP = "http://www.onvif.org/ver10/uplink/wsdl"
TER = "http://www.onvif.org/ver10/error"
ADMIN, VIEWER = ("admin", "admin-Pa55"), ("viewer", "viewer-Pa55")
ADDRESS = "https://upper-vms.example.net/uplink"
#: What an uplink to an address that does not resolve may show while the connector retries it.
UNREACHABLE = ("Offline", "Connecting")


@pytest.fixture(scope="module")
def gateway(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("uplink")
    db = new_db_url(backend, tmp)
    (tmp / "cert.pem").write_text(CERT)
    (tmp / "key.pem").write_text(KEY)
    run_cli("user", "add", ADMIN[0], "--level", "administrator", db=db, input=ADMIN[1] + "\n")
    run_cli("user", "add", VIEWER[0], "--level", "user", db=db, input=VIEWER[1] + "\n")
    run_cli("uplink", "key", "add", "uplinkClientCert", "--cert", str(tmp / "cert.pem"), "--key", str(tmp / "key.pem"),
            db=db)
    run_cli("uplink", "key", "add", "upperVmsCA", "--ca", str(tmp / "cert.pem"), db=db)
    run_cli("uplink", "key", "add", "oauth", "--token-stdin", db=db, input="an.access.token\n")
    gw = Gateway(db=db, log=tmp / "server.log").start()
    yield gw
    gw.stop()


def xaddr(gw: Gateway) -> str:
    device = zeep.Client(str(WSDL / "ver10/device/wsdl/devicemgmt.wsdl")).create_service(f"{{{TDS}}}DeviceBinding",
                                                                                        gw.url)
    services = device.GetServices(IncludeCapability=True)
    [uplink] = [s for s in services if s.Namespace == TUP]
    assert (uplink.Version.Major, uplink.Version.Minor) == (26, 6)
    return str(uplink.XAddr)


def uplink_service(gw: Gateway, user: tuple[str, str] | None = ADMIN):  # type: ignore[no-untyped-def]
    wsse = UsernameToken(*user, use_digest=True) if user else None
    client = zeep.Client(str(WSDL / "ver10/uplink/wsdl/uplink.wsdl"), wsse=wsse)
    return client.create_service(f"{{{TUP}}}UplinkBinding", xaddr(gw))


def fault(call) -> tuple[str, list[etree.QName]]:  # type: ignore[no-untyped-def]
    """(code's local name, subcodes) of the fault ``call`` raises."""
    with pytest.raises(Fault) as raised:
        call()
    return raised.value.code.rpartition(":")[2], raised.value.subcodes


def ter(*locals_: str) -> list[etree.QName]:
    return [etree.QName(TER, local) for local in locals_]


def test_capabilities_anonymously(gateway: Gateway) -> None:
    caps = uplink_service(gateway, user=None).GetServiceCapabilities()
    assert (caps.MaxUplinks, caps.Protocols, caps.AuthorizationModes, caps.StreamingOverUplink) == \
        (16, ["https", "wss"], ["mTLS", "AccessToken"], True)


def test_set_get_delete_with_zeep_and_the_cli_agrees(gateway: Gateway) -> None:
    service = uplink_service(gateway)
    service.SetUplink(Configuration={"RemoteAddress": ADDRESS, "CertificateID": "uplinkClientCert",
                                     "UserLevel": ["Operator"], "CertPathValidationPolicyID": "upperVmsCA"})
    service.SetUplink(Configuration={"RemoteAddress": "wss://b.example/ws", "UserLevel": ["User"],
                                     "AuthorizationServer": "oauth", "Status": "Connected"})
    [first, second] = uplink_service(gateway, user=VIEWER).GetUplinks()
    assert (first.RemoteAddress, first.CertificateID, first.UserLevel, first.CertPathValidationPolicyID,
            first.AuthorizationServer) == (ADDRESS, "uplinkClientCert", ["Operator"], "upperVmsCA", None)
    assert (second.RemoteAddress, second.AuthorizationServer) == ("wss://b.example/ws", "oauth")
    # The client's Status is ignored; the connector is meanwhile trying the unresolvable addresses, so each
    # uplink is Offline (with or without the error of a failed attempt) or Connecting, never Connected.
    for uplink in (first, second):
        assert uplink.Status in UNREACHABLE and (uplink.Error is None or uplink.Error.startswith("cannot connect"))
    listed = json.loads(run_cli("uplink", "list", "--json", db=gateway.db).stdout)
    assert [u["remote_address"] for u in listed] == [ADDRESS, "wss://b.example/ws"]
    assert all(u["status"] in UNREACHABLE for u in listed)
    service.DeleteUplink(RemoteAddress="WSS://B.example/ws")
    assert [u.RemoteAddress for u in service.GetUplinks()] == [ADDRESS]
    service.DeleteUplink(RemoteAddress=ADDRESS)


def test_faults_read_back_through_zeep(gateway: Gateway) -> None:
    service = uplink_service(gateway)
    mtls = {"RemoteAddress": ADDRESS, "CertificateID": "uplinkClientCert", "UserLevel": ["Operator"]}
    assert fault(lambda: service.SetUplink(Configuration={**mtls, "CertificateID": "nope"})) == \
        ("Sender", ter("InvalidArgVal", "CertificateID"))
    assert fault(lambda: service.SetUplink(Configuration={**mtls, "AuthorizationServer": "oauth"})) == \
        ("Sender", ter("InvalidArgs", "AmbiguousAuthentication"))
    assert fault(lambda: service.SetUplink(Configuration={**mtls, "RemoteAddress": "http://upper/"})) == \
        ("Sender", ter("InvalidArgs", "ProtocolNotSupported"))
    assert fault(lambda: service.DeleteUplink(RemoteAddress="https://nowhere.example/")) == \
        ("Sender", ter("InvalidArgVal", "Address"))
    assert fault(lambda: uplink_service(gateway, user=VIEWER).SetUplink(Configuration=mtls)) == \
        ("Sender", ter("NotAuthorized"))
    assert service.GetUplinks() == []


def test_the_gateways_own_service_document_loads_in_zeep(gateway: Gateway) -> None:
    address = xaddr(gateway)
    client = zeep.Client(address + "?wsdl", wsse=UsernameToken(*ADMIN, use_digest=True))
    assert client.service._binding_options["address"] == address  # the placeholder became our address
    assert client.service.GetUplinks() == []
