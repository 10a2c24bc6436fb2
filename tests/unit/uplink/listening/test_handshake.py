"""The listener's upgrade machine, without sockets: valid upgrades, refusals, and the fuzz contract."""
from __future__ import annotations

import base64
import hashlib
import itertools

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.uplink.listening.handshake import (
    LOWER_CASE_VERSION,
    MAX_HEAD,
    NEED_DATA,
    Kind,
    Refusal,
    UpgradeParser,
    UpgradeRequest,
    refusal_response,
    switching_protocols,
)

NATIVE = (b"GET /uplink HTTP/1.1\r\nHost: city.example\r\nConnection: Upgrade\r\nUpgrade: h2c-reverse\r\n"
          b"Authorization: Bearer abc.DEF-123_~+/==\r\n\r\n")
KEY = base64.b64encode(b"0123456789abcdef").decode()
WEBSOCKET = (f"GET /uplink?access_token=tok123 HTTP/1.1\r\nHost: city.example\r\nConnection: keep-alive, Upgrade\r\n"
             f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"
             f"Sec-WebSocket-Protocol: chat, h2c-reverse\r\n\r\n").encode()


def parse(*chunks: bytes) -> UpgradeRequest:
    parser = UpgradeParser()
    for chunk in chunks:
        result = parser.receive_data(chunk)
        if result is not NEED_DATA:
            assert isinstance(result, UpgradeRequest)
            return result
    raise AssertionError("no request")


def refused(data: bytes) -> Refusal:
    with pytest.raises(Refusal) as info:
        parse(data, b"")
    return info.value


def test_a_native_upgrade_gives_the_request_and_the_bytes_after_it() -> None:
    req = parse(NATIVE + b"PRI * HTTP/2.0")
    assert (req.kind, req.path, req.host, req.token, req.ws_key) == (Kind.NATIVE, "/uplink", "city.example",
                                                                     "abc.DEF-123_~+/==", None)
    assert req.trailing == b"PRI * HTTP/2.0"
    assert switching_protocols(req) == (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                        b"Upgrade: h2c-reverse\r\n\r\n")


def test_a_websocket_upgrade_takes_the_token_from_the_query_and_answers_the_key() -> None:
    req = parse(*[WEBSOCKET[i:i + 7] for i in range(0, len(WEBSOCKET), 7)])
    assert (req.kind, req.path, req.token, req.ws_key) == (Kind.WEBSOCKET, "/uplink", "tok123", KEY)
    reply = switching_protocols(req)
    accept = base64.b64encode(hashlib.sha1(KEY.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    assert b"Sec-WebSocket-Accept: " + accept + b"\r\n" in reply
    assert b"Sec-WebSocket-Protocol: h2c-reverse\r\n" in reply and reply.endswith(b"\r\n\r\n")


def test_the_reply_parses_as_a_101_for_an_http_client() -> None:
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x"), ("Connection", "Upgrade"),
                                                               ("Upgrade", "h2c-reverse")]))
    client.receive_data(switching_protocols(parse(NATIVE)))
    event = client.next_event()
    assert isinstance(event, h11.InformationalResponse) and event.status_code == 101


def test_without_a_token_the_token_is_none_and_http2_settings_is_ignored() -> None:
    req = parse(b"GET / HTTP/1.1\r\nHost: c\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c-reverse\r\n"
                b"HTTP2-Settings: AAMAAABkAAQAAP__\r\nAuthorization: Basic dTpw\r\n\r\n")
    assert req.token is None and req.trailing == b""


@pytest.mark.parametrize("cut", [1, 14, 18, 19, 20, 21, 40])
def test_a_lower_case_version_is_read_as_http_1_1_and_named_wherever_the_bytes_are_split(cut: int) -> None:
    data = NATIVE.replace(b" HTTP/1.1\r\n", b" http/1.1\r\n", 1) + b"PRI * HTTP/2.0"
    req = parse(data[:cut], data[cut:])
    assert (req.kind, req.path, req.token, req.trailing) == (Kind.NATIVE, "/uplink", "abc.DEF-123_~+/==",
                                                             b"PRI * HTTP/2.0")
    assert req.deviations == (LOWER_CASE_VERSION,)
    assert parse(NATIVE).deviations == ()


@pytest.mark.parametrize("line", [
    b"GET /uplink http/1.0", b"GET /uplink hTTP/1.1", b"GET /uplink Http/1.1", b"GET /uplink http/1.1 ",
    b"GET  /uplink http/1.1", b"GET /uplink  http/1.1", b"GET /up link http/1.1", b"GET /uplink\thttp/1.1",
    b"GET /uplink http/1.1x", b"GET /uplink xhttp/1.1", b"GET http/1.1", b" http/1.1", b"http/1.1",
    b"GET /uplink http/2", b"GET /uplink http/1.1\x00", b"GET /\xff\xfe http/1.1",
])
def test_every_other_departure_in_the_request_line_stays_refused(line: bytes) -> None:
    data = line + NATIVE[NATIVE.index(b"\r\n"):]
    refusal = refused(data)
    assert refusal.status == 400, refusal


def test_the_lower_case_version_is_only_tolerated_in_the_request_line() -> None:
    bad_header = NATIVE.replace(b"Host: city.example", b"Host: city.example http/1.1").replace(b"HTTP/1.1", b"HTTP/1.0")
    assert refused(bad_header).status == 400
    assert parse(NATIVE.replace(b"city.example", b"city.example http/1.1")).deviations == ()


@pytest.mark.parametrize(("data", "status", "words"), [
    (NATIVE.replace(b"GET", b"POST"), 405, "GET"),
    (NATIVE.replace(b"HTTP/1.1", b"HTTP/1.0"), 400, "HTTP/1.1"),
    (NATIVE.replace(b"Connection: Upgrade\r\n", b""), 400, "Connection"),
    (NATIVE.replace(b"Upgrade: h2c-reverse\r\n", b""), 400, "absent"),
    (NATIVE.replace(b"h2c-reverse", b"h2c"), 400, "h2c"),
    (NATIVE.replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\nabc"), 400, "body"),
    (NATIVE.replace(b"Bearer abc", b"Bearer a b\"c"), 400, "malformed"),
    (NATIVE.replace(b"/uplink", b"/uplink?access_token=x"), 400, "more than one"),
    (WEBSOCKET.replace(b"Version: 13", b"Version: 8"), 400, "Version"),
    (WEBSOCKET.replace(KEY.encode(), b"c2hvcnQ="), 400, "16 bytes"),
    (WEBSOCKET.replace(b"chat, h2c-reverse", b"chat"), 400, "Sec-WebSocket-Protocol"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "malformed"),  # a TLS ClientHello on the plain port
    (b"GET /up HTTP/1.1\r\nHost: c\r\n", 400, "malformed"),  # EOF mid-head
    (b"", 400, "closed"),
])
def test_bad_requests_are_refused_with_a_status_and_a_reason(data: bytes, status: int, words: str) -> None:
    refusal = refused(data)
    assert refusal.status == status and words in refusal.reason, refusal
    response = refusal_response(refusal)
    assert response.startswith(f"HTTP/1.1 {status} ".encode()) and b"Connection: close\r\n" in response


def test_a_head_over_the_cap_is_431_in_pieces_or_at_once() -> None:
    big = NATIVE.replace(b"\r\n\r\n", b"\r\nX-Pad: " + b"a" * MAX_HEAD + b"\r\n\r\n")
    assert refused(big).status == 431
    parser = UpgradeParser()
    with pytest.raises(Refusal) as info:
        for i in range(0, len(big), 1000):
            assert parser.receive_data(big[i:i + 1000]) is NEED_DATA
    assert info.value.status == 431
    with pytest.raises(Refusal):  # and it stays refused
        parser.receive_data(b"\r\n\r\n")


def test_unauthorized_carries_the_bearer_challenge() -> None:
    response = refusal_response(Refusal.unauthorized("unknown token", invalid_token=True))
    assert response.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b'WWW-Authenticate: Bearer realm="vmsgw-uplink", error="invalid_token"\r\n' in response


HEAD_PIECES = [b"GET ", b"POST ", b"/uplink", b"?access_token=t", b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", b" http/1.1\r\n",
               b" http/1.1", b"\n", b"Host: c\r\n",
               b"Connection: Upgrade\r\n", b"Upgrade: h2c-reverse\r\n", b"Upgrade: websocket\r\n",
               b"Sec-WebSocket-Version: 13\r\n", f"Sec-WebSocket-Key: {KEY}\r\n".encode(),
               b"Sec-WebSocket-Protocol: h2c-reverse\r\n", b"Authorization: Bearer x\r\n", b"Content-Length: 2\r\n",
               b"Transfer-Encoding: chunked\r\n", b"\r\n", b"\r\n\r\n", b"\x00\xff", b":", b" "]


@st.composite
def request_bytes(draw: st.DrawFn) -> bytes:
    """Mostly plausible heads assembled from pieces, sometimes plain garbage."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    return b"".join(draw(st.lists(st.sampled_from(HEAD_PIECES) | st.binary(max_size=8), max_size=14)))


@settings(max_examples=400, deadline=None)
@given(data=request_bytes(), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6), eof=st.booleans())
def test_any_bytes_whole_or_split_give_a_request_need_data_or_a_refusal(data: bytes, cuts: list[int],
                                                                          eof: bool) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    split = [data[a:b] for a, b in itertools.pairwise(bounds)]
    for chunks in (split, [data]):
        parser = UpgradeParser()
        try:
            for chunk in chunks + ([b""] if eof else []):
                result = parser.receive_data(chunk)
                if result is not NEED_DATA:
                    assert isinstance(result, UpgradeRequest)
                    switching_protocols(result)
                    break
        except Refusal as refusal:
            refusal_response(refusal)
            with pytest.raises(Refusal):
                parser.receive_data(b"more")
