"""The URL rules of the relay: what a client sees, what the upstream sees (docs/wire-format.md §11.2).

A session joins two bases: the client's, ``scheme://authority/live/<token>`` spelled as the client spelled it in
its first request, and the upstream URL the resolver gave.  Only that prefix is swapped, byte for byte; whatever
follows it (a track's ``/stream=0``, a query such as ``?Axis-Orig-Sw=true`` or ``?starttime=…``) is kept as it is.

- Toward the upstream: the request-URI.  The client's base alone becomes the upstream URL with its query.
- Toward the client: ``Content-Base``, ``Content-Location``, ``Location``, every ``url=`` of ``RTP-Info`` and each
  absolute SDP ``a=control``.  An upstream URL is recognised by its scheme and path prefix whatever its
  authority, since a camera behind NAT names itself by an address the client cannot reach.  Relative controls
  and ``*`` resolve against the rewritten ``Content-Base`` and stay as they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.relay.rtsp import Headers, Request, Response

_SCHEMES = ("rtsp", "rtsps", "rtspt")
#: scheme://authority, then the rest (path, query).
_ABSOLUTE = re.compile(r"(?P<origin>[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]*)(?P<rest>[^\s]*)")
#: Characters that may follow a prefix so that it is a whole path prefix: ``/live/a`` is no prefix of ``/live/ab``.
_BOUNDARY = ("", "/", "?", "#", ";")
_RTP_INFO_URL = re.compile(r"(?P<key>(?:^|[,;])\s*url=)(?P<url>[^;,\s]+)", re.IGNORECASE)
_CONTROL = re.compile(rb"^(a=control:)([^\r\n]*)(\r?\n|$)", re.MULTILINE)
_URL_HEADERS = ("content-base", "content-location", "location")


def _after_prefix(rest: str, prefix: str) -> str | None:
    """What follows ``prefix`` in ``rest`` when it is a whole path prefix, else None."""
    if not rest.startswith(prefix):
        return None
    tail = rest[len(prefix):]
    return tail if tail[:1] in _BOUNDARY else None


@dataclass(frozen=True)
class UrlMap:
    """The two bases of one session."""

    public: str     # the client's base: rtsp://gateway:8554/live/<token>
    upstream: str   # the resolver's URL: rtsp://camera:554/profile1?x=1

    @property
    def _upstream_base(self) -> str:
        return self.upstream.split("?", 1)[0].split("#", 1)[0].rstrip("/")

    @property
    def _upstream_path(self) -> str:
        matched = _ABSOLUTE.fullmatch(self._upstream_base)
        return matched["rest"] if matched else ""

    @property
    def _public_path(self) -> str:
        matched = _ABSOLUTE.fullmatch(self.public)
        return matched["rest"] if matched else self.public

    def to_upstream(self, url: str) -> str | None:
        """The upstream URL for a client's request-URI; None when it is not under the session's base."""
        matched = _ABSOLUTE.fullmatch(url)
        rest = matched["rest"] if matched else url  # a client may send an absolute path
        tail = _after_prefix(rest, self._public_path)
        if tail is None:
            return None
        return self.upstream if tail == "" else self._upstream_base + tail

    def to_public(self, url: str) -> str:
        """The client's form of a URL the upstream sent; anything not under the upstream's path stays."""
        matched = _ABSOLUTE.fullmatch(url)
        if matched is None or matched["origin"].split(":", 1)[0].lower() not in _SCHEMES:
            return url
        tail = _after_prefix(matched["rest"], self._upstream_path)
        return url if tail is None else self.public + tail

    def request(self, request: Request) -> Request | None:
        """The client's request as the upstream gets it; None when its URI is not this session's."""
        target = self.to_upstream(request.target)
        if target is None:
            return None
        return Request(request.method, target, request.headers, request.body)

    def response(self, response: Response) -> Response:
        """The upstream's response as the client gets it."""
        headers = self._headers(response.headers)
        body = response.body
        if body and (response.headers.get("Content-Type") or "").split(";")[0].strip().lower() == "application/sdp":
            body = self.sdp(body)
        return Response(response.status, response.reason, headers, body)

    def server_request(self, request: Request) -> Request:
        """A request the upstream sends its client (GET_PARAMETER, ANNOUNCE, REDIRECT)."""
        return Request(request.method, self.to_public(request.target), self._headers(request.headers), request.body)

    def _headers(self, headers: Headers) -> Headers:
        items = []
        for name, value in headers:
            lower = name.lower()
            if lower in _URL_HEADERS:
                value = self.to_public(value)
            elif lower == "rtp-info":
                value = _RTP_INFO_URL.sub(lambda m: m["key"] + self.to_public(m["url"]), value)
            items.append((name, value))
        return Headers(items)

    def sdp(self, body: bytes) -> bytes:
        """``a=control`` lines rewritten; every other octet as it came."""
        def control(matched: re.Match[bytes]) -> bytes:
            value = matched[2].decode("latin-1")
            return matched[1] + self.to_public(value).encode("latin-1") + matched[3]
        return _CONTROL.sub(control, body)


def public_base(url: str, path: str) -> str:
    """The client's base for a stream at ``path``: its URL's scheme and authority as it wrote them, and ``path``."""
    matched = _ABSOLUTE.fullmatch(url)
    return (matched["origin"] if matched else "") + path


def without_userinfo(url: str) -> str:
    """``url`` with no ``user:password@``: credentials travel in Authorization headers only."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return url.replace(parts.netloc, parts.netloc.rsplit("@", 1)[1], 1)


def tcp_transport(value: str | None) -> str | None:
    """The interleaved-TCP alternatives of a SETUP's ``Transport`` (RFC 2326 §12.39), in the client's order and
    spelling; None when it offers none (UDP or multicast only), which the relay refuses with 461."""
    if not value:
        return None
    specs = [spec.strip() for spec in value.split(",") if spec.strip()]
    tcp = [spec for spec in specs if spec.split(";", 1)[0].strip().upper().split("/")[2:3] == ["TCP"]]
    return ",".join(tcp) if tcp else None
