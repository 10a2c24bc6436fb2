"""The connector's upgrade machine: exact request bytes, the 101 with its leftovers, typed refusals, and fuzz."""
from __future__ import annotations

import base64
import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.uplink.connecting.dial import (
    NEED_DATA,
    BadRemoteAddress,
    BadReply,
    CredentialsRefused,
    Dial,
    DialError,
    Switched,
    Target,
    Unsendable,
    UpgradeRefused,
    Variant,
)

KEY = b"0123456789abcdef"
KEY_B64 = base64.b64encode(KEY).decode()
ACCEPT = base64.b64encode(hashlib.sha1(KEY_B64.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()).decode()
NATIVE_101 = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c-reverse\r\n\r\n"
WS_101 = (f"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
          f"Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: h2c-reverse\r\n\r\n").encode()
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def dial(address: str = "https://cloud.example.net/uplink", **kwargs: object) -> Dial:
    d = Dial(Target.parse(address), ws_key=KEY, **kwargs)  # type: ignore[arg-type]
    d.request()
    return d


def test_native_request_bytes() -> None:
    d = Dial(Target.parse("https://cloud.example.net/uplink"), token="eyJ.abc")
    assert d.request() == (b"GET /uplink HTTP/1.1\r\nHost: cloud.example.net\r\nConnection: Upgrade\r\n"
                           b"Upgrade: h2c-reverse\r\nAuthorization: Bearer eyJ.abc\r\n\r\n")


def test_native_request_without_token_keeps_port_and_query() -> None:
    d = Dial(Target.parse("HTTPS://cloud.example.net:8443/up?site=7"))
    assert d.request() == (b"GET /up?site=7 HTTP/1.1\r\nHost: cloud.example.net:8443\r\nConnection: Upgrade\r\n"
                           b"Upgrade: h2c-reverse\r\n\r\n")


def test_websocket_request_bytes() -> None:
    d = Dial(Target.parse("wss://[2001:db8::1]/uplink"), token="t", ws_key=KEY)
    assert d.request() == (f"GET /uplink HTTP/1.1\r\nHost: [2001:db8::1]\r\nConnection: Upgrade\r\n"
                           f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY_B64}\r\n"
                           f"Sec-WebSocket-Protocol: h2c-reverse\r\nAuthorization: Bearer t\r\n\r\n").encode()


def test_websocket_token_in_query_is_escaped() -> None:
    d = Dial(Target.parse("wss://cloud/uplink?a=1"), token="x y/+", token_in_query=True, ws_key=KEY)
    request = d.request()
    assert request.split(b"\r\n")[0] == b"GET /uplink?a=1&access_token=x%20y%2F%2B HTTP/1.1"
    assert b"Authorization" not in request
    with pytest.raises(ValueError):
        Dial(Target.parse("https://cloud/uplink"), token="t", token_in_query=True)


def test_unsendable_token_or_path_is_a_value_error() -> None:
    with pytest.raises(Unsendable):
        Dial(Target.parse("https://cloud/uplink"), token="bad\r\nX-Injected: 1").request()
    with pytest.raises(Unsendable):
        Dial(Target.parse("https://cloud/up link")).request()


def test_target_parse() -> None:
    t = Target.parse("wss://cloud.example.net")
    assert (t.variant, t.host, t.port, t.target, t.authority) == (Variant.WEBSOCKET, "cloud.example.net", 443, "/",
                                                                  "cloud.example.net")
    for bad in ("http://cloud/uplink", "https:///uplink", "cloud/uplink", "https://cloud:99999/"):
        with pytest.raises(BadRemoteAddress):
            Target.parse(bad)


@pytest.mark.parametrize("reply,variant", [(NATIVE_101, "https"), (WS_101, "wss")])
def test_switch_keeps_leftover(reply: bytes, variant: str) -> None:
    d = dial(f"{variant}://cloud/uplink")
    result = d.receive_data(reply + PREFACE)
    assert result == Switched(variant=Variant(variant), leftover=PREFACE)


def test_switch_after_interim_reply_split_byte_by_byte() -> None:
    d = dial()
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + NATIVE_101
    results = [d.receive_data(data[i:i + 1]) for i in range(len(data) - 1)]
    assert all(r is NEED_DATA for r in results)
    assert d.receive_data(data[-1:]) == Switched(variant=Variant.NATIVE, leftover=b"")


@pytest.mark.parametrize("status,kind", [(401, CredentialsRefused), (403, CredentialsRefused),
                                         (404, UpgradeRefused), (503, UpgradeRefused), (200, UpgradeRefused)])
def test_final_status_is_a_typed_refusal(status: int, kind: type[UpgradeRefused]) -> None:
    d = dial()
    with pytest.raises(kind) as caught:
        d.receive_data(f"HTTP/1.1 {status} Nope\r\nContent-Length: 4\r\n\r\nbody".encode())
    assert caught.value.status == status and str(caught.value) == f"upgrade refused: {status} Nope"
    with pytest.raises(kind):  # the machine stays failed
        d.receive_data(b"")


@pytest.mark.parametrize("address,reply", [
    ("https://cloud/uplink", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"),
    ("https://cloud/uplink", WS_101),  # a WebSocket 101 to a native request
    ("wss://cloud/uplink", NATIVE_101),  # and the other way round
    ("wss://cloud/uplink", WS_101.replace(ACCEPT.encode(), b"AAAA")),
    ("wss://cloud/uplink", WS_101.replace(b"Sec-WebSocket-Protocol: h2c-reverse\r\n", b"")),
])
def test_wrong_switch_is_a_bad_reply(address: str, reply: bytes) -> None:
    with pytest.raises(BadReply):
        dial(address).receive_data(reply)


def test_eof_and_garbage_are_bad_replies() -> None:
    d = dial()
    assert d.receive_data(b"HTTP/1.1 1") is NEED_DATA
    with pytest.raises(BadReply):
        d.receive_data(b"")
    with pytest.raises(BadReply):
        dial().receive_data(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(BadReply):  # a head larger than h11's 16 KiB cap
        dial().receive_data(b"HTTP/1.1 101 OK\r\nX: " + b"a" * 20000)


def _fuzz(d: Dial, chunks: list[bytes]) -> None:
    try:
        for chunk in chunks:
            result = d.receive_data(chunk)
            assert result is NEED_DATA or isinstance(result, Switched)
            if isinstance(result, Switched):
                return
    except DialError:
        pass


replies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([NATIVE_101, WS_101, b"HTTP/1.1 401 x\r\n\r\n"]).flatmap(
        lambda r: st.tuples(st.integers(0, len(r)), st.binary(max_size=20)).map(lambda t: r[:t[0]] + t[1] + r[t[0]:])),
)


@given(reply=replies, cuts=st.lists(st.integers(0, 400), max_size=8), eof=st.booleans(),
       variant=st.sampled_from(["https", "wss"]))
def test_any_reply_bytes_give_need_data_switch_or_dial_error(reply: bytes, cuts: list[int], eof: bool,
                                                             variant: str) -> None:
    bounds = sorted({0, len(reply), *(c for c in cuts if c < len(reply))})
    chunks = [reply[a:b] for a, b in itertools.pairwise(bounds)] + ([b""] if eof else [])
    _fuzz(dial(f"{variant}://cloud/uplink"), chunks)
    _fuzz(dial(f"{variant}://cloud/uplink"), [reply] + ([b""] if eof else []))
