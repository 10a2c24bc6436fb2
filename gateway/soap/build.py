"""Sans-IO SOAP 1.2 envelope building: response and fault envelopes as UTF-8 bytes.

Every namespace of the application's prefix table is declared on the
``env:Envelope`` root and nothing here ever runs lxml's namespace cleanup:
QNames inside text content (``ter:InvalidArgVal`` in a fault subcode,
``tns1:Resource/MediaProfile`` in a topic) need their prefixes in scope, and
a serializer that drops "unused" declarations breaks them (docs/wire-format.md §1.2).
Namespaces the table lacks (a subcode's, a not-understood header's) get
generated ``nsN`` prefixes, also on the root.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass

from lxml import etree

from gateway.soap.fault import MUST_UNDERSTAND, VERSION_MISMATCH, SoapFault
from gateway.soap.ns import FAULT_ACTION, SOAP_ENV, WSA, XML, qn

#: Characters XML 1.0 cannot carry; stripped from fault reasons, which may quote client input.
_NOT_XML_CHAR = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class SerializedBody:
    """A reply body its handler wrote as UTF-8 XML text, put into ``env:Body`` as it is.

    For replies too large to build as a tree cheaply: a thousand events are
    cheaper to write as text than as elements to build and serialise.  The
    handler answers for the text being well-formed; it may use the prefixes
    of the application's table, which the envelope declares.
    """

    xml: bytes


def build_response(
    body: etree._Element | Sequence[etree._Element] | SerializedBody,
    *,
    action: str,
    relates_to: str | None,
    nsmap: Mapping[str, str],
) -> bytes:
    """Wrap a handler's body element(s) or text in an envelope with ``wsa:Action`` and ``wsa:RelatesTo``.

    The body elements are moved (not copied) into the envelope: responses can
    be large, and the handler is done with them.
    """
    root, prefixes = _envelope(nsmap, ())
    header = etree.SubElement(root, qn(SOAP_ENV, "Header"))
    _addressing(header, action, relates_to)
    if isinstance(body, SerializedBody):
        # The envelope without a Body ends with its closing tag; the Body goes just before it.
        env = prefixes[SOAP_ENV]
        data, end = _serialize(root), f"</{env}:Envelope>".encode()
        assert data.endswith(end)
        return b"".join((data[:-len(end)], f"<{env}:Body>".encode(), body.xml, f"</{env}:Body>".encode(), end))
    body_el = etree.SubElement(root, qn(SOAP_ENV, "Body"))
    body_el.extend([body] if isinstance(body, etree._Element) else list(body))
    return _serialize(root)


def build_request(
    body: etree._Element,
    *,
    action: str,
    to: str,
    message_id: str,
    security: etree._Element | None,
    nsmap: Mapping[str, str],
) -> bytes:
    """A request envelope, as the gateway sends it to a downstream service.

    WS-Addressing ``Action``, ``MessageID`` and ``To`` are always present: the
    event service requires them (docs/wire-format.md §2.1); ``security`` is a ready
    ``wsse:Security`` header block, if any.
    """
    root, _ = _envelope(nsmap, ())
    header = etree.SubElement(root, qn(SOAP_ENV, "Header"))
    etree.SubElement(header, qn(WSA, "Action")).text = action
    etree.SubElement(header, qn(WSA, "MessageID")).text = message_id
    etree.SubElement(header, qn(WSA, "To")).text = to
    if security is not None:
        header.append(security)
    etree.SubElement(root, qn(SOAP_ENV, "Body")).append(body)
    return _serialize(root)


def build_fault(fault: SoapFault, *, relates_to: str | None, nsmap: Mapping[str, str]) -> bytes:
    """Serialise ``fault`` as an ``env:Fault`` envelope with ``wsa:Action`` = FAULT_ACTION."""
    extra = [*fault.subcodes, *fault.not_understood]
    if fault.code == VERSION_MISMATCH:
        extra.append(qn(SOAP_ENV, "Envelope"))
    root, prefixes = _envelope(nsmap, extra)
    env = prefixes[SOAP_ENV]
    header = etree.SubElement(root, qn(SOAP_ENV, "Header"))
    if fault.code == VERSION_MISMATCH:
        # SOAP 1.2 Part 1 §5.4.7: tell a SOAP 1.1 sender which envelope we accept.
        upgrade = etree.SubElement(header, qn(SOAP_ENV, "Upgrade"))
        supported = etree.SubElement(upgrade, qn(SOAP_ENV, "SupportedEnvelope"))
        supported.set("qname", f"{env}:Envelope")
    if fault.code == MUST_UNDERSTAND:
        for clark in fault.not_understood:
            etree.SubElement(header, qn(SOAP_ENV, "NotUnderstood")).set("qname", _prefixed(clark, prefixes))
    _addressing(header, FAULT_ACTION, relates_to)

    fault_el = etree.SubElement(etree.SubElement(root, qn(SOAP_ENV, "Body")), qn(SOAP_ENV, "Fault"))
    parent = etree.SubElement(fault_el, qn(SOAP_ENV, "Code"))
    etree.SubElement(parent, qn(SOAP_ENV, "Value")).text = f"{env}:{fault.code}"
    for clark in fault.subcodes:
        parent = etree.SubElement(parent, qn(SOAP_ENV, "Subcode"))
        etree.SubElement(parent, qn(SOAP_ENV, "Value")).text = _prefixed(clark, prefixes)
    reason = etree.SubElement(etree.SubElement(fault_el, qn(SOAP_ENV, "Reason")), qn(SOAP_ENV, "Text"))
    reason.set(qn(XML, "lang"), "en")
    reason.text = _NOT_XML_CHAR.sub("", fault.reason)
    if fault.detail:
        # Copied, not moved: a fault instance may be raised more than once.
        etree.SubElement(fault_el, qn(SOAP_ENV, "Detail")).extend(deepcopy(d) for d in fault.detail)
    return _serialize(root)


def _envelope(nsmap: Mapping[str, str], clark_names: Iterable[str]) -> tuple[etree._Element, dict[str, str]]:
    """Create the root with ``nsmap`` plus env, wsa and the namespaces of ``clark_names`` declared."""
    declared = {prefix: uri for prefix, uri in nsmap.items() if prefix}
    prefixes: dict[str, str] = {}
    for prefix, uri in declared.items():
        prefixes.setdefault(uri, prefix)
    wanted = [SOAP_ENV, WSA, *(etree.QName(name).namespace for name in clark_names)]
    for uri in wanted:
        if uri and uri not in prefixes:
            prefix = _free_prefix(declared, {SOAP_ENV: "env", WSA: "wsa"}.get(uri, ""))
            declared[prefix] = uri
            prefixes[uri] = prefix
    return etree.Element(qn(SOAP_ENV, "Envelope"), nsmap=declared), prefixes


def _free_prefix(declared: Mapping[str, str], preferred: str) -> str:
    if preferred and preferred not in declared:
        return preferred
    n = 0
    while f"ns{n}" in declared:
        n += 1
    return f"ns{n}"


def _prefixed(clark: str, prefixes: Mapping[str, str]) -> str:
    name = etree.QName(clark)
    return f"{prefixes[name.namespace]}:{name.localname}" if name.namespace else name.localname


def _addressing(header: etree._Element, action: str, relates_to: str | None) -> None:
    etree.SubElement(header, qn(WSA, "Action")).text = action
    if relates_to:
        etree.SubElement(header, qn(WSA, "RelatesTo")).text = _NOT_XML_CHAR.sub("", relates_to)


def _serialize(root: etree._Element) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data
