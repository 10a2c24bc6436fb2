"""``vmsgw segment add --device``: a plain ONVIF device as a segment, its prefix and location, and its status."""
from __future__ import annotations

import json

import pytest

from gateway.catalog.model import DEVICE, GATEWAY
from gateway.vocabulary.resource import Operation, SegmentUpdate
from tests.unit.cli.test_cli_segment import PASSWORD, URL, add, opened


def test_a_device_is_added_with_its_prefix_and_location(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert add(vmsgw, db_url, "gate8", "--device", "--prefix", "gate-8", "--location", "32.06,118.79,12.5") == 0
    assert "device segment gate8 added" in capsys.readouterr().out
    assert add(vmsgw, db_url, "bare", "--device") == 0
    assert add(vmsgw, db_url, "leaf") == 0
    with opened(db_url) as catalog:
        gate8, bare, leaf = (catalog.get_segment(n) for n in ("gate8", "bare", "leaf"))
    assert gate8 is not None and (gate8.kind, gate8.device_prefix, gate8.location, gate8.password) == (
        DEVICE, "gate-8", (32.06, 118.79, 12.5), PASSWORD)
    assert bare is not None and (bare.kind, bare.device_prefix, bare.location) == (DEVICE, None, None)
    assert leaf is not None and leaf.kind == GATEWAY
    capsys.readouterr()
    assert vmsgw("segment", "list", "--json", "--db", db_url) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["gate8"]["kind"] == DEVICE and listed["gate8"]["location"] == [32.06, 118.79, 12.5]
    assert listed["leaf"]["kind"] == GATEWAY and listed["leaf"]["device_prefix"] is None


def test_update_can_drop_the_location(vmsgw, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert add(vmsgw, db_url, "cam", "--device", "--location", "1,2") == 0
    assert add(vmsgw, db_url, "cam", "--device", "--update") == 0
    with opened(db_url) as catalog:
        cam = catalog.get_segment("cam")
    assert cam is not None and cam.location is None and cam.kind == DEVICE


@pytest.mark.parametrize(("extra", "message"), [
    (["--prefix", "p"], "--device segments only"),
    (["--location", "1,2"], "--device segments only"),
    (["--device", "--location", "91,0"], "not LAT,LON"),
    (["--device", "--location", "1"], "not LAT,LON"),
    (["--device", "--location", "1,2,3,4"], "not LAT,LON"),
    (["--device", "--location", "nan,2"], "not LAT,LON"),
    (["--device", "--location", "a,b"], "not LAT,LON"),
    (["--device", "--prefix", "a:b"], "not a token prefix"),
    (["--device", "--prefix", "a b"], "not a token prefix"),
    (["--device", "--prefix", "x" * 28], "longer than 27"),
])
def test_bad_device_settings_are_one_line_and_exit_2(vmsgw, capsys, db_url: str, extra: list[str],  # type: ignore[no-untyped-def]
                                                     message: str) -> None:
    assert vmsgw("segment", "add", "cam", "--url", URL, "--user", "gw", *extra, "--db", db_url,
                 stdin=PASSWORD + "\n") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    with opened(db_url) as catalog:
        assert catalog.list_segments() == []


def test_status_shows_device_segments_and_their_prefix(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert add(vmsgw, db_url, "cam", "--device", "--location", "32.06,118.79") == 0
    assert add(vmsgw, db_url, "leaf") == 0
    with opened(db_url) as catalog:
        generation = catalog.segment_begin_sync("cam")
        catalog.segment_apply("cam", generation, [SegmentUpdate(operation=Operation.INITIALIZED, kind="MediaProfile",
                                                                token="onvif-abc:P1")])
    capsys.readouterr()
    assert vmsgw("segment", "status", "--db", db_url) == 0
    out = capsys.readouterr().out
    health, devices = out.split("\n\n")[:2]
    rows = {line.split()[0]: line.split() for line in health.splitlines()}
    assert rows["cam"][1] == DEVICE and rows["leaf"][1] == GATEWAY
    assert devices.splitlines()[1].split() == ["cam", "onvif-abc", "32.06,118.79"]
    assert vmsgw("segment", "status", "--json", "--db", db_url) == 0
    (cam,) = [s for s in json.loads(capsys.readouterr().out) if s["name"] == "cam"]
    assert cam["prefixes"] == [{"remote_prefix": "onvif-abc", "local_prefix": "onvif-abc"}]
