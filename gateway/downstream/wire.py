"""SOAP toward a segment, without I/O: requests out as bytes, replies in as a body element or an error.

Whatever a segment sends, a reply leaves here as its body element or as one
of :mod:`gateway.downstream.errors`.  Replies are parsed by the SOAP core's
hardened parser (no DTDs or entities, a size cap).  A fault keeps its code,
its subcodes (as local names and as resolved QNames) and its reason, so a
proxy can answer its own client with that same fault.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass

from lxml import etree

from gateway.downstream.errors import MAX_REASON, SegmentFault, SegmentMisbehaved, SegmentRefused, SegmentUnavailable
from gateway.downstream.reach import reachable
from gateway.onvif.ns import NSMAP, TDS
from gateway.onvif.services import DEVICE
from gateway.soap.build import build_request
from gateway.soap.envelope import parse_envelope
from gateway.soap.fault import FaultVocabulary, SoapFault
from gateway.soap.ns import SOAP_ENV
from gateway.soap.security import username_token

#: Largest reply accepted from a segment: a full 1000-message pull is about 0.5 MB.
MAX_REPLY_BYTES = 8 * 1024 * 1024
#: Longest URL accepted from a segment (an XAddr, a subscription address, a stream URI).
MAX_URL = 2048

_NO_SUBCODES = FaultVocabulary()


@dataclass(frozen=True, kw_only=True)
class Credentials:
    user: str
    password: str


@dataclass(frozen=True, kw_only=True)
class Reply:
    """An HTTP reply of a segment as received, before any parsing."""

    url: str
    status: int
    data: bytes


def request(body: etree._Element, *, action: str, to: str, credentials: Credentials | None,
            now: dt.datetime | None = None) -> bytes:
    """The request envelope; with ``credentials``, a UsernameToken whose Created is ``now`` (the segment's clock)."""
    security = None
    if credentials is not None:
        security = username_token(credentials.user, credentials.password, nonce=os.urandom(16),
                                  created=now or dt.datetime.now(dt.UTC))
    return build_request(body, action=action, to=to, message_id=f"urn:uuid:{uuid.uuid4()}", security=security,
                         nsmap=NSMAP)


def reply_body(reply: Reply) -> etree._Element:
    """The body element of a segment's reply; a SOAP fault raises :class:`SegmentFault`.

    A reply that is not SOAP is the segment misbehaving, unless its HTTP
    status says the service is down, refuses us or is gone: then it is unavailable.
    """
    try:
        body = parse_envelope(reply.data, max_bytes=MAX_REPLY_BYTES, vocab=_NO_SUBCODES).body
    except SoapFault as exc:
        if reply.status in (401, 403):
            raise SegmentRefused(f"HTTP {reply.status} from {reply.url}: our login is refused") from None
        if reply.status >= 500 or reply.status == 404:
            raise SegmentUnavailable(f"HTTP {reply.status} from {reply.url}") from None
        raise SegmentMisbehaved(f"reply is not a SOAP 1.2 envelope: {exc.reason}") from None
    if body.tag == f"{{{SOAP_ENV}}}Fault":
        raise fault(body)
    return body


def fault(element: etree._Element) -> SegmentFault:
    """The :class:`SegmentFault` an ``env:Fault`` element says; a subcode whose prefix is undeclared has no QName."""
    values = list(element.iter(f"{{{SOAP_ENV}}}Value"))
    local = [(v.text or "").strip().rsplit(":", 1)[-1] for v in values]
    qnames = tuple(q for q in (_qname(v) for v in values[1:]) if q is not None)
    reason = element.findtext(f"{{{SOAP_ENV}}}Reason/{{{SOAP_ENV}}}Text") or ""
    detail = element.find(f"{{{SOAP_ENV}}}Detail")
    detail_name = etree.QName(detail[0]).localname if detail is not None and len(detail) else None
    return SegmentFault(local[0] if local else "", tuple(local[1:]), detail_name, reason.strip()[:MAX_REASON],
                        qnames)


def _qname(value: etree._Element) -> str | None:
    prefix, _, name = (value.text or "").strip().rpartition(":")
    namespace = value.nsmap.get(prefix or None)
    if not name or not namespace or len(name) > 256:
        return None
    return f"{{{namespace}}}{name}"


def http_url(text: str | None, what: str) -> str:
    """``text`` as an http(s) URL; SegmentMisbehaved if it is none, too long or holds whitespace."""
    url = (text or "").strip()
    if not url.startswith(("http://", "https://")) or len(url) > MAX_URL or any(c.isspace() for c in url):
        raise SegmentMisbehaved(f"{what} is not an http(s) URL: {url[:100]!r}")
    return url


def get_services(capabilities: bool = False) -> tuple[etree._Element, str]:
    body = etree.Element(f"{{{TDS}}}GetServices")
    etree.SubElement(body, f"{{{TDS}}}IncludeCapability").text = "true" if capabilities else "false"
    return body, DEVICE.request_action("GetServices")


def service_addresses(body: etree._Element, configured: str | None = None) -> dict[str, str]:
    """Namespace -> XAddr of a GetServicesResponse; the first of a namespace listed twice wins.

    ``configured``: a device's configured URL, to which XAddrs naming another host are re-addressed.
    """
    if body.tag != f"{{{TDS}}}GetServicesResponse":
        raise SegmentMisbehaved(f"expected GetServicesResponse, got {etree.QName(body).localname}")
    found: dict[str, str] = {}
    for service in body.iterchildren(f"{{{TDS}}}Service"):
        namespace = (service.findtext(f"{{{TDS}}}Namespace") or "").strip()
        if namespace and namespace not in found:
            xaddr = http_url(service.findtext(f"{{{TDS}}}XAddr"), f"XAddr of {namespace[:100]}")
            found[namespace] = reachable(configured, xaddr) if configured else xaddr
    return found
