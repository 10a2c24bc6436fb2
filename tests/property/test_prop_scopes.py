"""The rfc3986 scope rule (docs/wire-format.md §5.5) against an independent segment-list implementation."""
from __future__ import annotations

import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.vocabulary.scopes import rfc3986_match

SCHEMES = st.sampled_from(["onvif", "ONVIF", "Onvif", "http"])
HOSTS = st.sampled_from(["www.onvif.org", "WWW.ONVIF.ORG", "www.onvif.org:80", "example.com"])
SEGMENTS = st.sampled_from(
    ["location", "Location", "city", "nanjing", "hardware", "D1", "D1-566", "Abc", "%41bc", "%61bc", "abc",
     "a%2Fb", "a%2fb", "a b", "", ".", ".."]
)  # fmt: skip
TAILS = st.sampled_from(["", "/", "?q=1", "#frag", "/?q", "//"])

UNRESERVED = set(string.ascii_letters + string.digits + "-._~")


def decode(segment: str) -> str:
    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in UNRESERVED else "%" + m.group(1).upper()

    return re.sub(r"%([0-9A-Fa-f]{2})", repl, segment)


def expected(f: tuple[str, str, list[str]], s: tuple[str, str, list[str]]) -> bool:
    """The rule as docs/wire-format.md §5.5 states it, on the generated parts: no URI parsing involved."""
    if any(seg in (".", "..") or " " in seg for seg in f[2] + s[2]):
        return False  # dot segments never match; a space makes no URI at all
    if f[0].lower() != s[0].lower() or f[1].lower() != s[1].lower():
        return False

    def path(segs: list[str]) -> list[str]:
        decoded = [decode(x) for x in segs]
        while decoded and decoded[-1] == "":
            decoded.pop()  # trailing slashes do not add a segment
        return decoded

    fp, sp = path(f[2]), path(s[2])
    return sp[: len(fp)] == fp


URI = st.tuples(SCHEMES, HOSTS, st.lists(SEGMENTS, max_size=4), TAILS)


def render(uri: tuple[str, str, list[str], str]) -> str:
    scheme, host, segs, tail = uri
    return f"{scheme}://{host}" + "".join("/" + s for s in segs) + tail


@settings(max_examples=600, deadline=None)
@given(URI, URI)
def test_rfc3986_match_agrees_with_segment_lists(f: tuple[str, str, list[str], str], s: tuple[str, str, list[str], str]) -> None:
    assert rfc3986_match(render(f), render(s)) is expected(f[:3], s[:3])


@settings(max_examples=200, deadline=None)
@given(URI)
def test_every_valid_scope_matches_itself_and_its_authority(u: tuple[str, str, list[str], str]) -> None:
    valid = not any(seg in (".", "..") or " " in seg for seg in u[2])
    assert rfc3986_match(render(u), render(u)) is valid
    assert rfc3986_match(f"{u[0]}://{u[1]}", render(u)) is valid
