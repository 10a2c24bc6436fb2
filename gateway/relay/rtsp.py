"""RTSP/1.0 messages as a sans-IO machine (docs/wire-format.md §11.1).

Theory of operation
-------------------
One :class:`Parser` per direction of a connection.  Bytes go in, events come out::

    parser.receive_data(chunk)               # b"" at the end of the stream
    while (event := parser.next_event()) is not NEED_DATA:
        ...                                  # Request | Response | Frame | CLOSED

Interleaved binary data (``$``, channel, 16-bit length; RFC 2326 §10.12) comes as :class:`Frame`, messages as
:class:`Request` or :class:`Response` whichever the start line is (a server may send requests to its client).
Anything else raises :class:`RtspError` carrying the status a server answers a client with; after an error every
later call raises it again.  Limits: the head (start line and headers) at most :data:`MAX_HEAD` octets and
:data:`MAX_HEADER_LINES` lines, the request-URI :data:`MAX_URI`, the body :data:`MAX_BODY`; the parser's buffer
never holds more than one head, one body or one frame beyond the chunk just given, so memory stays bounded when
the caller reads a chunk only after draining the events.

Serialising (:meth:`Request.encode`, :meth:`Response.encode`) writes the headers in their order and spelling and
sets ``Content-Length`` to the body's length, so a rewritten body is always framed right.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace

#: Largest head of a message: a DESCRIBE answer's headers are a few hundred octets; 16 KiB leaves room for long
#: Digest and RTP-Info values, nothing for a flood.
MAX_HEAD = 16 * 1024
#: Most header lines in one message.
MAX_HEADER_LINES = 64
#: Longest request-URI: ours are at most 128 octets (paths.MAX_URI) plus a control suffix.
MAX_URI = 2048
#: Largest body: an SDP is a few KiB; a camera's with many tracks stays far below this.
MAX_BODY = 64 * 1024
VERSION = "RTSP/1.0"

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS_LINE = re.compile(r"RTSP/1\.0 ([1-5][0-9][0-9])(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

#: Reason phrases of the statuses the relay itself sends (RFC 2326 §7.1.1).
REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Request Entity Too Large",
    414: "Request-URI Too Large", 453: "Not Enough Bandwidth", 454: "Session Not Found",
    455: "Method Not Valid in This State", 459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport", 500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "RTSP Version Not Supported",
}


class RtspError(Exception):
    """Input that is not RTSP/1.0 within the limits; ``status`` is what a server answers."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Headers:
    """Header lines in their order and spelling; names compare case-insensitively."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items = list(items or [])

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def get(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self._items:
            if key.lower() == lower:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        lower = name.lower()
        return [value for key, value in self._items if key.lower() == lower]

    def set(self, name: str, value: str) -> Headers:
        """A copy with ``name`` at its first place (or appended) holding ``value``, and no other ``name`` line."""
        lower, items, done = name.lower(), [], False
        for key, old in self._items:
            if key.lower() != lower:
                items.append((key, old))
            elif not done:
                items.append((key, value))
                done = True
        if not done:
            items.append((name, value))
        return Headers(items)

    def remove(self, *names: str) -> Headers:
        lower = {name.lower() for name in names}
        return Headers([(key, value) for key, value in self._items if key.lower() not in lower])

    def encode(self, body: bytes) -> bytes:
        headers = self.set("Content-Length", str(len(body))) if body or self.get("Content-Length") else self
        return "".join(f"{key}: {value}\r\n" for key, value in headers._items).encode("latin-1")


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def cseq(self) -> str | None:
        return self.headers.get("CSeq")

    def encode(self) -> bytes:
        return f"{self.method} {self.target} {VERSION}\r\n".encode("latin-1") + self.headers.encode(self.body) \
            + b"\r\n" + self.body

    def with_headers(self, headers: Headers) -> Request:
        return replace(self, headers=headers)


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def cseq(self) -> str | None:
        return self.headers.get("CSeq")

    def encode(self) -> bytes:
        line = f"{VERSION} {self.status} {self.reason}\r\n" if self.reason else f"{VERSION} {self.status}\r\n"
        return line.encode("latin-1") + self.headers.encode(self.body) + b"\r\n" + self.body


@dataclass(frozen=True)
class Frame:
    """One interleaved packet; ``raw`` is its bytes on the wire, forwarded as they came."""

    raw: bytes

    @property
    def channel(self) -> int:
        return self.raw[1]

    @property
    def payload(self) -> bytes:
        return self.raw[4:]


def frame(channel: int, payload: bytes) -> Frame:
    if not 0 <= channel <= 255 or len(payload) > 0xFFFF:
        raise ValueError("an interleaved frame has a channel 0-255 and at most 65535 octets")
    return Frame(b"$" + bytes([channel]) + len(payload).to_bytes(2, "big") + payload)


def response(status: int, cseq: str | None, *headers: tuple[str, str], body: bytes = b"") -> Response:
    """A response of the relay's own, echoing ``cseq``."""
    items = ([("CSeq", cseq)] if cseq is not None else []) + list(headers)
    return Response(status, REASONS.get(status, "Error"), Headers(items), body)


class _Signal(enum.Enum):
    NEED_DATA = "need data"
    CLOSED = "closed"


NEED_DATA = _Signal.NEED_DATA
CLOSED = _Signal.CLOSED
Event = Request | Response | Frame | _Signal


class Parser:
    """Bytes of one direction in, :data:`Event` s out; see the module's docstring."""

    def __init__(self, *, max_body: int = MAX_BODY) -> None:
        self._buffer = bytearray()
        self._pos = 0  # where the unconsumed bytes start
        self._eof = False
        self._error: RtspError | None = None
        self._max_body = max_body
        self._head: tuple[Request | Response, int] | None = None  # a parsed head waiting for its body

    def receive_data(self, data: bytes) -> None:
        if data:
            if self._pos:  # drop what was consumed before growing: the buffer holds at most one message more
                del self._buffer[: self._pos]
                self._pos = 0
            self._buffer += data
        else:
            self._eof = True

    def take_frames(self) -> bytes:
        """The interleaved frames complete at the head of the buffer, as one run of bytes (b"" when none): the
        relay forwards them as they came, without an object per frame."""
        if self._error is not None or self._head is not None:
            return b""
        buffer, start = self._buffer, self._pos
        pos, size = start, len(buffer)
        while pos + 4 <= size and buffer[pos] == 0x24:
            end = pos + 4 + ((buffer[pos + 2] << 8) | buffer[pos + 3])
            if end > size:
                break
            pos = end
        if pos == start:
            return b""
        self._pos = pos
        return bytes(buffer[start:pos])

    def next_event(self) -> Event:
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RtspError as error:
            self._error = error
            raise

    def _next(self) -> Event:
        buffer, pos = self._buffer, self._pos
        if self._head is not None:
            return self._body()
        while buffer[pos:pos + 2] == b"\r\n" or buffer[pos:pos + 1] == b"\n":  # blank lines between messages
            pos += 2 if buffer[pos] == 0x0D else 1
        self._pos = pos
        if pos == len(buffer):
            return CLOSED if self._eof else NEED_DATA
        if buffer[pos] == 0x24:  # "$": frames are consumed by moving the offset, never by moving bytes
            if len(buffer) - pos >= 4:
                end = pos + 4 + int.from_bytes(buffer[pos + 2:pos + 4], "big")
                if len(buffer) >= end:
                    self._pos = end
                    return Frame(bytes(buffer[pos:end]))
            return self._truncated("an interleaved frame")
        blank = _HEAD_END.search(buffer, pos, pos + MAX_HEAD + 4)
        if blank is None:
            if len(buffer) - pos > MAX_HEAD:
                raise RtspError(400, f"message head longer than {MAX_HEAD} octets")
            return self._truncated("a message head")
        head = bytes(buffer[pos: blank.start()])
        self._pos = blank.end()
        message, length = _parse_head(head, self._max_body)
        self._head = (message, length)
        return self._body()

    def _body(self) -> Event:
        assert self._head is not None
        message, length = self._head
        pos = self._pos
        if len(self._buffer) - pos < length:
            return self._truncated("a message body")
        self._head = None
        body = bytes(self._buffer[pos:pos + length])
        self._pos = pos + length
        return replace(message, body=body) if body else message

    def _truncated(self, what: str) -> Event:
        if self._eof:
            raise RtspError(400, f"the stream ended inside {what}")
        return NEED_DATA


def _parse_head(head: bytes, max_body: int) -> tuple[Request | Response, int]:
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    if len(lines) - 1 > MAX_HEADER_LINES:
        raise RtspError(400, f"more than {MAX_HEADER_LINES} header lines")
    start, items = lines[0], []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise RtspError(400, "a header line is not 'name: value'")
        value = value.strip(" \t")
        if _CTL.search(value):
            raise RtspError(400, f"control characters in the {name} header")
        items.append((name, value))
    headers = Headers(items)
    length = _content_length(headers, max_body)
    message: Request | Response
    if start.startswith("RTSP/"):
        matched = _STATUS_LINE.fullmatch(start)
        if matched is None:
            raise RtspError(400, "malformed status line")
        message = Response(int(matched[1]), matched[2] or "", headers)
    else:
        parts = start.split(" ")
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1] or _CTL.search(parts[1]):
            raise RtspError(400, "malformed request line")
        if parts[2] != VERSION:
            raise RtspError(505, f"version {parts[2][:16]!r} is not {VERSION}")
        if len(parts[1]) > MAX_URI:
            raise RtspError(414, f"request-URI longer than {MAX_URI} octets")
        message = Request(parts[0], parts[1], headers)
    return message, length


def _content_length(headers: Headers, max_body: int) -> int:
    values = headers.get_all("Content-Length")
    if not values:
        return 0
    if len(set(values)) != 1 or not values[0].isdigit() or len(values[0]) > 12:
        raise RtspError(400, "invalid Content-Length")
    length = int(values[0])
    if length > max_body:
        raise RtspError(413, f"body of {length} octets, more than {max_body}")
    return length
