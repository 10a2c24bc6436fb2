"""How a segment can fail, said once: every transport, HTTP, SOAP and XML error maps to one of these.

::

    SegmentError
    ├── SegmentUnavailable   connection refused, timeout, TLS failure, HTTP 5xx without a SOAP fault:
    │                        the segment is down; back off and retry
    ├── SegmentFault         a well-formed SOAP fault; ``resource_unknown`` means our pull point is gone
    └── SegmentMisbehaved    not SOAP, wrong namespaces, oversized, items we must refuse: the segment is
                             lying or broken; its bad data never reaches the catalog

A plain ``SegmentError`` says the process parsing a reply died on it (gateway.federation.parsing).
"""
from __future__ import annotations


class SegmentError(Exception):
    """Base of everything a segment can do wrong."""


class SegmentUnavailable(SegmentError):
    pass


class SegmentMisbehaved(SegmentError):
    pass


class SegmentFault(SegmentError):
    def __init__(self, code: str, subcodes: tuple[str, ...], detail: str | None, reason: str) -> None:
        super().__init__(f"{code} {'/'.join(subcodes)}: {reason}".strip())
        self.code, self.subcodes, self.detail, self.reason = code, subcodes, detail, reason

    def __reduce__(self) -> tuple[object, ...]:
        """Rebuilt from its fields when it comes back from a reply-parsing process."""
        return type(self), (self.code, self.subcodes, self.detail, self.reason)

    @property
    def resource_unknown(self) -> bool:
        """Our subscription on the segment no longer exists (segment restarted, or it expired)."""
        return self.detail == "ResourceUnknownFault" or "ResourceUnknownFault" in self.subcodes
