"""parse_envelope and check_must_understand: what is accepted, and the exact fault for what is not."""
from __future__ import annotations

import pytest
from soapkit import VOCAB, T, envelope, request, ter

from gateway.soap.envelope import WSA_2004, check_must_understand, parse_envelope
from gateway.soap.fault import MUST_UNDERSTAND, SENDER, VERSION_MISMATCH, SoapFault
from gateway.soap.ns import SOAP_ENV, WSSE, qn

CAP = 4096


def parse(data: bytes):
    return parse_envelope(data, max_bytes=CAP, vocab=VOCAB)


def refused(data: bytes) -> SoapFault:
    with pytest.raises(SoapFault) as info:
        parse(data)
    return info.value


def test_reads_body_and_addressing_headers() -> None:
    header = ("<wsa:Action> urn:a </wsa:Action><wsa:MessageID>urn:uuid:42</wsa:MessageID>"
              "<wsa:To>http://gw/onvif/event_service</wsa:To>"
              "<wsse:Security><wsse:UsernameToken/></wsse:Security>")
    env = parse(envelope("<!-- c --><?pi x?><t:Op>x</t:Op>", header))
    assert env.body.tag == qn(T, "Op")
    assert (env.action, env.message_id, env.to) == ("urn:a", "urn:uuid:42", "http://gw/onvif/event_service")
    assert env.security is not None and env.security.tag == qn(WSSE, "Security")
    assert env.header is not None and env.root.tag == qn(SOAP_ENV, "Envelope")


def test_reads_2004_addressing_and_tolerates_missing_header() -> None:
    data = envelope("<t:Op/>", f'<a:Action xmlns:a="{WSA_2004}">urn:old</a:Action>')
    assert parse(data).action == "urn:old"
    bare = parse(f'<e:Envelope xmlns:e="{SOAP_ENV}"><e:Body><x/></e:Body></e:Envelope>'.encode())
    assert (bare.header, bare.action, bare.message_id, bare.to, bare.security) == (None, None, None, None, None)
    assert bare.body.tag == "x"


@pytest.mark.parametrize("data, code, subcodes", [
    (b"<not xml", SENDER, VOCAB.well_formed),
    (b"", SENDER, VOCAB.well_formed),
    (b"<!DOCTYPE e><e/>", SENDER, VOCAB.well_formed),
    (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>',
     VERSION_MISMATCH, ()),
    (b'<s:Envelope xmlns:s="urn:other"><s:Body><x/></s:Body></s:Envelope>', SENDER, VOCAB.namespace),
    (f'<s:Envelope xmlns:s="{SOAP_ENV}"/>'.encode(), SENDER, VOCAB.namespace),
    (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Header/></s:Envelope>'.encode(), SENDER, VOCAB.namespace),
    (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>text only</s:Body></s:Envelope>'.encode(), SENDER, VOCAB.namespace),
    (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><x/></s:Body><s:Body><x/></s:Body></s:Envelope>'.encode(),
     SENDER, VOCAB.namespace),
    (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><x/></s:Body><s:Header/></s:Envelope>'.encode(),
     SENDER, VOCAB.namespace),
])
def test_refusals(data: bytes, code: str, subcodes: tuple[str, ...]) -> None:
    fault = refused(data)
    # SOAP 1.2 HTTP binding: only env:Sender maps to 400.
    assert (fault.code, fault.subcodes, fault.http_status) == (code, subcodes, 400 if code == SENDER else 500)


def test_size_cap_is_413_and_inclusive() -> None:
    exact = request()
    assert parse_envelope(exact, max_bytes=len(exact), vocab=VOCAB).body.tag == qn(T, "Echo")
    fault = refused(request(text="x" * CAP))
    assert (fault.code, fault.subcodes, fault.http_status) == (SENDER, VOCAB.too_large, 413)


def test_internal_entity_is_refused_not_silently_dropped() -> None:
    data = (f'<!DOCTYPE s:Envelope [<!ENTITY who "mallory">]><s:Envelope xmlns:s="{SOAP_ENV}">'
            f'<s:Body><x>&who;</x></s:Body></s:Envelope>').encode()
    fault = refused(data)
    assert (fault.code, fault.subcodes) == (SENDER, VOCAB.well_formed)


def test_must_understand_names_each_unknown_mandatory_block() -> None:
    header = ('<h:A xmlns:h="urn:h" s:mustUnderstand="1"/><h:B xmlns:h="urn:h" s:mustUnderstand=" true "/>'
              '<h:C xmlns:h="urn:h" s:mustUnderstand="0"/><h:D xmlns:h="urn:h"/>'
              f'<h:E xmlns:h="urn:h" s:mustUnderstand="1" s:role="{SOAP_ENV}/role/none"/>'
              '<h:F xmlns:h="urn:h" s:mustUnderstand="1" s:role="urn:some-other-node"/>'
              '<wsa:Action s:mustUnderstand="1">urn:a</wsa:Action>'
              '<wsse:Security s:mustUnderstand="true"/>')
    env = parse(envelope("<t:Op/>", header))
    with pytest.raises(SoapFault) as info:
        check_must_understand(env)
    assert info.value.code == MUST_UNDERSTAND
    assert info.value.not_understood == ("{urn:h}A", "{urn:h}B")
    assert info.value.http_status == 500


def test_must_understand_passes_understood_and_optional_blocks() -> None:
    header = ('<wsa:To s:mustUnderstand="1">x</wsa:To><wsse:Security s:mustUnderstand="1"/>'
              '<h:X xmlns:h="urn:h">optional</h:X>')
    check_must_understand(parse(envelope("<t:Op/>", header)))
    check_must_understand(parse(f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><x/></s:Body></s:Envelope>'.encode()))
    custom = parse(envelope("<t:Op/>", '<h:X xmlns:h="urn:h" s:mustUnderstand="1"/>'))
    check_must_understand(custom, understood=frozenset({"{urn:h}X"}))


def test_subcode_vocabulary_is_passed_through() -> None:
    fault = refused(b"\xff\xfe garbage")
    assert fault.subcodes == (ter("WellFormed"),)
