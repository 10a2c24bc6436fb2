"""``vmsgw segment``: configuring downstream segments, and reading their status."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.catalog.store import Catalog
from gateway.vocabulary.resource import Operation, SegmentUpdate

PASSWORD = "segment-Pa55"
URL = "http://127.0.0.1:8081/onvif/device_service"


@contextmanager
def opened(db_url: str) -> Iterator[Catalog]:
    catalog = Catalog.open(db_url)
    try:
        catalog.upgrade()  # a command refused before opening the catalog has not created it
        yield catalog
    finally:
        catalog.close()


def add(vmsgw, db_url: str, name: str, *extra: str, url: str = URL) -> int:  # type: ignore[no-untyped-def]
    return int(vmsgw("segment", "add", name, "--url", url, "--user", "gw", *extra, "--db", db_url,
                     stdin=PASSWORD + "\n"))


def test_add_stores_the_segment_with_the_password_from_stdin(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert add(vmsgw, db_url, "leaf-1.a", "--heartbeat", "2.5") == 0
    assert "leaf-1.a" in capsys.readouterr().out
    with opened(db_url) as catalog:
        s = catalog.get_segment("leaf-1.a")
    assert s is not None
    assert (s.url, s.user, s.password, s.heartbeat, s.verify_tls, s.ca_file, s.state) == \
        (URL, "gw", PASSWORD, 2.5, True, None, "new")


def test_tls_options(vmsgw, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here\n")
    assert add(vmsgw, db_url, "insecure", "--no-verify-tls", url="https://leaf:8443/onvif/device_service") == 0
    assert add(vmsgw, db_url, "pinned", "--ca", str(ca), url="https://leaf:8443/onvif/device_service") == 0
    with opened(db_url) as catalog:
        insecure, pinned = catalog.get_segment("insecure"), catalog.get_segment("pinned")
    assert insecure is not None and not insecure.verify_tls
    assert pinned is not None and pinned.verify_tls and pinned.ca_file == str(ca.resolve())


@pytest.mark.parametrize("argv, message", [
    (["segment", "add", "bad/name", "--url", URL, "--user", "gw"], "not a segment name"),
    (["segment", "add", "x" * 65, "--url", URL, "--user", "gw"], "not a segment name"),
    (["segment", "add", "leaf", "--url", "ftp://leaf/", "--user", "gw"], "not an http(s) URL"),
    (["segment", "add", "leaf", "--url", "http:///no-host", "--user", "gw"], "not an http(s) URL"),
    (["segment", "add", "leaf", "--url", "http://leaf:99999/", "--user", "gw"], "port"),
    (["segment", "add", "leaf", "--url", URL, "--user", "gw", "--heartbeat", "0"], "more than 0"),
    (["segment", "add", "leaf", "--url", URL, "--user", "gw", "--heartbeat", "301"], "more than 300"),
    (["segment", "add", "leaf", "--url", URL, "--user", "gw", "--no-verify-tls"], "https URLs only"),
    (["segment", "add", "leaf", "--url", "https://leaf/", "--user", "gw", "--ca", "/no/such/ca.pem"], "no such file"),
    (["segment", "add", "leaf", "--url", "https://leaf/", "--user", "gw", "--ca", "x", "--no-verify-tls"],
     "not allowed with"),
    (["segment", "add", "leaf", "--url", URL, "--user", ""], "non-empty user"),
    (["segment", "remove", "nobody"], "no segment named 'nobody'"),
])
def test_bad_input_is_one_line_and_exit_2(vmsgw, capsys, db_url: str, argv: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw(*argv, "--db", db_url, stdin=PASSWORD + "\n") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    with opened(db_url) as catalog:
        assert catalog.list_segments() == []


def test_empty_password_and_existing_name(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("segment", "add", "leaf", "--url", URL, "--user", "gw", "--db", db_url, stdin="\n") == 2
    assert "empty" in capsys.readouterr().err
    assert add(vmsgw, db_url, "leaf") == 0
    assert add(vmsgw, db_url, "leaf", url="http://other/") == 2
    assert "--update" in capsys.readouterr().err
    assert add(vmsgw, db_url, "leaf", "--update", url="http://other/") == 0
    with opened(db_url) as catalog:
        assert catalog.get_segment("leaf").url == "http://other/"  # type: ignore[union-attr]


def test_list_never_shows_passwords(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    add(vmsgw, db_url, "b")
    add(vmsgw, db_url, "a", "--no-verify-tls", url="https://a:8443/onvif/device_service")
    capsys.readouterr()
    assert vmsgw("segment", "list", "--db", db_url) == 0
    table = capsys.readouterr().out
    lines = [line.split() for line in table.splitlines()]
    assert lines[0] == ["name", "url", "user", "tls", "heartbeat", "state", "kind"]
    assert [row[0] for row in lines[1:]] == ["a", "b"] and lines[1][3] == "no-verify"
    assert vmsgw("segment", "list", "--json", "--db", db_url) == 0
    listed = capsys.readouterr().out
    assert [s["name"] for s in json.loads(listed)] == ["a", "b"]
    assert "password" not in listed and PASSWORD not in table + listed


def _synced(db_url: str) -> None:
    """Segments a and b presenting the same device prefix; a has been seen."""
    with opened(db_url) as catalog:
        for name in ("a", "b"):
            generation = catalog.segment_begin_sync(name)
            catalog.segment_apply(name, generation, [SegmentUpdate(
                operation=Operation.INITIALIZED, kind="MediaProfile", token="dup:P1", name=name)])
        catalog.segment_set_reachable("a", True, error=None, now=dt.datetime.now(dt.UTC))
        catalog.segment_set_reachable("b", False, error="connection refused", now=dt.datetime.now(dt.UTC))


def test_status_reports_health_and_the_collision(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    add(vmsgw, db_url, "a")
    add(vmsgw, db_url, "b")
    _synced(db_url)
    capsys.readouterr()
    assert vmsgw("segment", "status", "--json", "--db", db_url) == 0
    a, b = json.loads(capsys.readouterr().out)
    assert (a["name"], a["state"], a["resources"], a["last_error"]) == ("a", "up", 1, None)
    assert dt.datetime.fromisoformat(a["last_seen"]) <= dt.datetime.now(dt.UTC) and a["lag_seconds"] >= 0
    assert (b["state"], b["last_seen"], b["lag_seconds"], b["last_error"]) == ("down", None, None, "connection refused")
    assert b["remapped_prefixes"] == [{"remote_prefix": "dup", "local_prefix": "dup~2"}]
    assert b["collisions"] == [{"remote_prefix": "dup", "segments": ["a"]}]
    assert vmsgw("segment", "status", "--db", db_url) == 0
    out = capsys.readouterr().out
    assert "connection refused" in out
    assert ["b", "dup", "dup~2", "a"] in [line.split() for line in out.splitlines()]


def test_remove_deletes_the_segment_and_its_resources(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    add(vmsgw, db_url, "a")
    add(vmsgw, db_url, "b")
    _synced(db_url)
    capsys.readouterr()
    assert vmsgw("segment", "remove", "b", "--db", db_url) == 0
    assert "1 resource deleted" in capsys.readouterr().out
    with opened(db_url) as catalog:
        assert [s.name for s in catalog.list_segments()] == ["a"]
        assert [r.token for r in catalog.iter_resources()] == ["dup:P1"]


def test_catalog_import_keeps_segment_resources_and_refuses_their_prefixes(  # type: ignore[no-untyped-def]
        vmsgw, capsys, db_url: str, tmp_path: Path) -> None:
    add(vmsgw, db_url, "a")
    add(vmsgw, db_url, "b")
    _synced(db_url)
    csv = tmp_path / "local.csv"
    csv.write_text("token,name\nlocal:1,mine\n", encoding="utf-8")
    assert vmsgw("catalog", "import", str(csv), "--db", db_url) == 0
    csv.write_text("token,name\nlocal:1,mine\ndup~2:P9,not mine\n", encoding="utf-8")
    capsys.readouterr()
    assert vmsgw("catalog", "import", str(csv), "--db", db_url) == 2
    assert f"{csv}:3: token 'dup~2:P9' belongs to segment 'b'" in capsys.readouterr().err
    with opened(db_url) as catalog:
        assert sorted(r.token for r in catalog.iter_resources()) == ["dup:P1", "dup~2:P1", "local:1"]
