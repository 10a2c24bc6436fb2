"""Stream and snapshot paths: minted from the token, reversible, canonical, within Media2's 128 octets."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.relay import paths


@given(st.text(min_size=1, max_size=64))
def test_every_token_round_trips(token: str) -> None:
    assert paths.token_of_stream_path(paths.stream_path(token)) == token
    assert paths.token_of_snapshot_path(paths.snapshot_path(token)) == token
    assert paths.split_stream_path(paths.stream_path(token) + "/stream=0") == (token, "/stream=0")
    assert paths.is_relay_path(paths.stream_path(token)) and paths.is_relay_path(paths.snapshot_path(token))


def test_usual_tokens_read_as_themselves() -> None:
    assert paths.stream_path("12345678901234567890:Profile_1") == "/live/12345678901234567890:Profile_1"
    assert paths.snapshot_path("a b/c") == "/snapshot/a%20b%2Fc"
    assert paths.stream_path("..") == "/live/%2E%2E"


@pytest.mark.parametrize("path", [
    "/live/", "/live/a%2fb", "/live/%41", "/live/a%", "/live/%ff", "/live/.", "/snapshot/a/b", "/snapshot/",
    "/other/a", "/livea",
])
def test_paths_that_are_no_canonical_encoding_are_not_ours(path: str) -> None:
    assert paths.token_of_stream_path(path) is None
    assert paths.token_of_snapshot_path(path) is None


def test_uris_are_capped_at_128_octets() -> None:
    token = "12345678901234567890:" + "p" * 36  # 57 characters, the longest Annex A form
    uri = paths.stream_uri("rtsp://gateway.district-7.example:8554/", token)
    assert uri == "rtsp://gateway.district-7.example:8554/live/" + token and len(uri) <= paths.MAX_URI
    assert paths.snapshot_uri("http://10.0.0.1:8080", token).endswith("/snapshot/" + token)
    with pytest.raises(paths.UriTooLong):
        paths.stream_uri("rtsp://gateway.district-7.example:8554", "ü" * 30)
    with pytest.raises(ValueError, match="token"):
        paths.stream_path("")
