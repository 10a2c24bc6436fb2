"""Token context rules for segment tokens (addressing/context.py)."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.addressing.context import MAX_KEPT_PREFIX, local_part, parse_segment_token, prefix_candidates
from gateway.addressing.tokens import TokenError, validate_remote_token


def test_segment_tokens_split_at_the_first_colon_or_have_no_prefix() -> None:
    assert parse_segment_token("32010001071321008015:Profile_1") == ("32010001071321008015", "Profile_1")
    assert parse_segment_token("a:b:c") == ("a", "b:c")
    assert parse_segment_token("Profile_1") == ("", "Profile_1")
    assert parse_segment_token(":x") == ("", ":x")


@pytest.mark.parametrize("token", ["", "x" * 65, "a b:c", "a:b\x00", "p:\tx"])
def test_tokens_no_peer_may_send_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        parse_segment_token(token)


def test_valid_local_parts_are_kept_and_others_digested_stably() -> None:
    assert local_part("Profile_1", "p:Profile_1") == "Profile_1"
    long = "x" * 37
    assert local_part(long, "p:" + long) == local_part(long, "p:" + long)
    assert local_part(long, "p:" + long) != local_part(long, "q:" + long)
    assert len(local_part("a:b", "p:a:b")) == 26 and ":" not in local_part("a:b", "p:a:b")


def test_prefix_candidates_keep_short_prefixes_first_then_remap() -> None:
    assert list(itertools.islice(prefix_candidates("3201", "leaf"), 3)) == ["3201", "3201~2", "3201~3"]
    assert next(prefix_candidates("p" * (MAX_KEPT_PREFIX + 1), "leaf")) == "p" * 20 + "~2"
    assert list(itertools.islice(prefix_candidates("", "leaf one!"), 2)) == ["leafone", "leafone~2"]
    assert next(prefix_candidates("", "!!!")) == "seg"


@given(token=st.text(min_size=1, max_size=64).filter(lambda t: not any(c.isspace() or ord(c) < 32 for c in t)),
       segment=st.text(max_size=40))
def test_every_mapped_token_is_a_valid_remote_token(token: str, segment: str) -> None:
    try:
        prefix, local = parse_segment_token(token)
    except TokenError:
        return
    for candidate in itertools.islice(prefix_candidates(prefix, segment), 3):
        validate_remote_token(candidate + ":" + local_part(local, token))
