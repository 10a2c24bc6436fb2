"""Uplinks in the catalog: configurations and their rules, the keystore, segment uplink credentials, migration.

Every test runs on SQLite and, when VMSGW_TEST_POSTGRES_URL is set, on a fresh
PostgreSQL database (the catalog fixtures of tests/conftest.py).
"""
from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import select

from gateway.catalog import migrate
from gateway.catalog.db import open_engine
from gateway.catalog.errors import (
    CatalogError,
    DuplicateKey,
    KeyInUse,
    UnknownSegment,
    UplinkProblem,
    UplinkRefused,
)
from gateway.catalog.model import KeyEntry, Segment, UplinkConfig
from gateway.catalog.schema import segment
from gateway.catalog.store import Catalog
from tests.uplink_keys import CERT, ENCRYPTED_KEY, KEY, OTHER_KEY

PREVIOUS_REVISION = "0dc63c1275a7"
CLIENT = KeyEntry(id="client", kind="certificate", cert_pem=CERT, key_pem=KEY)
ROOTS = KeyEntry(id="roots", kind="ca", cert_pem=CERT)
TOKEN = KeyEntry(id="bearer", kind="token", secret="eyJhbGciOi.payload_x-y~z+/==")


@pytest.fixture
def catalog(catalog: Catalog) -> Catalog:
    """The shared fresh catalog (tests/conftest.py) with a certificate, a CA bundle and a token."""
    for entry in (CLIENT, ROOTS, TOKEN):
        catalog.add_key(entry)
    return catalog


def mtls(address: str = "https://cloud.example/uplink", **changes: object) -> UplinkConfig:
    cfg = UplinkConfig(remote_address=address, user_level="Operator", certificate_id="client",
                       cert_path_validation_policy="roots")
    return dataclasses.replace(cfg, **changes)


def test_a_configuration_is_created_read_updated_and_deleted(catalog: Catalog) -> None:
    catalog.set_uplink(mtls(), max_uplinks=4)
    catalog.set_uplink(mtls("wss://b.example/ws", certificate_id=None, authorization_server="bearer",
                            cert_path_validation_policy=None, user_level="User"), max_uplinks=4)
    assert catalog.get_uplinks() == [
        UplinkConfig(remote_address="https://cloud.example/uplink", user_level="Operator", certificate_id="client",
                     cert_path_validation_policy="roots", status="Offline"),
        UplinkConfig(remote_address="wss://b.example/ws", user_level="User", authorization_server="bearer"),
    ]
    # Same key (scheme and host differ in case only): an update, which may switch the mode.
    catalog.set_uplink(mtls("HTTPS://Cloud.EXAMPLE/uplink", certificate_id=None, authorization_server="bearer"),
                       max_uplinks=2)
    first = catalog.get_uplinks()[0]
    assert (first.remote_address, first.certificate_id, first.authorization_server) == \
        ("https://cloud.example/uplink", None, "bearer")
    assert catalog.delete_uplink("https://CLOUD.example/uplink") is True
    assert catalog.delete_uplink("https://cloud.example/uplink") is False
    assert catalog.delete_uplink("not a url") is False
    assert [u.remote_address for u in catalog.get_uplinks()] == ["wss://b.example/ws"]


def test_the_path_keeps_its_case_and_blank_ids_are_absent(catalog: Catalog) -> None:
    catalog.set_uplink(mtls("https://h/Up", cert_path_validation_policy="  "), max_uplinks=4)
    catalog.set_uplink(mtls("https://h/up"), max_uplinks=4)
    assert [(u.remote_address, u.cert_path_validation_policy) for u in catalog.get_uplinks()] == \
        [("https://h/Up", None), ("https://h/up", "roots")]


@pytest.mark.parametrize(("given", "granted"), [
    ("Operator", "Operator"),
    ("administrator", "Administrator"),
    ("PTZControl onvif:User Administrator", "User"),
    ("  onvif:OPERATOR  ", "Operator"),
])
def test_the_first_known_user_level_is_granted(catalog: Catalog, given: str, granted: str) -> None:
    catalog.set_uplink(mtls(user_level=given), max_uplinks=4)
    assert catalog.get_uplinks()[0].user_level == granted


@pytest.mark.parametrize(("changes", "problem"), [
    ({"remote_address": "http://cloud.example/"}, UplinkProblem.PROTOCOL),
    ({"remote_address": "cloud.example"}, UplinkProblem.PROTOCOL),
    ({"remote_address": "https://"}, UplinkProblem.ADDRESS),
    ({"remote_address": "https://user:pw@cloud.example/"}, UplinkProblem.ADDRESS),
    ({"remote_address": "https://cloud.example/#part"}, UplinkProblem.ADDRESS),
    ({"remote_address": "https://cloud.example:99999/"}, UplinkProblem.ADDRESS),
    ({"remote_address": "https://[::1/"}, UplinkProblem.ADDRESS),
    ({"remote_address": "https://cloud.example/a b"}, UplinkProblem.ADDRESS),
    ({"remote_address": "https://cloüd.example/"}, UplinkProblem.ADDRESS),
    ({"remote_address": "https://cloud.example/" + "x" * 1024}, UplinkProblem.ADDRESS),
    ({"user_level": "Anonymous"}, UplinkProblem.USER_LEVEL),
    ({"user_level": ""}, UplinkProblem.USER_LEVEL),
    ({"certificate_id": None}, UplinkProblem.MISSING_AUTHENTICATION),
    ({"certificate_id": " "}, UplinkProblem.MISSING_AUTHENTICATION),
    ({"authorization_server": "bearer"}, UplinkProblem.AMBIGUOUS_AUTHENTICATION),
    ({"certificate_id": "nope"}, UplinkProblem.UNKNOWN_CERTIFICATE),
    ({"certificate_id": "roots"}, UplinkProblem.UNKNOWN_CERTIFICATE),  # a CA bundle is no client certificate
    ({"cert_path_validation_policy": "client"}, UplinkProblem.UNKNOWN_CA),
    ({"certificate_id": None, "authorization_server": "client"}, UplinkProblem.UNKNOWN_TOKEN),
])
def test_each_broken_rule_is_named_and_nothing_is_written(catalog: Catalog, changes: dict[str, object],
                                                          problem: UplinkProblem) -> None:
    catalog.set_uplink(mtls("https://kept.example/"), max_uplinks=4)
    before = catalog.get_uplinks()
    attempts = [mtls(**changes)]
    if "remote_address" not in changes:
        attempts.append(mtls("https://kept.example/", **changes))  # an update is checked the same way
    for cfg in attempts:
        with pytest.raises(UplinkRefused) as refused:
            catalog.set_uplink(cfg, max_uplinks=4)
        assert refused.value.problem is problem
        assert "pw@" not in str(refused.value)  # credentials in an address are refused, never echoed
    assert catalog.get_uplinks() == before


def test_max_uplinks_refuses_a_new_address_but_not_an_update(catalog: Catalog) -> None:
    catalog.set_uplink(mtls("https://a/"), max_uplinks=2)
    catalog.set_uplink(mtls("https://b/"), max_uplinks=2)
    with pytest.raises(UplinkRefused, match="maximum of 2 uplinks") as refused:
        catalog.set_uplink(mtls("https://c/"), max_uplinks=2)
    assert refused.value.problem is UplinkProblem.MAX_UPLINKS
    catalog.set_uplink(mtls("https://B/", user_level="User"), max_uplinks=2)
    assert [(u.remote_address, u.user_level) for u in catalog.get_uplinks()] == \
        [("https://a/", "Operator"), ("https://b/", "User")]


def test_concurrent_creations_cannot_overshoot_the_maximum(catalog: Catalog) -> None:
    refused: list[UplinkRefused] = []

    def create(i: int) -> None:
        try:
            catalog.set_uplink(mtls(f"https://gw{i}.example/"), max_uplinks=3)
        except UplinkRefused as err:
            refused.append(err)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(catalog.get_uplinks()) == 3 and len(refused) == 5


def test_status_is_the_connectors_and_survives_an_update(catalog: Catalog) -> None:
    catalog.set_uplink(mtls(status="Connected", error="ignored"), max_uplinks=4)
    assert (catalog.get_uplinks()[0].status, catalog.get_uplinks()[0].error) == ("Offline", None)
    catalog.set_uplink_status("https://CLOUD.example/uplink", "Connecting", "TLS: certificate verify failed" * 50)
    catalog.set_uplink(mtls(user_level="User"), max_uplinks=4)
    cfg = catalog.get_uplinks()[0]
    assert cfg.status == "Connecting" and cfg.error is not None and len(cfg.error) == 500
    catalog.set_uplink_status("https://cloud.example/uplink", "Connected", None)
    assert (catalog.get_uplinks()[0].status, catalog.get_uplinks()[0].error) == ("Connected", None)
    with pytest.raises(CatalogError, match="'Online' is not one of Offline, Connecting, Connected"):
        catalog.set_uplink_status("https://cloud.example/uplink", "Online", None)
    catalog.set_uplink_status("https://gone.example/", "Connected", None)  # deleted meanwhile: nothing happens
    assert len(catalog.get_uplinks()) == 1


def test_keys_are_added_listed_replaced_and_removed(catalog: Catalog) -> None:
    assert [k.id for k in catalog.list_keys()] == ["bearer", "client", "roots"]
    assert catalog.get_key("client") == CLIENT and catalog.get_key("nope") is None
    with pytest.raises(DuplicateKey, match="key 'bearer' exists"):
        catalog.add_key(dataclasses.replace(TOKEN, secret="other"))
    catalog.add_key(dataclasses.replace(TOKEN, secret="rotated"), replace=True)
    assert catalog.get_key("bearer").secret == "rotated"  # type: ignore[union-attr]
    catalog.add_key(KeyEntry(id="bearer", kind="ca", cert_pem=CERT), replace=True)  # unused: may change kind
    assert catalog.delete_key("bearer") is True and catalog.delete_key("bearer") is False


def test_a_key_in_use_is_neither_removed_nor_changed_in_kind(catalog: Catalog) -> None:
    catalog.set_uplink(mtls(), max_uplinks=4)
    with pytest.raises(KeyInUse, match=r"used by uplink https://cloud\.example/uplink"):
        catalog.delete_key("roots")
    with pytest.raises(KeyInUse, match="cannot become a token"):
        catalog.add_key(KeyEntry(id="client", kind="token", secret="t"), replace=True)
    catalog.add_key(CLIENT, replace=True)  # same kind: a rotation
    catalog.delete_uplink("https://cloud.example/uplink")
    assert catalog.delete_key("roots") is True


@pytest.mark.parametrize(("entry", "why"), [
    (KeyEntry(id="k", kind="certificate", cert_pem=CERT, key_pem=OTHER_KEY), "do not load as a PEM pair"),
    (KeyEntry(id="k", kind="certificate", cert_pem=CERT, key_pem=ENCRYPTED_KEY), "private key is encrypted"),
    (KeyEntry(id="k", kind="certificate", cert_pem="junk", key_pem=KEY), "do not load as a PEM pair"),
    (KeyEntry(id="k", kind="certificate", cert_pem=CERT), "holds exactly cert_pem and key_pem"),
    (KeyEntry(id="k", kind="ca", cert_pem=CERT, key_pem=KEY), "holds exactly cert_pem"),
    (KeyEntry(id="k", kind="ca", cert_pem=KEY), "holds no PEM certificate"),
    (KeyEntry(id="k", kind="ca", cert_pem=""), "holds no PEM certificate"),
    (KeyEntry(id="k", kind="token", secret="has space"), "b64token"),
    (KeyEntry(id="k", kind="token", secret=""), "b64token"),
    (KeyEntry(id="k", kind="token", secret="x" * 4097), "b64token"),
    (KeyEntry(id="k", kind="token", secret="line\r\nbreak"), "b64token"),
    (KeyEntry(id="k", kind="password", secret="s3cr3t"), "not one of certificate, ca, token"),
    (KeyEntry(id="bad id", kind="token", secret="s3cr3t"), "key id 'bad id'"),
    (KeyEntry(id="k" * 65, kind="token", secret="s3cr3t"), "must be 1 to 64"),
])
def test_unusable_key_material_is_refused(catalog: Catalog, entry: KeyEntry, why: str) -> None:
    with pytest.raises(CatalogError, match=why) as refused:
        catalog.add_key(entry)
    assert KEY not in str(refused.value) and (entry.secret or "<none>") not in str(refused.value)
    assert [k.id for k in catalog.list_keys()] == ["bearer", "client", "roots"]


def add_segments(catalog: Catalog, *names: str) -> None:
    for name in names:
        catalog.add_segment(Segment(name=name, url=f"http://{name}/onvif/device_service", user="u", password="p"))


def test_segments_are_found_by_uplink_identity_or_token(catalog: Catalog) -> None:
    add_segments(catalog, "a", "b")
    catalog.set_segment_uplink("a", "CN=district-a", "token-of-a")
    catalog.set_segment_uplink("b", None, "token-of-b")
    assert catalog.find_segment_by_uplink_identity("CN=district-a").name == "a"  # type: ignore[union-attr]
    assert catalog.find_segment_by_uplink_identity("cn=district-a") is None
    assert catalog.find_segment_by_uplink_token("token-of-b").name == "b"  # type: ignore[union-attr]
    assert catalog.find_segment_by_uplink_token("token-of-") is None
    with catalog.engine.connect() as conn:  # only the digest is kept
        stored = conn.execute(select(segment.c.uplink_token_sha256).where(segment.c.name == "a")).scalar_one()
    assert len(stored) == 64 and "token-of-a" not in stored
    catalog.set_segment_uplink("a", None, None)
    assert catalog.find_segment_by_uplink_identity("CN=district-a") is None
    assert catalog.find_segment_by_uplink_token("token-of-a") is None


def test_segment_uplink_credentials_are_unique_and_checked(catalog: Catalog) -> None:
    add_segments(catalog, "a", "b")
    catalog.set_segment_uplink("a", "CN=a", "shared")
    with pytest.raises(CatalogError, match="already given to another segment"):
        catalog.set_segment_uplink("b", "CN=a", None)
    with pytest.raises(CatalogError, match="already given to segment 'a'"):
        catalog.set_segment_uplink("b", None, "shared")
    catalog.set_segment_uplink("a", "CN=a", "shared")  # setting one's own again is no conflict
    with pytest.raises(UnknownSegment):
        catalog.set_segment_uplink("nobody", "CN=x", None)
    for identity, token, why in (("", None, "1 to 255"), (" CN=b", None, "surrounding"), ("x" * 256, None, "1 to 255"),
                                 (None, "", "empty")):
        with pytest.raises(CatalogError, match=why):
            catalog.set_segment_uplink("b", identity, token)
    assert catalog.find_segment_by_uplink_token("shared").name == "a"  # type: ignore[union-attr]


def test_the_revision_adds_uplinks_to_a_catalog_with_segments(catalog_url: str) -> None:
    engine = open_engine(catalog_url)
    try:
        migrate.upgrade(engine, PREVIOUS_REVISION)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO segment (name, url, \"user\", password, verify_tls, heartbeat, state, generation, "
                "rejected, created) VALUES ('old', 'http://old/', 'u', 'p', true, 10, 'up', 3, 0, '2026-11-21')")
        migrate.upgrade(engine)
        migrate.check(engine)  # the schema and the migrations agree
        catalog = Catalog(engine)
        old = catalog.get_segment("old")
        assert old is not None and (old.state, old.generation) == ("up", 3)
        assert catalog.get_uplinks() == [] and catalog.list_keys() == []
        catalog.set_segment_uplink("old", "CN=old", None)
        assert catalog.find_segment_by_uplink_identity("CN=old") is not None
    finally:
        engine.dispose()
