"""``vmsgw segment add --uplink-identity/--uplink-token-stdin`` and ``vmsgw serve --uplink-*``: the options' rules."""
from __future__ import annotations

import json

import pytest

from gateway.catalog.errors import CatalogError
from gateway.catalog.model import Segment
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


def test_an_uplinked_segment_may_log_in_to_a_device_that_authenticates_itself(
        vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("segment", "add", "relayed", "--uplink-identity", "relay-cn", "--user", "gw", "--db", db_url,
                 stdin="dev1ce-Pa55\n") == 0
    assert "connects through an uplink (certificate CN=relay-cn); logs in to its device as gw" in \
        capsys.readouterr().out
    s, _ = segment(db_url, "relayed")
    assert s is not None and s.uplinked and (s.user, s.password) == ("gw", "dev1ce-Pa55")
    assert vmsgw("segment", "add", "plain", "--uplink-identity", "plain-cn", "--db", db_url) == 0
    capsys.readouterr()
    assert vmsgw("segment", "list", "--json", "--db", db_url) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert (listed["relayed"]["user"], listed["plain"]["user"]) == ("gw", None)
    assert vmsgw("segment", "list", "--db", db_url) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["relayed"][2] == "gw" and rows["plain"][2] == "-"
    assert vmsgw("segment", "status", "--json", "--db", db_url) == 0
    status = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert (status["relayed"]["user"], status["plain"]["user"]) == ("gw", None)
    for verb in ("list", "status"):
        for extra in ((), ("--json",)):
            assert vmsgw("segment", verb, *extra, "--db", db_url) == 0
            assert "dev1ce-Pa55" not in capsys.readouterr().out


def test_with_a_token_and_a_user_the_token_is_the_first_line_and_the_password_the_second(
        vmsgw, capsys, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("segment", "add", "relayed", "--uplink-token-stdin", "--user", "gw", "--db", db_url,
                 stdin="tok.1\ndev1ce-Pa55\n") == 0
    assert "(its token); logs in to its device as gw" in capsys.readouterr().out
    s, by_token = segment(db_url, "relayed")
    assert by_token is not None and by_token.name == "relayed"
    assert s is not None and (s.user, s.password) == ("gw", "dev1ce-Pa55")
    # --update states the whole configuration: without --user the login is gone.
    assert vmsgw("segment", "add", "relayed", "--uplink-token-stdin", "--update", "--db", db_url,
                 stdin="tok.1\n") == 0
    s, _ = segment(db_url, "relayed")
    assert s is not None and (s.user, s.password) == ("", "")


def test_the_catalog_refuses_half_a_login_for_an_uplinked_segment(db_url: str) -> None:
    catalog = Catalog.open(db_url)
    try:
        catalog.upgrade()
        for user, password, missing in (("", "pw", "user"), ("gw", "", "password")):
            with pytest.raises(CatalogError, match=f"needs a non-empty {missing}"):
                catalog.add_segment(Segment(name="leaf", url="https://leaf/onvif/device_service", user=user,
                                            password=password, uplink_identity="cn"), replace=False)
        assert catalog.get_segment("leaf") is None
    finally:
        catalog.close()


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
    (["segment", "add", "leaf", "--uplink-identity", "cn", "--user", "gw"], "", "the password is empty"),
    (["segment", "add", "leaf", "--uplink-identity", "cn", "--user", "gw"], "\n", "the password is empty"),
    (["segment", "add", "leaf", "--uplink-identity", "cn", "--user", ""], "pw\n", "needs a non-empty user"),
    (["segment", "add", "leaf", "--uplink-token-stdin", "--user", "gw"], "tok.1\n", "the password is empty"),
    (["segment", "add", "leaf", "--uplink-identity", "cn", "--no-verify-tls"], "", "takes no --no-verify-tls"),
    (["segment", "add", "leaf", "--uplink-identity", "cn", "--ca", "ca.pem"], "", "takes no --no-verify-tls or --ca"),
    (["segment", "add", "leaf", "--uplink-token-stdin"], "\n", "empty"),
    (["serve", "--uplink-listen", "127.0.0.1:0"], "", "needs --uplink-cert and --uplink-key"),
    (["serve", "--uplink-ca", "ca.pem"], "", "need --uplink-listen"),
    (["serve", "--uplink-idle-timeout", "60"], "", "need --uplink-listen"),
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
