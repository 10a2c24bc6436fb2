"""Command-line parsing: listen addresses, coordinates and the query options checked before sending."""
from __future__ import annotations

import argparse

import pytest

from gateway.cli.args import Listen, lat_lon, listen_address
from gateway.cli.main import build_parser
from gateway.cli.output import UsageError
from gateway.cli.query_cmd import build_query
from gateway.query.model import STRCMP0, LocationFilter, SelectPath

URL = "http://127.0.0.1:8080/onvif/device_service"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", Listen("127.0.0.1", 8080)),
        ("localhost:0", Listen("localhost", 0)),
        ("[::1]:8080", Listen("::1", 8080)),
        ("[::]:443", Listen("::", 443)),
        (":9000", Listen("0.0.0.0", 9000)),
        ("0.0.0.0:65535", Listen("0.0.0.0", 65535)),
    ],
)
def test_listen_forms(text: str, expected: Listen) -> None:
    assert listen_address(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("8080", "HOST:PORT"),
        ("::1:8080", "brackets"),
        ("[nothost]:80", "not an IPv6 address"),
        ("127.0.0.1:65536", "port must be"),
        ("127.0.0.1:-1", "port must be"),
        ("127.0.0.1:http", "port must be"),
        ("127.0.0.1:", "port must be"),
        ("my host:80", "not a host"),
    ],
)
def test_bad_listen(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        listen_address(text)


def test_bad_listen_is_a_usage_error(vmsgw, capsys) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("serve", "--listen", "localhost") == 2
    assert "HOST:PORT" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "says"), [("91,0", "latitude"), ("0,181", "longitude"), ("1", "LAT,LON"),
                                             ("a,b", "not a number"), ("nan,1", "finite")])
def test_bad_coordinates(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        lat_lon(text)


def _query(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["query", "--url", URL, "--user", "demo", *argv])


def test_query_options_become_a_resource_query() -> None:
    query = build_query(_query(
        "--near", "32.0603,118.7969", "--radius", "300", "--include-unknown", "--prefix", "32010001071321008015",
        "--scope", "onvif://www.onvif.org/location/city/nanjing", "--scope-match", "strcmp0",
        "--topic", "MediaProfile", "--topic", "VideoSource", "--select", "/Name", "--select", "/Scope/Location",
    ))  # fmt: skip
    assert query.location == LocationFilter(lon=118.7969, lat=32.0603, radius=300.0, include_unknown=True)
    assert query.kinds == frozenset({"MediaProfile", "VideoSource"})
    assert query.prefixes == ("32010001071321008015",)
    assert [s.rule for s in query.scopes] == [STRCMP0]
    assert query.select == (SelectPath(item="Name"), SelectPath(item="Scope", sub=("Location",)))


def test_query_defaults_select_everything() -> None:
    query = build_query(_query())
    assert query.kinds is None and query.location is None and query.select is None


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--near", "32,118"), "--near and --radius"),
        (("--radius", "100"), "--near and --radius"),
        (("--include-unknown",), "--include-unknown"),
        (("--topic", "Camera"), "unknown resource kind 'Camera'"),
        (("--select", "Name"), "--select 'Name'"),
        (("--prefix", "a b"), "--prefix"),
    ],
)
def test_contradictory_query_options(argv: tuple[str, ...], says: str) -> None:
    with pytest.raises(UsageError, match=says):
        build_query(_query(*argv))


@pytest.mark.parametrize(
    "argv",
    [("--near", "32,118", "--radius", "-1"), ("--near", "95,118", "--radius", "1"), ("--wait", "0"),
     ("--scope-match", "ldap")],
)
def test_query_option_values_are_checked_by_argparse(vmsgw, capsys, argv) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("query", "--url", URL, "--user", "demo", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage:") and "Traceback" not in err


def test_query_usage_error_exits_2_before_connecting(vmsgw, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VMSGW_PASSWORD", "x")
    assert vmsgw("query", "--url", URL, "--user", "demo", "--near", "32,118") == 2
    assert capsys.readouterr().err == "vmsgw query: --near and --radius go together: give both, or neither\n"


def test_db_option_before_or_after_the_command(db_url: str) -> None:
    parser = build_parser()
    assert parser.parse_args(["--db", db_url, "user", "list"]).db == db_url
    assert parser.parse_args(["user", "list", "--db", db_url]).db == db_url
    assert parser.parse_args(["user", "list"]).db is None
