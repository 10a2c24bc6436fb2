"""SOAP 1.2 faults: the one exception type every layer raises for a client-visible error.

A fault says whose fault it is (``Sender``: the client's, HTTP 400; anything
else: ours, HTTP 500 — SOAP 1.2 HTTP binding), carries optional nested
subcodes as Clark-notation QNames, a human reason, and optional detail
elements.  The SOAP core serialises it; nothing above needs to know how.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

SENDER = "Sender"
RECEIVER = "Receiver"
MUST_UNDERSTAND = "MustUnderstand"
VERSION_MISMATCH = "VersionMismatch"
DATA_ENCODING_UNKNOWN = "DataEncodingUnknown"

CODES = frozenset({SENDER, RECEIVER, MUST_UNDERSTAND, VERSION_MISMATCH, DATA_ENCODING_UNKNOWN})


class SoapFault(Exception):
    """A fault to send back instead of a response.

    ``subcodes`` are Clark QNames (``{ns}local``), outermost first.
    ``detail`` elements go into ``env:Detail`` as they are.
    ``not_understood`` lists header QNames for ``env:NotUnderstood`` blocks.
    """

    def __init__(
        self,
        code: str,
        reason: str,
        *,
        subcodes: tuple[str, ...] = (),
        detail: tuple[etree._Element, ...] = (),
        not_understood: tuple[str, ...] = (),
        http_status: int | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"not a SOAP 1.2 fault code: {code!r}")
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcodes = subcodes
        self.detail = detail
        self.not_understood = not_understood
        self.http_status = http_status or (400 if code == SENDER else 500)

    def __repr__(self) -> str:
        return f"SoapFault({self.code!r}, {self.reason!r}, subcodes={self.subcodes!r})"


@dataclass(frozen=True, kw_only=True)
class FaultVocabulary:
    """Subcodes the SOAP core attaches to the faults it raises itself.

    The core knows the *kinds* of protocol error (a body that is not XML, a
    request it cannot authenticate, ...); the application layer says which
    subcodes each kind carries (ONVIF: ``ter:WellFormed``, ``ter:NotAuthorized``
    ...).  Each value is a tuple of Clark QNames, outermost first.
    """

    no_endpoint: tuple[str, ...] = ()  # a POST to a path where no endpoint is
    bad_request: tuple[str, ...] = ()  # the HTTP request around the envelope: its media type or Host header
    well_formed: tuple[str, ...] = ()  # not XML, DTD present, entity tricks
    namespace: tuple[str, ...] = ()  # not a SOAP 1.2 Envelope/Body
    too_large: tuple[str, ...] = ()  # body over the size cap
    not_authorized: tuple[str, ...] = ()  # authentication failed or insufficient level
    internal: tuple[str, ...] = ()  # an unexpected error on our side
