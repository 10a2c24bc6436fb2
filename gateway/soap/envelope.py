"""Sans-IO SOAP 1.2 envelope parsing: request bytes in, :class:`Envelope` or :class:`SoapFault` out.

Invariant (proved by hypothesis in tests/unit/soap): for ANY input bytes,
:func:`parse_envelope` returns an :class:`Envelope` or raises
:class:`~gateway.soap.fault.SoapFault` — never another exception.

Hardening, and why each rule exists:

* The parser never resolves entities, loads a DTD or touches the network, and
  keeps libxml2's size limits (``huge_tree=False``).  That alone makes XXE and
  entity bombs harmless, but it would turn ``&xxe;`` into a silently empty
  value; so any DOCTYPE at all is refused as not well-formed — SOAP 1.2
  Part 1 §5 says an envelope MUST NOT contain a DTD.
* The size cap is checked before parsing, so a huge body costs no parse.
* A SOAP 1.1 envelope gets ``env:VersionMismatch`` (SOAP 1.2 Part 1 §5.4.7),
  which :mod:`gateway.soap.build` answers with an ``env:Upgrade`` header.

Building responses lives in :mod:`gateway.soap.build`.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.soap.fault import (
    MUST_UNDERSTAND,
    SENDER,
    VERSION_MISMATCH,
    FaultVocabulary,
    SoapFault,
)
from gateway.soap.ns import SOAP_ENV, WSA, WSSE, qn

#: SOAP 1.1 envelope namespace: recognised only to answer VersionMismatch.
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
#: The pre-standard WS-Addressing namespace some ONVIF clients still send.
WSA_2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"

_ENVELOPE = qn(SOAP_ENV, "Envelope")
_HEADER = qn(SOAP_ENV, "Header")
_BODY = qn(SOAP_ENV, "Body")
_MUST_UNDERSTAND = qn(SOAP_ENV, "mustUnderstand")
_ROLE = qn(SOAP_ENV, "role")
_SECURITY = qn(WSSE, "Security")

#: Roles that target this node (SOAP 1.2 Part 1 §2.2); an absent role means ultimateReceiver.
_OUR_ROLES = frozenset({"", SOAP_ENV + "/role/next", SOAP_ENV + "/role/ultimateReceiver"})

_WSA_NAMESPACES = (WSA, WSA_2004)
_WSA_HEADERS = ("Action", "MessageID", "To", "ReplyTo", "From", "FaultTo", "RelatesTo")

#: Header blocks the core processes (or deliberately accepts) itself.
UNDERSTOOD_HEADERS: frozenset[str] = frozenset(
    {qn(ns, local) for ns in _WSA_NAMESPACES for local in _WSA_HEADERS} | {_SECURITY}
)


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """A parsed request envelope.

    ``body`` is the first element child of ``env:Body``.  ``security`` is the
    ``wsse:Security`` header block, if any.  WS-Addressing values are ``None``
    when absent.
    """

    root: etree._Element
    header: etree._Element | None
    body: etree._Element
    action: str | None
    message_id: str | None
    to: str | None
    security: etree._Element | None


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers must not be shared between threads,
    # and handlers may run parse work in executor threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_envelope(data: bytes, *, max_bytes: int, vocab: FaultVocabulary) -> Envelope:
    """Parse one request; raise a ``Sender`` (or ``VersionMismatch``) fault for anything else."""
    if len(data) > max_bytes:
        raise SoapFault(
            SENDER, f"request body exceeds {max_bytes} bytes", subcodes=vocab.too_large, http_status=413
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.LxmlError:  # XMLSyntaxError, and the rarer ParserError, both mean "not a document"
        raise SoapFault(SENDER, "request is not well-formed XML", subcodes=vocab.well_formed) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SoapFault(SENDER, "a SOAP envelope must not contain a DTD", subcodes=vocab.well_formed)
    if root.tag == qn(SOAP11_ENV, "Envelope"):
        raise SoapFault(VERSION_MISMATCH, "SOAP 1.1 is not supported; use SOAP 1.2")
    if root.tag != _ENVELOPE:
        raise SoapFault(SENDER, "root element is not a SOAP 1.2 env:Envelope", subcodes=vocab.namespace)
    header, body_el = _split(root, vocab)
    body = next(iter(body_el.iterchildren(tag=etree.Element)), None)
    if body is None:
        raise SoapFault(SENDER, "env:Body is empty", subcodes=vocab.namespace)
    return Envelope(
        root=root,
        header=header,
        body=body,
        action=_wsa_text(header, "Action"),
        message_id=_wsa_text(header, "MessageID"),
        to=_wsa_text(header, "To"),
        security=None if header is None else header.find(_SECURITY),
    )


def _split(root: etree._Element, vocab: FaultVocabulary) -> tuple[etree._Element | None, etree._Element]:
    """Return (Header, Body): an optional Header, then a Body, then nothing (SOAP 1.2 Part 1 §5)."""
    children = list(root.iterchildren(tag=etree.Element))
    header = children.pop(0) if children and children[0].tag == _HEADER else None
    if len(children) != 1 or children[0].tag != _BODY:
        raise SoapFault(SENDER, "env:Envelope must hold an optional env:Header and one env:Body",
                        subcodes=vocab.namespace)
    return header, children[0]


def _wsa_text(header: etree._Element | None, local: str) -> str | None:
    if header is None:
        return None
    for ns in _WSA_NAMESPACES:
        el = header.find(qn(ns, local))
        if el is not None:
            return (el.text or "").strip()
    return None


def check_must_understand(envelope: Envelope, understood: frozenset[str] = UNDERSTOOD_HEADERS) -> None:
    """Raise ``env:MustUnderstand`` naming every targeted mandatory header block not in ``understood``."""
    if envelope.header is None:
        return
    missing = tuple(
        block.tag
        for block in envelope.header.iterchildren(tag=etree.Element)
        if (block.get(_MUST_UNDERSTAND) or "").strip() in ("1", "true")
        and (block.get(_ROLE) or "").strip() in _OUR_ROLES
        and block.tag not in understood
    )
    if missing:
        raise SoapFault(MUST_UNDERSTAND, "mandatory SOAP header blocks not understood", not_understood=missing)
