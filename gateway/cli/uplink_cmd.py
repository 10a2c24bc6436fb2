"""``vmsgw uplink set|list|delete`` and ``vmsgw uplink key add|list|remove``: the uplinks this gateway opens.

The same configurations as the ONVIF Uplink service (``SetUplink`` ...), under
the same rules, checked in one place (:mod:`gateway.catalog.uplinks`): what
the service refuses with a fault, these commands refuse with one line and
exit code 2, writing nothing.  A running gateway's connector picks changes up
from the catalog.

Keys are the credentials the configurations name: a client certificate with
its private key (mTLS), a CA bundle that validates the remote client's
certificate, or an access token (read from standard input, never from the
command line, where other users could see it).  Private keys and tokens are
stored in the catalog like user passwords; they are never printed, listed or
logged — ``key list`` shows ids, kinds and certificate fingerprints.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.catalog.errors import CatalogError, DuplicateKey
from gateway.catalog.keystore import fingerprint
from gateway.catalog.model import KeyEntry, UplinkConfig
from gateway.catalog.uplinks import MAX_UPLINKS, address_key
from gateway.cli.context import db_url, open_catalog
from gateway.cli.output import EXIT_OK, UsageError, print_json, table
from gateway.cli.passwords import read_stdin_line


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("uplink", help="uplinks: connections this gateway opens to a remote client")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    put = verbs.add_parser(
        "set", parents=[common], help="add or change the uplink to a remote address",
        description="Add the uplink to REMOTE_ADDRESS (https:// native h2c-reverse, wss:// over WebSocket), or change "
        "it if one exists (scheme and host compare without regard to case). Give exactly one credential: "
        "--cert-id (mTLS) or --token-id (AccessToken).",
    )  # fmt: skip
    put.add_argument("remote_address", metavar="REMOTE_ADDRESS")
    put.add_argument(
        "--level", required=True, metavar="LEVEL",
        help="user level granted to requests through the uplink: administrator, operator or user (a space-separated "
        "list of levels and roles grants its first level)",
    )  # fmt: skip
    put.add_argument("--cert-id", metavar="ID", help="keystore certificate to authenticate with (mTLS)")
    put.add_argument("--token-id", metavar="ID", help="keystore token to authenticate with (AccessToken)")
    put.add_argument("--ca-id", metavar="ID", help="keystore CA bundle that validates the remote's certificate")
    put.set_defaults(handler=run_set, command="uplink set")

    listing = verbs.add_parser("list", parents=[common], help="list uplinks with their status and last error")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=run_list, command="uplink list")

    remove = verbs.add_parser("delete", parents=[common], help="delete the uplink to a remote address")
    remove.add_argument("remote_address", metavar="REMOTE_ADDRESS")
    remove.set_defaults(handler=run_delete, command="uplink delete")

    keys = verbs.add_parser("key", help="the keystore: certificates, CA bundles and tokens the uplinks use")
    _add_key_parsers(keys.add_subparsers(dest="key_verb", required=True, metavar="VERB"), common)


def _add_key_parsers(verbs: argparse._SubParsersAction[argparse.ArgumentParser],
                     common: argparse.ArgumentParser) -> None:
    add = verbs.add_parser(
        "add", parents=[common], help="store a certificate with its key, a CA bundle, or a token (from stdin)",
        description="Store key material under ID: --cert FILE --key FILE (a client certificate and its unencrypted "
        "private key, PEM), --ca FILE (CA certificates, PEM), or --token-stdin (an access token, the first line of "
        "standard input).",
    )  # fmt: skip
    add.add_argument("id", metavar="ID")
    material = add.add_mutually_exclusive_group(required=True)
    material.add_argument("--cert", type=Path, metavar="FILE", help="client certificate (PEM); needs --key")
    material.add_argument("--ca", type=Path, metavar="FILE", help="CA bundle (PEM)")
    material.add_argument("--token-stdin", action="store_true", help="read an access token from standard input")
    add.add_argument("--key", type=Path, metavar="FILE", help="the private key of --cert (PEM, not encrypted)")
    add.add_argument("--update", action="store_true", help="replace the material of an existing id")
    add.set_defaults(handler=run_key_add, command="uplink key add")

    listing = verbs.add_parser("list", parents=[common], help="list keys: ids, kinds, fingerprints (never secrets)")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=run_key_list, command="uplink key list")

    remove = verbs.add_parser("remove", parents=[common], help="remove a key no uplink uses")
    remove.add_argument("id", metavar="ID")
    remove.set_defaults(handler=run_key_remove, command="uplink key remove")


def _mode(cfg: UplinkConfig) -> str:
    return f"mTLS {cfg.certificate_id}" if cfg.certificate_id else f"AccessToken {cfg.authorization_server}"


def run_set(args: argparse.Namespace) -> int:
    cfg = UplinkConfig(remote_address=args.remote_address, user_level=args.level, certificate_id=args.cert_id,
                       authorization_server=args.token_id, cert_path_validation_policy=args.ca_id)
    with open_catalog(db_url(args)) as catalog:
        try:
            catalog.set_uplink(cfg, max_uplinks=MAX_UPLINKS)
        except CatalogError as err:  # the catalog is open, so this is about what was given
            raise UsageError(str(err)) from None
        key = address_key(args.remote_address)
        saved = next(u for u in catalog.get_uplinks() if u.remote_address == key)
    print(f"uplink {saved.remote_address} saved: {_mode(saved)}, level {saved.user_level}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        configs = catalog.get_uplinks()
    if args.json:
        print_json([{"remote_address": u.remote_address, "certificate_id": u.certificate_id,
                     "authorization_server": u.authorization_server, "ca_id": u.cert_path_validation_policy,
                     "user_level": u.user_level, "status": u.status, "error": u.error} for u in configs])
    else:
        table(("remote address", "credential", "ca", "level", "status", "error"),
              ((u.remote_address, _mode(u), u.cert_path_validation_policy, u.user_level, u.status, u.error)
               for u in configs))
    return EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        deleted = catalog.delete_uplink(args.remote_address)
    if not deleted:
        raise UsageError(f"no uplink to {args.remote_address!r}")
    print(f"uplink {address_key(args.remote_address)} deleted")
    return EXIT_OK


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except OSError as err:
        raise UsageError(f"{path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a PEM file (PEM is ASCII text)") from None


def _entry(args: argparse.Namespace) -> KeyEntry:
    if args.key is not None and args.cert is None:
        raise UsageError("--key goes with --cert")
    if args.cert is not None:
        if args.key is None:
            raise UsageError("--cert needs --key FILE, the certificate's private key")
        return KeyEntry(id=args.id, kind="certificate", cert_pem=_read(args.cert), key_pem=_read(args.key))
    if args.ca is not None:
        return KeyEntry(id=args.id, kind="ca", cert_pem=_read(args.ca))
    return KeyEntry(id=args.id, kind="token", secret=read_stdin_line())


def run_key_add(args: argparse.Namespace) -> int:
    entry = _entry(args)
    with open_catalog(db_url(args)) as catalog:
        try:
            catalog.add_key(entry, replace=args.update)
        except DuplicateKey:
            raise UsageError(f"key {args.id!r} exists; use --update to replace it") from None
        except CatalogError as err:  # the catalog is open, so this is about the material given
            raise UsageError(str(err)) from None
    shown = fingerprint(entry.cert_pem) if entry.cert_pem else None
    print(f"key {entry.id} ({entry.kind}) {'saved' if args.update else 'added'}"
          + (f", SHA-256 fingerprint {shown}" if shown else ""))
    return EXIT_OK


def run_key_list(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        keys, configs = catalog.list_keys(), catalog.get_uplinks()
    rows: list[dict[str, Any]] = [{
        "id": k.id, "kind": k.kind, "sha256_fingerprint": fingerprint(k.cert_pem) if k.cert_pem else None,
        "used_by": [u.remote_address for u in configs
                    if k.id in (u.certificate_id, u.authorization_server, u.cert_path_validation_policy)],
    } for k in keys]  # nothing secret in them: no key_pem, no secret
    if args.json:
        print_json(rows)
    else:
        table(("id", "kind", "SHA-256 fingerprint", "used by"),
              ((r["id"], r["kind"], r["sha256_fingerprint"], ", ".join(r["used_by"]) or None) for r in rows))
    return EXIT_OK


def run_key_remove(args: argparse.Namespace) -> int:
    with open_catalog(db_url(args)) as catalog:
        try:
            removed = catalog.delete_key(args.id)
        except CatalogError as err:  # KeyInUse: an uplink references it
            raise UsageError(str(err)) from None
    if not removed:
        raise UsageError(f"no key named {args.id!r}")
    print(f"key {args.id} removed")
    return EXIT_OK
