"""Remote-token rules and the Annex A codec, held against direct statements of the rules."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.addressing.annex_a import DeviceIdError, explain, make_device_id, parse_device_id
from gateway.addressing.tokens import TokenError, make_remote_token, validate_remote_token

ALPHABET = "ab9Z_-.:: \t\x00\x7f\u00a0\u00e9\u4e2d"
PART = st.text(alphabet=ALPHABET, max_size=40)
TOKENS = st.one_of(
    st.text(alphabet=ALPHABET, max_size=70),
    st.builds(lambda prefix, local: f"{prefix}:{local}", PART, PART),
    st.builds(lambda n, m: "p" * n + ":" + "l" * m, st.integers(0, 40), st.integers(0, 45)),
)


def is_valid(token: str) -> bool:
    """docs/wire-format.md §3.2 and docs/decisions.md §7, stated directly."""
    prefix, colon, local = token.partition(":")
    clean = all(not c.isspace() and unicodedata.category(c) != "Cc" for c in token)
    return bool(colon) and clean and len(token) <= 64 and prefix != "" and local != "" and len(local) <= 36 and ":" not in local


@settings(max_examples=500, deadline=None)
@given(TOKENS)
def test_validation_agrees_with_the_rules(token: str) -> None:
    if is_valid(token):
        prefix, _, local = token.partition(":")
        assert validate_remote_token(token) == (prefix, local)
    else:
        with pytest.raises(TokenError):
            validate_remote_token(token)


@settings(max_examples=300, deadline=None)
@given(PART, PART)
def test_make_is_join_then_validate(prefix: str, local: str) -> None:
    if ":" not in prefix and is_valid(f"{prefix}:{local}"):
        assert make_remote_token(prefix, local) == f"{prefix}:{local}"
    else:
        with pytest.raises(TokenError):
            make_remote_token(prefix, local)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.integers(0, 99), st.integers(0, 999), st.integers(0, 9), st.integers(0, 999_999),
)  # fmt: skip
def test_annex_a_round_trip(zone: str, agency: int, device_type: int, network: int, serial: int) -> None:
    device_id = make_device_id(zone=zone, agency=agency, device_type=device_type, network=network, serial=serial)
    d = parse_device_id(device_id)
    assert (d.zone, int(d.agency), int(d.device_type), int(d.network), int(d.serial)) == (
        zone, agency, device_type, network, serial,
    )  # fmt: skip
    assert str(d) == device_id
    fields = explain(device_id)
    assert "".join(f.digits for f in fields) == device_id
    assert all(f.meaning for f in fields)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789x \u0661", max_size=22))
def test_parse_refuses_exactly_the_non_ids(text: str) -> None:
    if len(text) == 20 and all(c in "0123456789" for c in text):
        assert str(parse_device_id(text)) == text
    else:
        with pytest.raises(DeviceIdError):
            parse_device_id(text)
