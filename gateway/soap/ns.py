"""Namespaces of the SOAP 1.2 envelope and the WS-* headers the core handles."""

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
XML = "http://www.w3.org/XML/1998/namespace"

#: wsa:Action of every fault (WS-Addressing 1.0 SOAP binding; ONVIF Core requires it for event faults).
FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"


def qn(ns: str, local: str) -> str:
    """Clark notation ``{ns}local``, the form lxml uses for tags."""
    return f"{{{ns}}}{local}"
