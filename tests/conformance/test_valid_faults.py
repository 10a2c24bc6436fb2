"""Every fault family the gateway sends validates: the envelope, the code and subcodes, and each env:Detail child.

Faults a client provokes are asked for over HTTP from a real gateway process; every constructor of the
ONVIF fault vocabulary is also rendered in-process, so families that are hard to reach over the wire
(a subscription that cannot be created or destroyed, an unrecognised policy) are checked as well.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from lxml import etree

from gateway.onvif import faults
from gateway.onvif.ns import NSMAP
from gateway.soap.build import build_fault
from gateway.soap.fault import SoapFault
from tests.conformance.schemas import SOAP_ENV, assert_valid_envelope
from tests.conformance.wire import fault_answer
from tests.interop.conftest import PASSWORD, USER, Gateway
from tests.interop.onvif_client import TEV, TT, WSNT, Client, topic_expression, tt

pytestmark = pytest.mark.interop
WSRF_R = "http://docs.oasis-open.org/wsrf/r-2"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

IN_PROCESS: dict[str, Callable[[], SoapFault]] = {
    "sender": lambda: faults.sender("bad", "InvalidArgs"),
    "receiver": lambda: faults.receiver("broken", "Action"),
    "invalid_arg_val": lambda: faults.invalid_arg_val("Address", "no such address"),
    "not_authorized": lambda: faults.not_authorized("who are you"),
    "action_not_supported": lambda: faults.action_not_supported("Optional Action Not Implemented: X", "NoSuchService"),
    "unknown_action": lambda: faults.unknown_action("no such operation"),
    "invalid_filter": lambda: faults.invalid_filter("bad", [f"{{{TT}}}Bogus", "{urn:example:other}Filter"], now=NOW),
    "unrecognized_policy_request": lambda: faults.unrecognized_policy_request("bad", [f"{{{TEV}}}Nope"], now=NOW),
    "unacceptable_initial_termination_time": lambda: faults.unacceptable_initial_termination_time(
        "too short", NOW, NOW + dt.timedelta(hours=1), now=NOW),
    "unacceptable_initial_termination_time_unbounded": lambda: faults.unacceptable_initial_termination_time(
        "too short", NOW, now=NOW),
    "unacceptable_termination_time": lambda: faults.unacceptable_termination_time(
        "too long", NOW, NOW + dt.timedelta(hours=1), now=NOW),
    "resource_unknown": lambda: faults.resource_unknown("gone", now=NOW),
    "unable_to_get_messages": lambda: faults.unable_to_get_messages("busy", now=NOW),
    "topic_expression_dialect_unknown": lambda: faults.topic_expression_dialect_unknown("dialect", now=NOW),
    "invalid_topic_expression": lambda: faults.invalid_topic_expression("topic", now=NOW),
    "topic_not_supported": lambda: faults.topic_not_supported("topic", now=NOW),
    "invalid_message_content_expression": lambda: faults.invalid_message_content_expression("content", now=NOW),
    "invalid_producer_properties_expression": lambda: faults.invalid_producer_properties_expression("pp", now=NOW),
    "subscribe_creation_failed": lambda: faults.subscribe_creation_failed("db down", now=NOW),
    "unable_to_destroy_subscription": lambda: faults.unable_to_destroy_subscription("db down", now=NOW),
    "pull_messages_fault": lambda: faults.pull_messages_fault(60.0, 1000),
}


@pytest.mark.parametrize("name", IN_PROCESS)
def test_every_fault_of_the_vocabulary_is_schema_valid(name: str) -> None:
    fault = IN_PROCESS[name]()
    body = assert_valid_envelope(build_fault(fault, relates_to="urn:uuid:1", nsmap=NSMAP))
    assert body.tag == f"{{{SOAP_ENV}}}Fault"
    assert len(body.findall(f"{{{SOAP_ENV}}}Detail/*")) == len(fault.detail)


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Client:
    return Client(gateway.url, USER, PASSWORD)


def detail(fault: etree._Element) -> str:
    [child] = fault.findall(f"{{{SOAP_ENV}}}Detail/*")
    return str(child.tag)


@pytest.mark.parametrize(("filters", "expected"), [
    pytest.param((tt("BogusFilter"),), f"{{{WSNT}}}InvalidFilterFault", id="unknown-filter"),
    pytest.param((tt("PrefixFilter"),), f"{{{WSNT}}}InvalidFilterFault", id="empty-prefix"),
    pytest.param((topic_expression("tns1:Nothing/Here"),), f"{{{WSNT}}}TopicNotSupportedFault", id="topic"),
    pytest.param((topic_expression("tns1:Resource", dialect="urn:example:dialect"),),
                 f"{{{WSNT}}}TopicExpressionDialectUnknownFault", id="dialect"),
    pytest.param((topic_expression("tns1:Resource[["),), f"{{{WSNT}}}InvalidTopicExpressionFault", id="syntax"),
])
def test_subscription_refusals_over_http(client: Client, filters: tuple[etree._Element, ...], expected: str) -> None:
    assert detail(fault_answer(client, lambda: client.subscribe(*filters))) == expected


def test_unacceptable_initial_termination_time(client: Client) -> None:
    fault = fault_answer(client, lambda: client.subscribe(termination="PT0.001S"))
    assert detail(fault) == f"{{{WSNT}}}UnacceptableInitialTerminationTimeFault"


def test_pull_point_refusals_over_http(client: Client) -> None:
    address = client.subscribe(tt("PrefixFilter", tt("Prefix", text="nowhere")))
    client.drain(address)
    point = client.pull_point(address)
    fault = fault_answer(client, lambda: point.PullMessages(Timeout="PT1H", MessageLimit=1))
    assert detail(fault) == f"{{{TEV}}}PullMessagesFaultResponse"
    waiting = threading.Thread(target=client.pull, args=(address, "PT3S"))
    waiting.start()
    time.sleep(0.5)
    other = Client(_device_url(client), USER, PASSWORD)
    fault = fault_answer(other, lambda: other.pull_point(address).PullMessages(Timeout="PT1S", MessageLimit=1))
    waiting.join()
    assert detail(fault) == f"{{{WSNT}}}UnableToGetMessagesFault"
    fault = fault_answer(client, lambda: client.manager(address).Renew(TerminationTime="P3650D"))
    assert detail(fault) == f"{{{WSNT}}}UnacceptableTerminationTimeFault"
    gone = address.rsplit("/", 1)[0] + "/no-such-pull-point"
    fault = fault_answer(client, lambda: client.pull_point(gone).PullMessages(Timeout="PT0S", MessageLimit=1))
    assert detail(fault) == f"{{{WSRF_R}}}ResourceUnknownFault"


def _device_url(client: Client) -> str:
    return str(client.device._binding_options["address"])


ENVELOPE = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
            "<s:Body>{}</s:Body></s:Envelope>")


@pytest.mark.parametrize(("path", "body", "status"), [
    pytest.param("/onvif/device_service", ENVELOPE.format("<tds:NoSuchOperation/>"), 400, id="unknown-operation"),
    pytest.param("/onvif/device_service", ENVELOPE.format("<tds:SystemReboot/>"), 500, id="not-implemented"),
    pytest.param("/onvif/Media", ENVELOPE.format("<tds:GetScopes/>"), 404, id="no-endpoint"),
    pytest.param("/onvif/device_service", "<not-xml", 400, id="malformed"),
    pytest.param("/onvif/device_service", '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>', None,
                 id="soap-1.1"),
])
def test_core_faults_over_http(gateway: Gateway, path: str, body: str, status: int | None) -> None:
    reply = httpx.post(gateway.base + path, content=body.encode(),
                       headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    if status is not None:
        assert reply.status_code == status
    fault = assert_valid_envelope(reply.content)
    assert fault.tag == f"{{{SOAP_ENV}}}Fault"
