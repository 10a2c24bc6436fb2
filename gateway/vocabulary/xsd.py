"""The xs:double text the gateway writes, in one place.

Numbers reach the wire from two sides — the GeoLocation of a resource event
(onvif.resource_event.write) and the LocationFilter of a filter sent to a
segment (query.filters) — and both must spell a value alike, so they share
this function instead of each keeping a copy.  It sits at the bottom because
neither of those layers may import the other.
"""
from __future__ import annotations


def xsd_double(value: float) -> str:
    """xs:double lexical form without a spurious ``.0`` on whole numbers (``300`` rather than ``300.0``).

    Other values are Python's shortest round-tripping ``repr`` (``0.1``, ``1e-05``,
    ``1.5e+300``), which is valid xs:double text.  NaN and infinities raise
    (ValueError, OverflowError): the gateway never writes them.
    """
    return repr(value) if value != int(value) else str(int(value))
