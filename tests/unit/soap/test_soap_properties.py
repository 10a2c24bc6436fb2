"""The fuzz contract: any bytes give an Envelope or a SoapFault, never another exception; faults always serialise."""
from __future__ import annotations

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from soapkit import VOCAB, envelope, fault_of, make_app, raw_call, request

from gateway.onvif.ns import NSMAP
from gateway.soap.build import build_fault
from gateway.soap.envelope import Envelope, check_must_understand, parse_envelope
from gateway.soap.fault import CODES, SoapFault
from gateway.soap.ns import SOAP_ENV, qn

CAP = 8192
VALID = request(extra='<wsse:Security><wsse:UsernameToken><wsse:Username>a</wsse:Username>'
                      '</wsse:UsernameToken></wsse:Security><h:X xmlns:h="urn:h" s:mustUnderstand="1"/>')
LATIN1 = b'<?xml version="1.0" encoding="ISO-8859-1"?>' + envelope("<t:Op>\xe9</t:Op>").decode().encode("latin-1")
SEEDS = [VALID, envelope("<t:Op/>"), LATIN1, b"<!DOCTYPE a [<!ENTITY e 'x'>]>" + envelope("<t:Op>&e;</t:Op>")]


def outcome(data: bytes) -> Envelope | SoapFault:
    """parse + mustUnderstand; anything but an Envelope or a SoapFault propagates and fails the test."""
    try:
        env = parse_envelope(data, max_bytes=CAP, vocab=VOCAB)
        check_must_understand(env)
        return env
    except SoapFault as fault:
        assert fault.code in CODES and fault.http_status in (400, 413, 500)
        return fault


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid seed envelope with random byte edits, then perhaps truncated."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from([*b"<>&;/\"'=:![]-?x", 0, 0xFF, 0xC3]))
        if kind == "insert" or at == len(data):
            data.insert(at, byte)
        elif kind == "replace":
            data[at] = byte
        else:
            del data[at]
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes(data: bytes) -> None:
    assert isinstance(outcome(data), (Envelope, SoapFault))


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_any_mutation_of_a_valid_envelope(data: bytes) -> None:
    assert isinstance(outcome(data), (Envelope, SoapFault))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.lists(st.text(alphabet="abcXYZ_", min_size=1, max_size=8), max_size=3))
def test_any_reason_and_subcodes_serialise_and_read_back(reason: str, locals_: list[str]) -> None:
    subcodes = tuple(qn(f"urn:sub:{i}", name) for i, name in enumerate(locals_))
    data = build_fault(SoapFault("Sender", reason, subcodes=subcodes), relates_to=reason or None, nsmap=NSMAP)
    code, read_subcodes, read_reason = fault_of(data)
    assert (code, read_subcodes) == (qn(SOAP_ENV, "Sender"), list(subcodes))
    assert (read_reason or "") == "".join(c for c in reason if _xml_char(c))


def _xml_char(c: str) -> bool:
    """XML 1.0 Char production."""
    n = ord(c)
    return c in "\t\n\r" or 0x20 <= n <= 0xD7FF or 0xE000 <= n <= 0xFFFD or n >= 0x10000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(mutated(), st.binary(max_size=300)))
def test_the_app_answers_any_body_with_an_envelope_and_logs_nothing(caplog, data: bytes) -> None:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="gateway.soap"):
        result = raw_call(make_app(), {"path": "/onvif/event_service"}, [data])
    assert result.status in (200, 400, 500)
    root = etree.fromstring(result.body)
    assert root.tag == qn(SOAP_ENV, "Envelope")
    if result.status == 500:
        assert fault_of(result.body)[0] in (qn(SOAP_ENV, "MustUnderstand"), qn(SOAP_ENV, "VersionMismatch"))
    assert caplog.records == []
