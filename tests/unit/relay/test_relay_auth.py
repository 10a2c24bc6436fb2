"""Digest and Basic at the gateway (stateless nonces, the media access rule) and toward an upstream."""
from __future__ import annotations

import asyncio
import base64

import pytest

from gateway.relay.auth import NONCE_LIFETIME, Gate, UpstreamAuth, digest_response, parse_params
from gateway.soap.dispatch import Principal

USERS = {"alice": ("s3cret", "User"), "bob": ("pw", "Anonymous"), "op": ("o", "Operator")}
URI = "rtsp://gw:8554/live/a:b"


async def lookup(name: str) -> tuple[str, str] | None:
    return USERS.get(name)


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def answer(gate: Gate, user: str, password: str, *, method: str = "DESCRIBE", uri: str = URI,
           qop: bool = False, nonce: str | None = None, realm: str | None = None) -> str:
    """What a client answers to the gate's Digest challenge."""
    challenge = parse_params(gate.challenges()[0].split(" ", 1)[1])
    nonce = nonce or challenge["nonce"]
    realm = realm or challenge["realm"]
    if qop:
        response = digest_response(user, password, realm, method, uri, nonce, "auth", "00000001", "abc")
        return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}", '
                'qop=auth, nc=00000001, cnonce="abc"')
    response = digest_response(user, password, realm, method, uri, nonce)
    return f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}"'


def check(gate: Gate, header: str | None, method: str = "DESCRIBE", uri: str = URI):  # type: ignore[no-untyped-def]
    return asyncio.run(gate.check(header, method, uri))


def test_digest_with_and_without_qop_gives_the_user() -> None:
    gate = Gate(lookup)
    for qop in (False, True):
        verdict = check(gate, answer(gate, "alice", "s3cret", qop=qop))
        assert verdict.status == 200 and verdict.principal is not None
        assert (verdict.principal.name, verdict.principal.level) == ("alice", "User")


def test_basic_gives_the_user() -> None:
    gate = Gate(lookup)
    token = base64.b64encode(b"op:o").decode()
    assert check(gate, f"Basic {token}").status == 200


@pytest.mark.parametrize("header", [
    None, "", "Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"alice").decode(),
    "Basic " + base64.b64encode(b"alice:wrong").decode(), "Basic " + base64.b64encode(b"nobody:x").decode(),
    "Digest", 'Digest username="alice"',
])
def test_missing_or_wrong_credentials_are_asked_again(header: str | None) -> None:
    assert check(Gate(lookup), header).status == 401


def test_digest_refuses_a_wrong_password_uri_realm_or_forged_nonce() -> None:
    gate = Gate(lookup)
    assert check(gate, answer(gate, "alice", "wrong")).status == 401
    assert check(gate, answer(gate, "alice", "s3cret", uri="rtsp://gw:8554/live/other")).status == 401
    assert check(gate, answer(gate, "alice", "s3cret", realm="other")).status == 401
    assert check(gate, answer(gate, "alice", "s3cret", nonce="0" * 40)).status == 401
    other = Gate(lookup)  # another process's secret: its nonces are no nonces of ours
    assert check(gate, answer(other, "alice", "s3cret")).status == 401
    assert check(gate, answer(gate, "alice", "s3cret", method="PLAY"), method="DESCRIBE").status == 401


def test_an_old_nonce_is_stale() -> None:
    clock = Clock()
    gate = Gate(lookup, clock=clock)
    header = answer(gate, "alice", "s3cret")
    clock.now += NONCE_LIFETIME + 1
    verdict = check(gate, header)
    assert verdict.status == 401 and verdict.stale
    assert gate.challenges(stale=True)[0].endswith("stale=true")


def test_a_level_without_media_access_is_forbidden() -> None:
    gate = Gate(lookup)
    verdict = check(gate, answer(gate, "bob", "pw"))
    assert verdict.status == 403 and verdict.principal is not None


def test_the_upstream_challenge_is_answered_digest_first() -> None:
    challenges = ['Basic realm="cam"', 'Digest realm="cam", nonce="n1", qop="auth", opaque="op"']
    auth = UpstreamAuth("u", "p", challenges)
    assert auth.usable
    header = auth.header("SETUP", "rtsp://cam/p1/stream=0")
    params = parse_params(header.split(" ", 1)[1])
    assert params["opaque"] == "op" and params["nc"] == "00000001"
    assert params["response"] == digest_response("u", "p", "cam", "SETUP", "rtsp://cam/p1/stream=0", "n1", "auth",
                                                 params["nc"], params["cnonce"])
    assert parse_params(auth.header("PLAY", "rtsp://cam/p1")["Digest ".__len__():])["nc"] == "00000002"
    plain = UpstreamAuth("u", "p", ['Digest realm="cam", nonce="n2"'])
    params = parse_params(plain.header("DESCRIBE", "rtsp://cam/p1")[7:])
    assert params["response"] == digest_response("u", "p", "cam", "DESCRIBE", "rtsp://cam/p1", "n2")
    assert UpstreamAuth("u", "p", ['Basic realm="x"']).header("PLAY", "x") == "Basic " + base64.b64encode(b"u:p").decode()
    assert not UpstreamAuth("u", "p", ['Digest realm="x", nonce="n", algorithm=SHA-256']).usable
    assert not UpstreamAuth("u", "p", ["Bearer x"]).usable


@pytest.mark.parametrize(("level", "status"), [("Operator", 200), ("User", 200), ("Anonymous", 403),
                                               ("NoSuchLevel", 403)])
def test_a_principal_known_without_credentials_gets_the_media_access_rule_only(level: str, status: int) -> None:
    verdict = Gate(lookup).admit(Principal(name="uplink:https://city/uplink", level=level))
    assert verdict.status == status and verdict.principal is not None
