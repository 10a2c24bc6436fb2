"""Every device-service answer of a real gateway process validates against the official schemas."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conformance.schemas import SOAP_ENV, assert_valid
from tests.conformance.wire import FAULT, answer, fault_answer
from tests.interop.conftest import PASSWORD, USER, Gateway
from tests.interop.onvif_client import TDS, Client

pytestmark = pytest.mark.interop

CALLS: dict[str, Callable[[object], object]] = {
    "GetServices": lambda d: d.GetServices(IncludeCapability=False),
    "GetServicesWithCapabilities": lambda d: d.GetServices(IncludeCapability=True),
    "GetServiceCapabilities": lambda d: d.GetServiceCapabilities(),
    "GetCapabilities": lambda d: d.GetCapabilities(),
    "GetCapabilitiesAll": lambda d: d.GetCapabilities(Category=["All"]),
    "GetCapabilitiesDevice": lambda d: d.GetCapabilities(Category=["Device"]),
    "GetCapabilitiesEvents": lambda d: d.GetCapabilities(Category=["Events"]),
    "GetCapabilitiesMedia": lambda d: d.GetCapabilities(Category=["Media"]),
    "GetCapabilitiesPTZ": lambda d: d.GetCapabilities(Category=["PTZ"]),
    "GetSystemDateAndTime": lambda d: d.GetSystemDateAndTime(),
    "GetDeviceInformation": lambda d: d.GetDeviceInformation(),
    "GetScopes": lambda d: d.GetScopes(),
    "GetHostname": lambda d: d.GetHostname(),
    "GetNetworkInterfaces": lambda d: d.GetNetworkInterfaces(),
    "GetDNS": lambda d: d.GetDNS(),
}


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Client:
    return Client(gateway.url, USER, PASSWORD)


@pytest.mark.parametrize("name", CALLS)
def test_answer_is_schema_valid(client: Client, name: str) -> None:
    body = answer(client, lambda: CALLS[name](client.device))
    assert body.tag != FAULT, f"{name} answered a fault"
    expected = name.removesuffix("WithCapabilities")
    for category in ("All", "Device", "Events", "Media", "PTZ"):
        expected = expected.removesuffix(category)
    assert body.tag == f"{{{TDS}}}{expected}Response"
    for capabilities in body.iterfind(f"{{{TDS}}}Service/{{{TDS}}}Capabilities/*"):
        assert_valid(capabilities)  # a lax wildcard holds them: check each is declared and valid


@pytest.mark.parametrize("call", [
    pytest.param(lambda d: d.GetCapabilities(Category=["Imaging"]), id="GetCapabilities-Imaging"),
    pytest.param(lambda d: d.GetCapabilities(Category=["Analytics"]), id="GetCapabilities-Analytics"),
    pytest.param(lambda d: d.GetNTP(), id="GetNTP"),
    pytest.param(lambda d: d.GetZeroConfiguration(), id="GetZeroConfiguration"),
    pytest.param(lambda d: d.SystemReboot(), id="SystemReboot"),
])
def test_refusals_are_schema_valid_faults(client: Client, call: Callable[[object], object]) -> None:
    fault = fault_answer(client, lambda: call(client.device))
    assert fault.find(f"{{{SOAP_ENV}}}Code/{{{SOAP_ENV}}}Subcode") is not None, "an ONVIF fault names its subcode"


def test_a_wrong_password_gets_a_schema_valid_fault(gateway: Gateway) -> None:
    intruder = Client(gateway.url, USER, "wrong")
    fault_answer(intruder, lambda: intruder.device.GetScopes())
