"""``vmsgw segment add --uplink-identity/--uplink-token-stdin`` and ``vmsgw serve --uplink-*``: the options' rules."""
from __future__ import annotations

import json

import pytest

from gateway.catalog.store import Catalog


def segment(db_url: str, name: str):  # type: ignore[no-untyped-def]
    catalog = Catalog.open(db_url)
    try:
        catalog.upgrade()
        return catalog.get_segment(name), catalog.find_segment_by_uplink_token("tok.1")
    finally:
        catalog.close()


def test_an_uplinked_segment_has_a_nominal_url_no_login_and_is_found_by_its_identity_and_token(
        vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("segment", "add", "leaf", "--uplink-identity", "leaf-cn", "--uplink-token-stdin", "--heartbeat", "3",
                 "--db", db_url, stdin="tok.1\n") == 0
    assert "connects through an uplink (certificate CN=leaf-cn and its token)" in capsys.readouterr().out
    s, by_token = segment(db_url, "leaf")
    assert s is not None and by_token is not None and by_token.name == "leaf"
    assert (s.url, s.user, s.password, s.heartbeat, s.uplink_identity, s.uplink_token, s.uplinked) == \
        ("https://leaf/onvif/device_service", "", "", 3.0, "leaf-cn", True, True)
    assert vmsgw("segment", "list", "--json", "--db", db_url) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["uplink_identity"], listed["uplink_token"]) == ("leaf-cn", True)


def test_update_states_the_whole_configuration(vmsgw, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("segment", "add", "leaf", "--uplink-token-stdin", "--db", db_url, stdin="tok.1\n") == 0
    assert vmsgw("segment", "add", "leaf", "--url", "http://h/onvif/device_service", "--user", "gw", "--update",
                 "--db", db_url, stdin="Pa55\n") == 0
    s, by_token = segment(db_url, "leaf")
    assert s is not None and not s.uplinked and by_token is None and s.user == "gw"


def test_a_taken_identity_leaves_nothing_behind(vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("segment", "add", "a", "--uplink-identity", "cn", "--db", db_url) == 0
    assert vmsgw("segment", "add", "b", "--uplink-identity", "cn", "--db", db_url) == 2
    assert "already given" in capsys.readouterr().err
    assert segment(db_url, "b")[0] is None


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["segment", "add", "leaf"], "", "--url and --user are required"),
    (["segment", "add", "leaf", "--uplink-identity", "cn", "--user", "gw"], "", "takes no --user"),
    (["segment", "add", "leaf", "--uplink-identity", "cn", "--no-verify-tls"], "", "takes no --user"),
    (["segment", "add", "leaf", "--uplink-token-stdin"], "\n", "empty"),
    (["serve", "--uplink-listen", "127.0.0.1:0"], "", "needs --uplink-cert and --uplink-key"),
    (["serve", "--uplink-ca", "ca.pem"], "", "need --uplink-listen"),
    (["serve", "--uplink-listen", "127.0.0.1:0", "--uplink-cert", "nope.pem", "--uplink-key", "nope.pem"], "",
     "nope.pem: no such file"),
])
def test_bad_combinations_are_one_line_usage_errors(vmsgw, capsys, db_url: str, argv: list[str], stdin: str,
                                                    message: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw(*argv, "--db", db_url, stdin=stdin) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_unusable_uplink_tls_files_fail_in_one_line_before_anything_starts(  # type: ignore[no-untyped-def]
        vmsgw, capsys, db_url: str, tmp_path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not PEM\n")
    assert vmsgw("serve", "--uplink-listen", "127.0.0.1:0", "--uplink-cert", str(junk), "--uplink-key", str(junk),
                 "--db", db_url) == 1
    err = capsys.readouterr().err
    assert "cannot use the uplink TLS files" in err and err.count("\n") == 1, err
