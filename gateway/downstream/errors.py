"""How a segment can fail, said once: every transport, HTTP, SOAP and XML error maps to one of these.

::

    SegmentError
    ├── SegmentUnavailable   connection refused, timeout, TLS failure, HTTP 5xx without a SOAP fault:
    │   │                    the segment is down; back off and retry
    │   └── SegmentRefused   HTTP 401/403 without a SOAP fault, or every login we can offer refused
    ├── SegmentFault         a well-formed SOAP fault, kept whole so a proxy can answer with that fault;
    │                        ``resource_unknown`` means our pull point is gone
    └── SegmentMisbehaved    not SOAP, wrong namespaces, oversized, items we must refuse: the segment is
                             lying or broken; its bad data never reaches the catalog

A plain ``SegmentError`` says the process parsing a reply died on it (gateway.federation.parsing).
"""
from __future__ import annotations

from gateway.soap.fault import CODES, RECEIVER, SoapFault

#: Longest reason text kept from a segment's fault.
MAX_REASON = 500


class SegmentError(Exception):
    """Base of everything a segment can do wrong."""


class SegmentUnavailable(SegmentError):
    pass


class SegmentRefused(SegmentUnavailable):
    """The segment refuses us: a wrong password, or a login it wants that we cannot give."""


class SegmentMisbehaved(SegmentError):
    pass


class SegmentFault(SegmentError):
    """A segment's SOAP fault: ``code`` and ``subcodes`` as local names, ``qnames`` the subcodes in Clark notation."""

    def __init__(self, code: str, subcodes: tuple[str, ...], detail: str | None, reason: str,
                 qnames: tuple[str, ...] = ()) -> None:
        super().__init__(f"{code} {'/'.join(subcodes)}: {reason}".strip())
        self.code, self.subcodes, self.detail, self.reason, self.qnames = code, subcodes, detail, reason, qnames

    def __reduce__(self) -> tuple[object, ...]:
        """Rebuilt from its fields when it comes back from a reply-parsing process."""
        return type(self), (self.code, self.subcodes, self.detail, self.reason, self.qnames)

    @property
    def resource_unknown(self) -> bool:
        """Our subscription on the segment no longer exists (segment restarted, or it expired)."""
        return self.detail == "ResourceUnknownFault" or "ResourceUnknownFault" in self.subcodes

    def soap_fault(self, segment: str) -> SoapFault:
        """The same fault, to answer a client with: code and subcodes kept, the failing segment named.

        A code outside SOAP 1.2's five is the segment's own error, so it becomes ``Receiver``.
        """
        code = self.code if self.code in CODES else RECEIVER
        reason = f"segment {segment}: {self.reason}" if self.reason else f"segment {segment} answered a fault"
        return SoapFault(code, reason[:MAX_REASON], subcodes=self.qnames)
