"""Every answer of the uplink configuration service of a real gateway process validates against the official
schemas: capabilities, the configurations (every optional field), set, delete and the refusals."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

from tests.conformance.schemas import SOAP_ENV
from tests.conformance.wire import Capture, answer_of
from tests.interop.conftest import Gateway
from tests.interop.onvif_client import WSDL
from tests.interop.test_uplink_service import ADDRESS, ADMIN, TUP, VIEWER, gateway, xaddr  # noqa: F401 (fixture)

pytestmark = pytest.mark.interop
MTLS = {"RemoteAddress": ADDRESS, "CertificateID": "uplinkClientCert", "UserLevel": ["Operator"],
        "CertPathValidationPolicyID": "upperVmsCA"}
TOKEN = {"RemoteAddress": "wss://b.example/ws", "UserLevel": ["User"], "AuthorizationServer": "oauth"}


class Uplink:
    """The uplink service through zeep from the official WSDL, as one user, keeping each raw reply."""

    def __init__(self, gw: Gateway, user: tuple[str, str] | None) -> None:
        self.capture = Capture()
        client = zeep.Client(str(WSDL / "ver10/uplink/wsdl/uplink.wsdl"), plugins=[self.capture],
                             wsse=UsernameToken(*user, use_digest=True) if user else None)
        self.service = client.create_service(f"{{{TUP}}}UplinkBinding", xaddr(gw))

    def answer(self, call: Callable[[object], object]) -> etree._Element:
        return answer_of(self.capture, lambda: call(self.service))


def test_every_operation_answers_valid(gateway: Gateway) -> None:  # noqa: F811 (the imported fixture)
    admin = Uplink(gateway, ADMIN)
    assert Uplink(gateway, None).answer(lambda s: s.GetServiceCapabilities()).tag == \
        f"{{{TUP}}}GetServiceCapabilitiesResponse"
    assert admin.answer(lambda s: s.GetUplinks()).tag == f"{{{TUP}}}GetUplinksResponse"
    assert admin.answer(lambda s: s.SetUplink(Configuration=MTLS)).tag == f"{{{TUP}}}SetUplinkResponse"
    assert admin.answer(lambda s: s.SetUplink(Configuration=TOKEN)).tag == f"{{{TUP}}}SetUplinkResponse"
    listed = Uplink(gateway, VIEWER).answer(lambda s: s.GetUplinks())
    assert len(listed.findall(f"{{{TUP}}}Configuration")) == 2
    for address in (ADDRESS, TOKEN["RemoteAddress"]):
        assert admin.answer(lambda s, address=address: s.DeleteUplink(RemoteAddress=address)).tag == f"{{{TUP}}}DeleteUplinkResponse"
    assert admin.answer(lambda s: s.GetUplinks()).findall(f"{{{TUP}}}Configuration") == []


@pytest.mark.parametrize(("user", "call"), [
    pytest.param(ADMIN, lambda s: s.SetUplink(Configuration={**MTLS, "CertificateID": "nope"}), id="unknown-cert"),
    pytest.param(ADMIN, lambda s: s.SetUplink(Configuration={**MTLS, "AuthorizationServer": "oauth"}), id="ambiguous"),
    pytest.param(ADMIN, lambda s: s.SetUplink(Configuration={**MTLS, "RemoteAddress": "http://upper/"}), id="protocol"),
    pytest.param(ADMIN, lambda s: s.DeleteUplink(RemoteAddress="https://nowhere.example/"), id="unknown-address"),
    pytest.param(VIEWER, lambda s: s.SetUplink(Configuration=MTLS), id="not-authorized"),
])
def test_refusals_are_valid_faults(gateway: Gateway,  # noqa: F811 (the imported fixture)
                                    user: tuple[str, str], call: Callable[[object], object]) -> None:
    assert Uplink(gateway, user).answer(call).tag == f"{{{SOAP_ENV}}}Fault"
