"""Service contracts: operations read from the official WSDLs, actions, and the one unknown-operation rule."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.device.service import DEVICE_SERVICE
from gateway.events.pullpoint import PULL_POINT_SERVICE
from gateway.events.service import EVENT_SERVICE
from gateway.onvif.ns import TDS, TER, TEV, TUP, WSNT
from gateway.onvif.services import DEVICE, EVENTS, PULL_POINT, UPLINK, PortType, ServiceContract, schema_version
from gateway.onvif.wsdl_files import official_root
from gateway.soap.fault import RECEIVER, SENDER
from gateway.soap.wsdl import port_type_operations
from gateway.uplink_config.service import UPLINK_SERVICE

SERVICES = [(DEVICE, DEVICE_SERVICE), (EVENTS, EVENT_SERVICE), (PULL_POINT, PULL_POINT_SERVICE),
            (UPLINK, UPLINK_SERVICE)]


def ter(local: str) -> str:
    return f"{{{TER}}}{local}"


def test_operations_are_those_of_the_port_types() -> None:
    assert set(PULL_POINT.operations.values()) == {"PullMessages", "Seek", "SetSynchronizationPoint", "Renew",
                                                   "Unsubscribe"}
    assert PULL_POINT.body("Renew") == f"{{{WSNT}}}Renew" and PULL_POINT.body("Seek") == f"{{{TEV}}}Seek"
    assert {"CreatePullPointSubscription", "AddEventBroker", "Subscribe", "GetCurrentMessage"} <= \
        set(EVENTS.operations.values())
    assert "PullMessages" not in EVENTS.operations.values()
    assert set(UPLINK.operations.values()) == {"GetServiceCapabilities", "GetUplinks", "SetUplink", "DeleteUplink"}
    assert {"GetNTP", "GetZeroConfiguration", "GetHostname", "SystemReboot"} <= set(DEVICE.operations.values())
    assert all(qname == f"{{{TDS}}}{name}" for qname, name in DEVICE.operations.items())


@pytest.mark.parametrize(("contract", "service"), SERVICES)
def test_every_handled_operation_is_a_wsdl_operation_with_its_action(contract: ServiceContract, service) -> None:  # type: ignore[no-untyped-def]
    for qname, operation in service.operations.items():
        name = contract.operations[qname]
        assert operation.response_action == contract.response_action(name)
    assert service.wsdl == contract.wsdl


def test_actions_are_those_clients_send_and_expect() -> None:
    assert DEVICE.request_action("GetServices") == f"{TDS}/GetServices"
    assert DEVICE.response_action("GetServices") == f"{TDS}/GetServicesResponse"
    assert EVENTS.request_action("CreatePullPointSubscription") == \
        f"{TEV}/EventPortType/CreatePullPointSubscriptionRequest"
    assert PULL_POINT.request_action("PullMessages") == f"{TEV}/PullPointSubscription/PullMessagesRequest"
    # Unsubscribe is in both of a pull point's port types; the event WSDL's binding uses WS-BN's action.
    assert PULL_POINT.request_action("Unsubscribe") == "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
    assert UPLINK.response_action("SetUplink") == f"{TUP}/UplinkPort/SetUplinkResponse"
    with pytest.raises(LookupError):
        PULL_POINT.request_action("CreatePullPointSubscription")


def test_request_actions_match_the_official_bindings() -> None:
    """The soapAction each official binding gives the operations the federation client sends."""
    root = official_root()
    assert root is not None
    actions = set()
    for relpath in ("ver10/device/wsdl/devicemgmt.wsdl", "ver10/events/wsdl/event.wsdl"):
        doc = etree.parse(str(root / relpath))
        actions |= {el.get("soapAction") for el in doc.iter("{http://schemas.xmlsoap.org/wsdl/soap12/}operation")}
    for contract, name in ((DEVICE, "GetServices"), (EVENTS, "CreatePullPointSubscription"),
                           (PULL_POINT, "PullMessages"), (PULL_POINT, "Unsubscribe")):
        assert contract.request_action(name) in actions


@pytest.mark.parametrize(("contract", "qname", "name"), [
    (DEVICE, f"{{{TDS}}}GetNTP", "GetNTP"),
    (EVENTS, f"{{{TEV}}}AddEventBroker", "AddEventBroker"),
    (EVENTS, f"{{{WSNT}}}Subscribe", "Subscribe"),
    (PULL_POINT, f"{{{TEV}}}Seek", "Seek"),
])
def test_a_wsdl_operation_not_implemented_is_optional(contract: ServiceContract, qname: str, name: str) -> None:
    fault = contract.unknown(qname)
    assert (fault.code, fault.subcodes, fault.http_status) == (RECEIVER, (ter("ActionNotSupported"),), 500)
    assert fault.reason == f"Optional Action Not Implemented: {name}"


@pytest.mark.parametrize(("contract", "qname"), [
    (DEVICE, f"{{{TEV}}}PullMessages"),  # an operation, but of another service
    (EVENTS, f"{{{TEV}}}PullMessages"),
    (PULL_POINT, f"{{{TEV}}}CreatePullPointSubscription"),
    (UPLINK, f"{{{TDS}}}GetUplinks"),  # the right name in the wrong namespace
    (DEVICE, "GetNTP"),  # no namespace at all
    (DEVICE, "{urn:\u00e9\u0000x}Frobnicate"),
])
def test_anything_else_is_an_unknown_action(contract: ServiceContract, qname: str) -> None:
    fault = contract.unknown(qname)
    assert (fault.code, fault.subcodes, fault.http_status) == (SENDER, (ter("UnknownAction"),), 400)
    assert fault.reason.startswith("Unknown Action: ")


def test_versions_are_the_wsdls(tmp_path: Path) -> None:
    assert DEVICE.version == UPLINK.version == (26, 6)
    assert EVENTS.version == PULL_POINT.version == (24, 12)
    bare = tmp_path / "bare.wsdl"
    bare.write_text('<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>')
    with pytest.raises(LookupError):
        schema_version(bare)


def test_a_handler_for_an_operation_the_wsdl_lacks_is_refused() -> None:
    async def handler(req):  # type: ignore[no-untyped-def]
        raise AssertionError

    with pytest.raises(LookupError):
        DEVICE.service({"GetMedia": (handler, "PRE_AUTH")})


def test_port_type_lookup_fails_loudly(tmp_path: Path) -> None:
    root = official_root()
    assert root is not None
    with pytest.raises(LookupError):
        port_type_operations(root / "ver10/uplink/wsdl/uplink.wsdl", f"{{{TUP}}}NoSuchPort")
    contract = ServiceContract(name="x", namespace=TUP, path="/x", wsdl="x.wsdl", port_types=(
        PortType(qname=f"{{{TUP}}}NoSuchPort", wsdl="ver10/uplink/wsdl/uplink.wsdl", actions="urn:x/"),))
    with pytest.raises(LookupError):
        contract.unknown(f"{{{TUP}}}GetUplinks")
