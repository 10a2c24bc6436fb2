"""The generated demo city: deterministic, the requested size, valid Annex A prefixes, several districts."""
from __future__ import annotations

from collections import Counter
from itertools import islice

from gateway.addressing.annex_a import explain
from gateway.addressing.tokens import validate_remote_token
from gateway.cli.demo_city import DEFAULT_SIZE, DEMO_POINT, DISTRICTS, generate_city
from gateway.vocabulary.geodesy import haversine_m
from gateway.vocabulary.resource import RESOURCE_KINDS

SIZE = 2_000


def test_deterministic() -> None:
    assert list(generate_city(SIZE, seed=7)) == list(generate_city(SIZE, seed=7))
    assert list(generate_city(SIZE, seed=7)) != list(generate_city(SIZE, seed=8))
    assert list(generate_city(SIZE // 2, seed=7)) == list(islice(generate_city(SIZE, seed=7), SIZE // 2))


def test_default_size_is_a_city() -> None:
    city = list(generate_city())
    assert len(city) == DEFAULT_SIZE >= 10_000
    assert len({r.token for r in city}) == DEFAULT_SIZE
    assert len(list(generate_city(123))) == 123


def test_tokens_and_prefixes_are_valid() -> None:
    prefixes = set()
    for r in generate_city(SIZE):
        prefix, local = validate_remote_token(r.token)
        assert len(prefix) == 20 and prefix.isdigit() and len(local) <= 36
        assert r.kind in RESOURCE_KINDS
        prefixes.add(prefix)
    for prefix in prefixes:
        fields = {f.name: f for f in explain(prefix)}
        assert fields["province"].meaning == "Jiangsu" and fields["city"].digits == "01"
        assert fields["device type"].digits in {"118", "121", "131", "132"}


def test_spans_districts_with_devices_and_streams() -> None:
    city = list(generate_city(SIZE))
    districts = Counter(r.token[:6] for r in city)
    assert set(districts) == {d.code for d in DISTRICTS}
    assert min(districts.values()) > SIZE / len(DISTRICTS) / 2
    kinds = Counter(r.kind for r in city)
    assert kinds["MediaProfile"] == 2 * kinds["VideoSource"] and kinds["Recording"] > 0
    assert all(r.name and " / " in r.name for r in city)
    assert all(any(s.endswith("/location/city/nanjing") for s in r.scopes) for r in city)


def test_some_unknown_locations_some_offline_and_cameras_near_the_demo_point() -> None:
    city = list(generate_city())
    assert 0 < sum(not r.has_location for r in city) < len(city) / 20
    assert 0 < sum(bool(r.offline) for r in city) < len(city) / 10
    near = [r for r in city if r.has_location and haversine_m(r.lat, r.lon, *DEMO_POINT) <= 300]  # type: ignore[arg-type]
    assert 50 < len(near) < 1_000
