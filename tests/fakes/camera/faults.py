"""SOAP 1.2 envelopes and the faults the fake camera answers with, shaped as ONVIF devices send them."""
from __future__ import annotations

from lxml import etree

from tests.fakes.camera.ns import ENV, NSMAP, WSA, el

FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"


class Fault(Exception):
    """``env:<code>`` with ``ter:`` subcodes (outermost first) and a reason; env:Sender is HTTP 400, else 500."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.code, self.subcodes, self.reason = code, subcodes, reason

    @property
    def status(self) -> int:
        return 400 if self.code == "Sender" else 500

    def element(self) -> etree._Element:
        code = el(ENV, "Code", el(ENV, "Value", f"env:{self.code}"))
        parent = code
        for sub in self.subcodes:
            node = el(ENV, "Subcode", el(ENV, "Value", f"ter:{sub}"))
            parent.append(node)
            parent = node
        text = el(ENV, "Text", self.reason)
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        return el(ENV, "Fault", code, el(ENV, "Reason", text))


def invalid_arg(specific: str, reason: str) -> Fault:
    """env:Sender / ter:InvalidArgVal / ter:<specific>: an unknown token, a bad value."""
    return Fault("Sender", ("InvalidArgVal", specific), reason)


def no_profile(token: str | None) -> Fault:
    return invalid_arg("NoProfile", f"the requested profile token {(token or '')[:64]!r} does not exist")


def not_authorized() -> Fault:
    return Fault("Sender", ("NotAuthorized",), "Sender not Authorized")


def not_supported(what: str) -> Fault:
    return Fault("Receiver", ("ActionNotSupported",), f"{what} is not supported by this device")


def envelope(body: etree._Element, action: str | None = None, relates_to: str | None = None) -> bytes:
    """A complete reply envelope around ``body`` (a response element or an ``env:Fault``)."""
    root = etree.Element(f"{{{ENV}}}Envelope", nsmap=NSMAP)
    header = el(ENV, "Header")
    if body.tag == f"{{{ENV}}}Fault":
        action = FAULT_ACTION
    if action:
        header.append(el(WSA, "Action", action))
    if relates_to:
        header.append(el(WSA, "RelatesTo", relates_to))
    root.append(header)
    root.append(el(ENV, "Body", body))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

