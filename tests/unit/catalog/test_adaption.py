"""Token adaption for the proxies: every token of a segment's answer out, every token of a request back in."""
from __future__ import annotations

from pathlib import Path

import pytest

from gateway.catalog.adaption import BadSegmentToken, ForeignToken, LocalToken, Target
from gateway.catalog.model import Segment
from gateway.catalog.store import Catalog
from gateway.vocabulary.resource import Operation, Resource, SegmentUpdate


@pytest.fixture
def catalog(catalog: Catalog) -> Catalog:
    for name in ("a", "b"):
        catalog.add_segment(Segment(name=name, url=f"http://{name}/onvif/device_service", user="u", password="p"))
    return catalog


def sync(c: Catalog, name: str, *tokens: str) -> None:
    generation = c.segment_begin_sync(name)
    c.segment_apply(name, generation, [SegmentUpdate(operation=Operation.INITIALIZED, kind="MediaProfile", token=t)
                                       for t in tokens])


def test_configuration_tokens_share_the_prefix_of_their_device_and_come_back(catalog: Catalog) -> None:
    sync(catalog, "a", "cam:Profile_1")
    sync(catalog, "b", "cam:Profile_1")  # the same device prefix in b is remapped
    out_a = catalog.adapt_tokens("a", ["cam:Profile_1", "cam:VideoSourceConfig_1", "cam:VideoSource_1"])
    out_b = catalog.adapt_tokens("b", ["cam:Profile_1", "cam:VideoSourceConfig_1"])
    assert out_a == {"cam:Profile_1": "cam:Profile_1", "cam:VideoSourceConfig_1": "cam:VideoSourceConfig_1",
                     "cam:VideoSource_1": "cam:VideoSource_1"}
    assert out_b == {"cam:Profile_1": "cam~2:Profile_1", "cam:VideoSourceConfig_1": "cam~2:VideoSourceConfig_1"}
    back = catalog.resolve_tokens(["cam~2:VideoSourceConfig_1", "cam:VideoSource_1", "cam~2:Profile_1"])
    assert back == {"cam~2:VideoSourceConfig_1": Target("b", "cam:VideoSourceConfig_1"),
                    "cam:VideoSource_1": Target("a", "cam:VideoSource_1"),
                    "cam~2:Profile_1": Target("b", "cam:Profile_1")}


def test_a_prefix_first_seen_in_an_answer_is_claimed_and_kept(catalog: Catalog) -> None:
    first = catalog.adapt_tokens("a", ["nvr:Ch1", "Unprefixed"])
    assert first == {"nvr:Ch1": "nvr:Ch1", "Unprefixed": "a:Unprefixed"}
    assert catalog.adapt_tokens("a", ["nvr:Ch2"]) == {"nvr:Ch2": "nvr:Ch2"}
    sync(catalog, "b", "nvr:Ch1")  # the prefix is a's now: b's device is remapped
    assert catalog.get("nvr~2:Ch1") is not None
    assert catalog.resolve_tokens(["a:Unprefixed"]) == {"a:Unprefixed": Target("a", "Unprefixed")}


def test_a_digested_local_part_leads_back_to_the_whole_segment_token(catalog: Catalog) -> None:
    long_token = "cam:" + "x" * 50
    colon_token = "cam:Profile:main"
    out = catalog.adapt_tokens("a", [long_token, colon_token])
    assert len({*out.values()}) == 2
    for segment_token, remote in out.items():
        prefix, local = remote.split(":", 1)
        assert prefix == "cam" and len(local) <= 36 and ":" not in local
        assert catalog.resolve_tokens([remote]) == {remote: Target("a", segment_token)}
    assert catalog.adapt_tokens("a", [long_token]) == {long_token: out[long_token]}  # stable, recorded once


def test_tokens_this_gateway_never_handed_out_are_foreign(catalog: Catalog) -> None:
    sync(catalog, "a", "cam:Profile_1")
    for token in ("other:Profile_1", "nocolon", ":x", "cam:", ""):
        with pytest.raises(ForeignToken):
            catalog.resolve_tokens([token])


def test_tokens_of_imported_resources_are_local_not_forwardable(catalog: Catalog) -> None:
    catalog.apply([Resource(token="site:Profile_1", kind="MediaProfile")])
    for token in ("site:Profile_1", "site:VideoSourceConfig_9"):
        with pytest.raises(LocalToken, match="own catalog"):
            catalog.resolve_tokens([token])


@pytest.mark.parametrize("bad", ["x" * 65, "a b", "tab\there", ""])
def test_a_segment_answering_with_an_impossible_token_is_refused(catalog: Catalog, bad: str) -> None:
    with pytest.raises(BadSegmentToken, match="segment a"):
        catalog.adapt_tokens("a", ["cam:ok", bad])


def test_the_mapping_survives_reopening(catalog_url: str, tmp_path: Path) -> None:
    c = Catalog.open(catalog_url)
    c.upgrade()
    c.add_segment(Segment(name="a", url="http://a/onvif/device_service", user="u", password="p"))
    remote = c.adapt_tokens("a", ["cam:" + "y" * 40])["cam:" + "y" * 40]
    c.close()
    again = Catalog.open(catalog_url, require_current=True)
    try:
        assert again.resolve_tokens([remote]) == {remote: Target("a", "cam:" + "y" * 40)}
    finally:
        again.close()
