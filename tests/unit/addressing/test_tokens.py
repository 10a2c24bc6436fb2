"""Remote tokens: the rules of docs/wire-format.md §3.2, one test per rule."""
from __future__ import annotations

import pytest

from gateway.addressing.tokens import (
    MAX_LOCAL,
    MAX_PREFIX,
    MAX_TOKEN,
    TokenError,
    make_remote_token,
    split_remote_token,
    validate_prefix,
    validate_remote_token,
)

UUID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def test_limits_are_the_spec_numbers() -> None:
    assert (MAX_TOKEN, MAX_LOCAL, MAX_PREFIX) == (64, 36, 62)


def test_split_at_first_colon_tolerates_colon_in_local_part() -> None:
    assert split_remote_token("cam1:Profile_1") == ("cam1", "Profile_1")
    assert split_remote_token("cam1:a:b") == ("cam1", "a:b")
    assert split_remote_token(":x") == ("", "x")


def test_split_without_colon_fails() -> None:
    with pytest.raises(TokenError, match="no ':'"):
        split_remote_token("Profile_1")


def test_valid_tokens() -> None:
    assert validate_remote_token("32010001071321008015:Profile_1") == ("32010001071321008015", "Profile_1")
    assert validate_remote_token(f"32010001071321008015:{UUID}") == ("32010001071321008015", UUID)
    longest = "p" * (MAX_TOKEN - 1 - MAX_LOCAL) + ":" + "l" * MAX_LOCAL
    assert len(longest) == MAX_TOKEN
    assert validate_remote_token(longest) == ("p" * 27, "l" * 36)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "empty remote token"),
        ("Profile_1", "no ':'"),
        (":Profile_1", "empty prefix"),
        ("cam1:", "empty local token"),
        ("cam1:a:b", "contains ':'"),
        ("cam1:" + "x" * 37, "is 37 characters; at most 36"),
        ("p" * 28 + ":" + "x" * 36, "is 65 characters; at most 64"),
        ("cam 1:x", "whitespace or control character ' '"),
        ("cam1:x\t", "whitespace or control character '\\\\t'"),
        ("cam1:x\x00", "whitespace or control character '\\\\x00'"),
        ("cam1:x\u00a0", "whitespace or control character '\\\\xa0'"),
    ],
)
def test_invalid_tokens(token: str, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        validate_remote_token(token)


def test_token_error_is_a_value_error() -> None:
    assert issubclass(TokenError, ValueError)


def test_make_joins_and_validates() -> None:
    assert make_remote_token("cam1", "VSC_1") == "cam1:VSC_1"
    with pytest.raises(TokenError, match="prefix 'a:b' contains ':'"):
        make_remote_token("a:b", "x")
    with pytest.raises(TokenError, match="empty prefix"):
        make_remote_token("", "x")
    with pytest.raises(TokenError, match="empty local token"):
        make_remote_token("cam1", "")
    with pytest.raises(TokenError, match="at most 36"):
        make_remote_token("cam1", "x" * 37)


def test_validate_prefix() -> None:
    assert validate_prefix("p" * MAX_PREFIX) == "p" * 62
    with pytest.raises(TokenError, match="63 characters; at most 62"):
        validate_prefix("p" * 63)
    with pytest.raises(TokenError, match="whitespace"):
        validate_prefix("a b")
