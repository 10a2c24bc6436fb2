"""Addresses a device reports, made reachable from here (docs/wire-format.md §12.3).

A camera behind NAT or port forwarding reports its own internal address in
its XAddrs and in the stream and snapshot URIs it returns; only the address
the segment was added with is known to reach it.  So a reported URL that
names another host is re-addressed to the configured one; a URL on the
configured host is kept as it is, since its port may be a real second
server of the device.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from gateway.catalog.model import DEVICE, Segment

#: Schemes served by the device's web server, whose address the configured URL gives in full.
WEB_SCHEMES = frozenset({"http", "https"})


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def reachable(configured: str, reported: str) -> str:
    """``reported`` as seen from here, given the ``configured`` device service URL of its segment.

    On another host, an http(s) URL takes the configured scheme, host and
    port (the forwarded web port); any other scheme (``rtsp``) keeps its
    scheme and port and takes only the host, as the configured URL says
    nothing of the device's other ports.  Path, query and login are kept.
    A URL that cannot be parsed is returned as it is, for its caller to refuse.
    """
    try:
        mine, theirs = urlsplit(configured), urlsplit(reported)
        here, there, port = mine.hostname, theirs.hostname, theirs.port  # hosts lower-cased, without brackets
    except ValueError:
        return reported
    if here is None or there is None or here == there:
        return reported
    login = theirs.netloc.rpartition("@")[0]
    if theirs.scheme.lower() in WEB_SCHEMES:
        scheme, netloc = mine.scheme, mine.netloc.rpartition("@")[2]
    else:
        scheme, netloc = theirs.scheme, _netloc(here, port)
    return theirs._replace(scheme=scheme, netloc=f"{login}@{netloc}" if login else netloc).geturl()


def direct_device(segment: Segment) -> str | None:
    """The URL a device segment is dialled at, to which its reported addresses are re-addressed; None for
    gateways (they answer with the address they were asked at) and for segments behind an uplink."""
    return segment.url if segment.kind == DEVICE and not segment.uplinked else None


def as_reachable(segment: Segment, url: str) -> str:
    """``url``, reported by ``segment``, as this gateway must dial it: :func:`reachable` for a dialled device."""
    configured = direct_device(segment)
    return reachable(configured, url) if configured else url
