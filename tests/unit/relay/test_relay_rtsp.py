"""The sans-IO RTSP core: every input gives an event or a typed error, split anywhere, within the limits."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.relay.rtsp import (
    CLOSED,
    MAX_BODY,
    MAX_HEAD,
    MAX_HEADER_LINES,
    NEED_DATA,
    Event,
    Frame,
    Headers,
    Parser,
    Request,
    Response,
    RtspError,
    frame,
    response,
)

DESCRIBE = (b"DESCRIBE rtsp://gw:8554/live/a:b RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n"
            b"User-Agent: Lavf59\r\n\r\n")
ANSWER = (b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Base: rtsp://cam/p1/\r\n"
          b"Content-Length: 13\r\n\r\nv=0\r\ns=test\r\n")


def events(data: bytes, *, eof: bool = True, split: int | None = None) -> list[Event]:
    parser, found = Parser(), []
    chunks = [data[i:i + split] for i in range(0, len(data), split)] if split else [data]
    for chunk in chunks + ([b""] if eof else []):
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            found.append(event)
            if event is CLOSED:
                return found
    return found


def test_a_request_a_frame_and_a_response_in_one_chunk() -> None:
    rtp = frame(0, b"\x80" * 100)
    found = events(DESCRIBE + rtp.raw + ANSWER)
    request, got_frame, answer, end = found
    assert isinstance(request, Request) and request.method == "DESCRIBE" and request.cseq == "2"
    assert request.target == "rtsp://gw:8554/live/a:b" and request.headers.get("user-agent") == "Lavf59"
    assert got_frame == rtp and rtp.channel == 0 and len(rtp.payload) == 100
    assert isinstance(answer, Response) and answer.status == 200 and answer.body == b"v=0\r\ns=test\r\n"
    assert end is CLOSED


@given(st.integers(min_value=1, max_value=40))
def test_split_anywhere_gives_the_same_events(split: int) -> None:
    data = DESCRIBE + frame(1, b"rtcp").raw + ANSWER
    assert events(data, split=split) == events(data)


def test_encoding_keeps_order_and_spelling_and_sets_content_length() -> None:
    (answer, _) = events(ANSWER)
    assert isinstance(answer, Response)
    assert answer.encode() == ANSWER
    longer = Response(answer.status, answer.reason, answer.headers, answer.body + b"a=control:*\r\n")
    assert b"Content-Length: 26\r\n" in longer.encode()
    assert Request("OPTIONS", "*", Headers([("CSeq", "1")])).encode() == b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"


def test_blank_lines_between_messages_and_bare_newlines_are_tolerated() -> None:
    found = events(b"\r\n\r\nOPTIONS * RTSP/1.0\nCSeq: 1\n\n")
    assert isinstance(found[0], Request) and found[0].cseq == "1"


@pytest.mark.parametrize(("data", "status"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 505),
    (b"DESCRIBE rtsp://x RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505),
    (b"DESCRIBE  rtsp://x RTSP/1.0\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS ClientHello
    (b"PLAY rtsp://x RTSP/1.0\r\nCSeq 1\r\n\r\n", 400),
    (b"PLAY rtsp://x RTSP/1.0\r\n folded: line\r\n\r\n", 400),
    (b"PLAY rtsp://x RTSP/1.0\r\nX: a\x00b\r\n\r\n", 400),
    (b"SET_PARAMETER rtsp://x RTSP/1.0\r\nContent-Length: -1\r\n\r\n", 400),
    (b"SET_PARAMETER rtsp://x RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"SET_PARAMETER rtsp://x RTSP/1.0\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1), 413),
    (b"DESCRIBE rtsp://x/" + b"a" * 3000 + b" RTSP/1.0\r\n\r\n", 414),
    (b"DESCRIBE rtsp://x RTSP/1.0\r\n" + b"X: y\r\n" * (MAX_HEADER_LINES + 1) + b"\r\n", 400),
    (b"DESCRIBE rtsp://x RTSP/1.0\r\nX: " + b"y" * MAX_HEAD, 400),
    (b"RTSP/1.0 2000 OK\r\n\r\n", 400),
    (b"DESCRIBE rtsp://x RTSP/1.0\r\nCSeq: 1\r\n", 400),  # the stream ends inside the head
    (b"$\x00\x01\x00abc", 400),  # inside a frame
])
def test_bad_input_is_a_typed_error_with_its_status(data: bytes, status: int) -> None:
    parser = Parser()
    parser.receive_data(data)
    parser.receive_data(b"")
    with pytest.raises(RtspError) as raised:
        while parser.next_event() is not CLOSED:
            pass
    assert raised.value.status == status
    with pytest.raises(RtspError):  # and again afterwards
        parser.next_event()


def test_an_oversize_head_is_refused_before_its_end_arrives() -> None:
    parser = Parser()
    parser.receive_data(b"DESCRIBE rtsp://x RTSP/1.0\r\n")
    for _ in range(MAX_HEAD // 1000 + 1):
        parser.receive_data(b"X-Long: " + b"z" * 990 + b"\r\n")
    with pytest.raises(RtspError) as raised:
        parser.next_event()
    assert raised.value.status == 400


@given(st.binary(max_size=300))
def test_any_bytes_give_events_or_a_typed_error(data: bytes) -> None:
    try:
        found = events(data)
    except RtspError as error:
        assert 400 <= error.status < 600
    else:
        assert found[-1] is CLOSED


def test_the_relays_own_responses_echo_cseq() -> None:
    assert response(461, "7").encode() == b"RTSP/1.0 461 Unsupported Transport\r\nCSeq: 7\r\n\r\n"
    with pytest.raises(ValueError, match="65535"):
        frame(0, b"x" * 70000)


def test_a_frame_larger_than_the_chunk_waits_for_its_end() -> None:
    rtp = frame(2, bytes(range(256)) * 200)
    parser = Parser()
    parser.receive_data(rtp.raw[:1000])
    assert parser.next_event() is NEED_DATA
    parser.receive_data(rtp.raw[1000:])
    assert parser.next_event() == Frame(rtp.raw)


def test_take_frames_gives_the_complete_run_of_frames_then_the_message() -> None:
    frames = [frame(0, bytes([n]) * n) for n in range(1, 40)]
    parser = Parser()
    data = b"".join(f.raw for f in frames) + DESCRIBE + frames[0].raw
    parser.receive_data(data[:-2])
    assert parser.take_frames() == b"".join(f.raw for f in frames)
    assert parser.take_frames() == b""
    assert isinstance(parser.next_event(), Request)
    assert parser.take_frames() == b"" and parser.next_event() is NEED_DATA  # the last frame is incomplete
    parser.receive_data(data[-2:])
    assert parser.take_frames() == frames[0].raw
