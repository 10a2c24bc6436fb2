"""The relay's URL rules, byte for byte: prefixes swapped, queries and everything else kept."""
from __future__ import annotations

import pytest

from gateway.relay.rewrite import UrlMap, public_base, tcp_transport, without_userinfo
from gateway.relay.rtsp import Headers, Request, Response
from gateway.relay.session import budget

PUBLIC = "rtsp://gw.example:8554/live/dev:p1"
AXIS = UrlMap(PUBLIC, "rtsp://10.0.0.5:554/axis-media/media.amp?videocodec=h264")


@pytest.mark.parametrize(("client", "upstream"), [
    (PUBLIC, "rtsp://10.0.0.5:554/axis-media/media.amp?videocodec=h264"),          # the base: the whole URL
    (PUBLIC + "/", "rtsp://10.0.0.5:554/axis-media/media.amp/"),
    (PUBLIC + "/trackID=1?Axis-Orig-Sw=true", "rtsp://10.0.0.5:554/axis-media/media.amp/trackID=1?Axis-Orig-Sw=true"),
    (PUBLIC + "?videocodec=h264/trackID=1", "rtsp://10.0.0.5:554/axis-media/media.amp?videocodec=h264/trackID=1"),
    ("rtsp://127.0.0.1:8554/live/dev:p1/stream=0", "rtsp://10.0.0.5:554/axis-media/media.amp/stream=0"),  # any host
    ("/live/dev:p1/stream=0", "rtsp://10.0.0.5:554/axis-media/media.amp/stream=0"),  # an absolute path
    (PUBLIC + "0", None),        # /live/dev:p10 is not under /live/dev:p1
    ("rtsp://gw/live/other", None),
])
def test_client_uris_map_to_the_upstream(client: str, upstream: str | None) -> None:
    assert AXIS.to_upstream(client) == upstream


@pytest.mark.parametrize(("upstream", "public"), [
    ("rtsp://10.0.0.5:554/axis-media/media.amp/trackID=1?Axis-Orig-Sw=true", PUBLIC + "/trackID=1?Axis-Orig-Sw=true"),
    ("rtsp://10.0.0.5/axis-media/media.amp?videocodec=h264/", PUBLIC + "?videocodec=h264/"),
    ("RTSP://192.168.1.9:8554/axis-media/media.amp/", PUBLIC + "/"),  # a camera naming itself behind NAT
    ("rtsp://10.0.0.5/other/path", "rtsp://10.0.0.5/other/path"),    # not under the upstream's path: as it is
    ("rtsp://10.0.0.5/axis-media/media.amp2", "rtsp://10.0.0.5/axis-media/media.amp2"),
    ("http://10.0.0.5/axis-media/media.amp", "http://10.0.0.5/axis-media/media.amp"),
    ("trackID=1", "trackID=1"), ("*", "*"),
])
def test_upstream_urls_map_to_the_client(upstream: str, public: str) -> None:
    assert AXIS.to_public(upstream) == public


def test_every_url_bearing_header_is_rewritten_and_nothing_else() -> None:
    hik = UrlMap(PUBLIC, "rtsp://cam:554/Streaming/tracks/101?starttime=20260101T000000Z")
    answer = Response(200, "OK", Headers([
        ("CSeq", "4"), ("Session", "12345678;timeout=60"),
        ("Content-Base", "rtsp://cam:554/Streaming/tracks/101/"),
        ("Content-Location", "rtsp://cam:554/Streaming/tracks/101?starttime=20260101T000000Z"),
        ("RTP-Info", "url=rtsp://cam:554/Streaming/tracks/101/trackID=1;seq=4711;rtptime=3000,"
                     "url=trackID=2;seq=1"),
        ("X-Other", "rtsp://cam:554/Streaming/tracks/101/"),
    ]))
    rewritten = hik.response(answer)
    assert list(rewritten.headers) == [
        ("CSeq", "4"), ("Session", "12345678;timeout=60"),
        ("Content-Base", PUBLIC + "/"),
        ("Content-Location", PUBLIC + "?starttime=20260101T000000Z"),
        ("RTP-Info", f"url={PUBLIC}/trackID=1;seq=4711;rtptime=3000,url=trackID=2;seq=1"),
        ("X-Other", "rtsp://cam:554/Streaming/tracks/101/"),
    ]


def test_sdp_controls_absolute_relative_and_star_and_content_length() -> None:
    sdp = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=Session\r\nc=IN IP4 0.0.0.0\r\na=control:*\r\n"
           b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
           b"a=control:rtsp://10.0.0.5:554/axis-media/media.amp/trackID=1?Axis-Orig-Sw=true\r\n"
           b"m=audio 0 RTP/AVP 0\r\na=control:trackID=2\n"
           b"a=x-onvif-track:AUDIO001\r\na=control:rtsp://elsewhere/x")
    answer = Response(200, "OK", Headers([("CSeq", "2"), ("Content-Type", "application/sdp"),
                                          ("Content-Length", str(len(sdp)))]), sdp)
    rewritten = AXIS.response(answer)
    expected = sdp.replace(b"rtsp://10.0.0.5:554/axis-media/media.amp/", PUBLIC.encode() + b"/")
    assert rewritten.body == expected
    assert f"Content-Length: {len(expected)}\r\n".encode() in rewritten.encode()


def test_a_body_that_is_not_sdp_is_left_alone() -> None:
    body = b"a=control:rtsp://10.0.0.5:554/axis-media/media.amp/x\r\n"
    answer = Response(200, "OK", Headers([("Content-Type", "text/parameters")]), body)
    assert AXIS.response(answer).body == body


def test_requests_keep_cseq_session_and_body() -> None:
    request = Request("PLAY", PUBLIC + "/", Headers([("CSeq", "5"), ("Session", "abc"), ("Range", "clock=20260101T000000Z-")]))
    mapped = AXIS.request(request)
    assert mapped == Request("PLAY", "rtsp://10.0.0.5:554/axis-media/media.amp/", request.headers)
    redirect = AXIS.server_request(Request("REDIRECT", "rtsp://10.0.0.5:554/axis-media/media.amp",
                                           Headers([("Location", "rtsp://10.0.0.5:554/axis-media/media.amp/b")])))
    assert redirect.target == PUBLIC and redirect.headers.get("Location") == PUBLIC + "/b"


def test_an_upstream_at_the_root_maps_every_path() -> None:
    root = UrlMap(PUBLIC, "rtsp://cam:8554")
    assert root.to_upstream(PUBLIC) == "rtsp://cam:8554"
    assert root.to_upstream(PUBLIC + "/stream=0") == "rtsp://cam:8554/stream=0"
    assert root.to_public("rtsp://cam:8554/stream=0") == PUBLIC + "/stream=0"


@pytest.mark.parametrize(("offer", "kept"), [
    ("RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=0-1"),
    ("RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=2-3", "RTP/AVP/TCP;unicast;interleaved=2-3"),
    ("RTP/AVP;unicast;client_port=5000-5001", None),
    ("RTP/AVP/UDP;multicast", None),
    ("rtp/avp/tcp;interleaved=0-1", "rtp/avp/tcp;interleaved=0-1"),
    ("", None), (None, None),
])
def test_only_interleaved_tcp_transports_go_upstream(offer: str | None, kept: str | None) -> None:
    assert tcp_transport(offer) == kept


def test_bases_and_userinfo() -> None:
    assert public_base("rtsp://127.0.0.1:8554/live/a/stream=0", "/live/a") == "rtsp://127.0.0.1:8554/live/a"
    assert public_base("/live/a", "/live/a") == "/live/a"
    assert without_userinfo("rtsp://u:p%40@cam:554/x?y=1") == "rtsp://cam:554/x?y=1"
    assert without_userinfo("rtsp://cam/x") == "rtsp://cam/x"


@pytest.mark.parametrize(("header", "wait"), [
    (None, 10.0), ("", 10.0), ("4.5", 4.5), ("30", 10.0), ("0", 10.0), ("-3", 10.0), ("soon", 10.0), ("nan", 10.0),
])
def test_a_clients_budget_only_shortens_the_wait(header: str | None, wait: float) -> None:
    assert budget(header, 10.0) == wait
