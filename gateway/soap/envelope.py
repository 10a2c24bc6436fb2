"""Sans-IO SOAP 1.2 envelope parsing and building.

CONTRACT (implementation in progress): ``parse_envelope(data, max_bytes=...)``
returns an :class:`Envelope` or raises :class:`~gateway.soap.fault.SoapFault`
(``Sender``) for any input; ``build_response`` / ``build_fault`` return bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree


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
