"""``vmsgw uplink``: configuring uplinks and their keys, under the Uplink service's rules; secrets never shown."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.catalog.store import Catalog
from gateway.catalog.uplinks import MAX_UPLINKS
from tests.uplink_keys import CERT, ENCRYPTED_KEY, KEY, OTHER_KEY

TOKEN = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2lnbg"
ADDRESS = "https://upper-vms.example.net/uplink"


@contextmanager
def opened(db_url: str) -> Iterator[Catalog]:
    catalog = Catalog.open(db_url)
    try:
        catalog.upgrade()  # a command refused before opening the catalog has not created it
        yield catalog
    finally:
        catalog.close()


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, str]:
    """The test key material as files: cert, key, other (a key that does not match), encrypted."""
    files = {"cert": CERT, "key": KEY, "other": OTHER_KEY, "encrypted": ENCRYPTED_KEY, "binary": "\udcff"}
    paths = {}
    for name, text in files.items():
        path = tmp_path / f"{name}.pem"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        paths[name] = str(path)
    return paths


@pytest.fixture
def keyed(vmsgw, db_url: str, pem: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    """A catalog holding the certificate ``client``, the CA bundle ``roots`` and the token ``oauth``."""
    assert vmsgw("uplink", "key", "add", "client", "--cert", pem["cert"], "--key", pem["key"], "--db", db_url) == 0
    assert vmsgw("uplink", "key", "add", "roots", "--ca", pem["cert"], "--db", db_url) == 0
    assert vmsgw("uplink", "key", "add", "oauth", "--token-stdin", "--db", db_url, stdin=TOKEN + "\n") == 0
    return db_url


def test_set_list_and_delete(vmsgw, capsys, keyed: str) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert vmsgw("uplink", "set", "HTTPS://Upper-VMS.example.net/uplink", "--level", "operator", "--cert-id", "client",
                 "--ca-id", "roots", "--db", keyed) == 0
    assert capsys.readouterr().out == f"uplink {ADDRESS} saved: mTLS client, level Operator\n"
    assert vmsgw("uplink", "set", "wss://b.example/ws", "--level", "PTZControl User", "--token-id", "oauth",
                 "--db", keyed) == 0
    with opened(keyed) as catalog:
        catalog.set_uplink_status("wss://b.example/ws", "Connecting", "connection refused")
    capsys.readouterr()
    assert vmsgw("uplink", "list", "--db", keyed) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows == [["remote", "address", "credential", "ca", "level", "status", "error"],
                    [ADDRESS, "mTLS", "client", "roots", "Operator", "Offline", "-"],
                    ["wss://b.example/ws", "AccessToken", "oauth", "-", "User", "Connecting", "connection", "refused"]]
    assert vmsgw("uplink", "list", "--json", "--db", keyed) == 0
    assert json.loads(capsys.readouterr().out)[1] == {
        "remote_address": "wss://b.example/ws", "certificate_id": None, "authorization_server": "oauth", "ca_id": None,
        "user_level": "User", "status": "Connecting", "error": "connection refused"}
    # An update of the same address (host case aside) may switch the mode; the status is the connector's.
    assert vmsgw("uplink", "set", "wss://B.example/ws", "--level", "user", "--cert-id", "client", "--db", keyed) == 0
    assert vmsgw("uplink", "delete", "https://upper-vms.EXAMPLE.net/uplink", "--db", keyed) == 0
    with opened(keyed) as catalog:
        [left] = catalog.get_uplinks()
    assert (left.remote_address, left.certificate_id, left.status) == ("wss://b.example/ws", "client", "Connecting")


@pytest.mark.parametrize(("argv", "message"), [
    (["uplink", "set", "http://upper/", "--level", "user", "--cert-id", "client"], "the scheme 'http'; it must be one"),
    (["uplink", "set", "https://u:p@upper/", "--level", "user", "--cert-id", "client"], "neither credentials"),
    (["uplink", "set", "upper.example", "--level", "user", "--cert-id", "client"], "has no scheme"),
    (["uplink", "set", ADDRESS, "--level", "root", "--cert-id", "client"], "names none of Administrator"),
    (["uplink", "set", ADDRESS, "--level", "user"], "give a certificate (mTLS) or an authorization server"),
    (["uplink", "set", ADDRESS, "--level", "user", "--cert-id", "client", "--token-id", "oauth"], "not both"),
    (["uplink", "set", ADDRESS, "--level", "user", "--cert-id", "roots"], "no certificate 'roots'"),
    (["uplink", "set", ADDRESS, "--level", "user", "--token-id", "client"], "no token 'client'"),
    (["uplink", "set", ADDRESS, "--level", "user", "--cert-id", "client", "--ca-id", "nope"], "no ca 'nope'"),
    (["uplink", "set", ADDRESS, "--cert-id", "client"], "required: --level"),
    (["uplink", "delete", ADDRESS], f"no uplink to '{ADDRESS}'"),
])
def test_bad_uplinks_are_one_line_exit_2_and_write_nothing(vmsgw, capsys, keyed: str, argv: list[str],  # type: ignore[no-untyped-def]
                                                            message: str) -> None:
    capsys.readouterr()
    assert vmsgw(*argv, "--db", keyed) == 2
    err = capsys.readouterr().err
    assert message in err.strip().splitlines()[-1] and "Traceback" not in err  # argparse prints its usage first
    with opened(keyed) as catalog:
        assert catalog.get_uplinks() == []


def test_max_uplinks(vmsgw, capsys, keyed: str) -> None:  # type: ignore[no-untyped-def]
    for i in range(MAX_UPLINKS):
        assert vmsgw("uplink", "set", f"wss://gw{i}.example/", "--level", "user", "--token-id", "oauth",
                     "--db", keyed) == 0
    capsys.readouterr()
    assert vmsgw("uplink", "set", "wss://one-more.example/", "--level", "user", "--token-id", "oauth",
                 "--db", keyed) == 2
    assert f"maximum of {MAX_UPLINKS} uplinks" in capsys.readouterr().err


def test_key_list_shows_fingerprints_and_users_never_secrets(vmsgw, capsys, keyed: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("uplink", "set", ADDRESS, "--level", "user", "--cert-id", "client", "--ca-id", "roots",
                 "--db", keyed) == 0
    capsys.readouterr()
    assert vmsgw("uplink", "key", "list", "--db", keyed) == 0
    table = capsys.readouterr().out
    assert vmsgw("uplink", "key", "list", "--json", "--db", keyed) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["id"], k["kind"], k["used_by"]) for k in listed] == \
        [("client", "certificate", [ADDRESS]), ("oauth", "token", []), ("roots", "ca", [ADDRESS])]
    assert listed[0]["sha256_fingerprint"] == listed[2]["sha256_fingerprint"]  # the self-signed cert is its own CA
    assert len(listed[0]["sha256_fingerprint"]) == 95 and listed[1]["sha256_fingerprint"] is None
    everything = table + json.dumps(listed)
    assert TOKEN not in everything and "PRIVATE KEY" not in everything and KEY.splitlines()[1] not in everything


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["client", "--cert", "{cert}", "--key", "{key}"], "", "key 'client' exists; use --update"),
    (["k", "--cert", "{cert}", "--key", "{other}"], "", "do not load as a PEM pair"),
    (["k", "--cert", "{cert}", "--key", "{encrypted}"], "", "private key is encrypted"),
    (["k", "--cert", "{cert}"], "", "--cert needs --key"),
    (["k", "--ca", "{cert}", "--key", "{key}"], "", "--key goes with --cert"),
    (["k", "--ca", "{key}"], "", "holds no PEM certificate"),
    (["k", "--ca", "/no/such/file.pem"], "", "No such file or directory"),
    (["k", "--ca", "{binary}"], "", "not a PEM file"),
    (["k", "--token-stdin"], "\n", "the password is empty"),
    (["k", "--token-stdin"], "two words\n", "b64token"),
    (["bad id", "--token-stdin"], "t\n", "key id 'bad id'"),
    (["k"], "", "one of the arguments --cert --ca --token-stdin is required"),
])
def test_bad_keys_are_one_line_exit_2_and_write_nothing(vmsgw, capsys, keyed: str, pem: dict[str, str],  # type: ignore[no-untyped-def]
                                                        argv: list[str], stdin: str, message: str) -> None:
    capsys.readouterr()
    assert vmsgw("uplink", "key", "add", *(a.format(**pem) for a in argv), "--db", keyed, stdin=stdin) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "PRIVATE KEY" not in err
    with opened(keyed) as catalog:
        assert [k.id for k in catalog.list_keys()] == ["client", "oauth", "roots"]


def test_keys_are_replaced_with_update_and_removed_when_unused(vmsgw, capsys, keyed: str) -> None:  # type: ignore[no-untyped-def]
    assert vmsgw("uplink", "key", "add", "oauth", "--token-stdin", "--update", "--db", keyed, stdin="rotated\n") == 0
    assert vmsgw("uplink", "set", ADDRESS, "--level", "user", "--token-id", "oauth", "--db", keyed) == 0
    capsys.readouterr()
    assert vmsgw("uplink", "key", "remove", "oauth", "--db", keyed) == 2
    assert f"used by uplink {ADDRESS}" in capsys.readouterr().err
    assert vmsgw("uplink", "key", "remove", "nope", "--db", keyed) == 2
    assert "no key named 'nope'" in capsys.readouterr().err
    assert vmsgw("uplink", "delete", ADDRESS, "--db", keyed) == 0
    assert vmsgw("uplink", "key", "remove", "oauth", "--db", keyed) == 0
    with opened(keyed) as catalog:
        assert [k.id for k in catalog.list_keys()] == ["client", "roots"]
