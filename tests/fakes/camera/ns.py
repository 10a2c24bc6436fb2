"""Namespaces of the fake camera's SOAP messages and a small element builder on lxml."""
from __future__ import annotations

from lxml import etree

ENV = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
WSTOP = "http://docs.oasis-open.org/wsn/t-1"
TNS1 = "http://www.onvif.org/ver10/topics"

#: The prefixes every reply declares on its envelope, as cameras do.
NSMAP = {"env": ENV, "wsa": WSA, "tt": TT, "ter": TER, "tds": TDS, "trt": TRT, "tr2": TR2, "tptz": TPTZ,
         "tev": TEV, "wsnt": WSNT, "wstop": WSTOP, "tns1": TNS1}


def el(ns: str, tag: str, *children: etree._Element | str | None, **attrib: object) -> etree._Element:
    """``{ns}tag`` with attributes (None values left out), child elements and text (str children)."""
    node = etree.Element(f"{{{ns}}}{tag}", {k: _text(v) for k, v in attrib.items() if v is not None})
    for child in children:
        if child is None:
            continue
        if isinstance(child, str):
            node.text = (node.text or "") + child
        else:
            node.append(child)
    return node


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def tt(tag: str, *children: etree._Element | str | None, **attrib: object) -> etree._Element:
    return el(TT, tag, *children, **attrib)


def value(ns: str, tag: str, content: object) -> etree._Element:
    """A simple-content element: ``<ns:tag>content</ns:tag>``."""
    return el(ns, tag, _text(content))

