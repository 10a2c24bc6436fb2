"""The keystore: client certificates with their keys, CA bundles and access tokens, referenced by id.

Uplink configurations name their credentials by keystore id (docs/wire-format.md §9.5):
``CertificateID`` an entry of kind ``certificate``, ``CertPathValidationPolicyID``
one of kind ``ca``, ``AuthorizationServer`` one of kind ``token``.

Secrets.  Private keys (``key_pem``) and tokens (``secret``) are stored in the
catalog as given, like ``app_user.password`` and for the same reason: the
gateway itself must present them when it connects.  The trade-off is the same
too: whoever can read the catalog (an SQLite file only its owner may read, or
the PostgreSQL role) can read them.  Callers never print, list or log them;
ids, kinds and certificate fingerprints are what is shown.

Entries are checked before they are stored, so the connector never finds an
unusable one: a certificate must load with its key into an SSL context as the
connector loads it (PEM, key not encrypted, key matching the certificate); a
CA bundle must hold a certificate; a token must be an RFC 6750 ``b64token``,
since it travels in an ``Authorization`` header or a URL query.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import ssl
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, or_, select, update

from gateway.catalog.db import write_transaction
from gateway.catalog.errors import CatalogError, DuplicateKey, KeyInUse
from gateway.catalog.model import KeyEntry
from gateway.catalog.schema import keystore, uplink

CERTIFICATE, CA, TOKEN = "certificate", "ca", "token"
KINDS = (CERTIFICATE, CA, TOKEN)
#: Keystore ids: what fits the column and a tt:ReferenceToken, and reads well on a command line.
KEY_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")
#: RFC 6750 §2.1 b64token.
B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
#: Longer tokens would not fit the request line and headers most servers accept (8 KiB).
MAX_TOKEN = 4096
#: pg_advisory_xact_lock key serialising writers of uplinks, keys and segment uplink credentials ("gw-upln").
LOCK = 0x67772D75706C6E
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class _EncryptedKey(Exception):
    """Raised from the password callback: the connector has no passphrase to give."""


def _entry(row: Row[Any]) -> KeyEntry:
    return KeyEntry(id=row.id, kind=row.kind, cert_pem=row.cert_pem, key_pem=row.key_pem, secret=row.secret)


def _refuse_encrypted() -> str:
    raise _EncryptedKey


def _check_pair(entry: KeyEntry) -> None:
    """Load certificate and key exactly as an SSL client context will (the files live only for the check)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with tempfile.TemporaryDirectory(prefix="vmsgw-key-") as folder:  # mode 0700
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert.write_text(entry.cert_pem or "")
        key.write_text(entry.key_pem or "")
        try:
            context.load_cert_chain(cert, key, password=_refuse_encrypted)
        except _EncryptedKey:
            raise CatalogError(f"key {entry.id!r}: the private key is encrypted; store it without a passphrase") \
                from None
        except ssl.SSLError as err:
            raise CatalogError(f"key {entry.id!r}: the certificate and private key do not load as a PEM pair "
                               f"({err.reason or 'unreadable'})") from None


def _check_ca(entry: KeyEntry) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=entry.cert_pem or "")
    except (ssl.SSLError, ValueError):
        raise CatalogError(f"key {entry.id!r}: the CA bundle holds no PEM certificate") from None


def check(entry: KeyEntry) -> None:
    """CatalogError unless ``entry`` is complete and usable by the connector."""
    if not KEY_ID.fullmatch(entry.id):
        raise CatalogError(f"key id {entry.id!r} must be 1 to 64 of the characters A-Z a-z 0-9 . _ ~ -")
    if entry.kind not in KINDS:
        raise CatalogError(f"key {entry.id!r}: kind {entry.kind!r} is not one of {', '.join(KINDS)}")
    given = {"cert_pem": entry.cert_pem is not None, "key_pem": entry.key_pem is not None,
             "secret": entry.secret is not None}
    needed = {CERTIFICATE: ("cert_pem", "key_pem"), CA: ("cert_pem",), TOKEN: ("secret",)}[entry.kind]
    if {field for field, present in given.items() if present} != set(needed):
        raise CatalogError(f"key {entry.id!r}: a {entry.kind} entry holds exactly {' and '.join(needed)}")
    if entry.kind == CERTIFICATE:
        _check_pair(entry)
    elif entry.kind == CA:
        _check_ca(entry)
    elif len(entry.secret or "") > MAX_TOKEN or not B64TOKEN.fullmatch(entry.secret or ""):
        raise CatalogError(f"key {entry.id!r}: the token must be 1 to {MAX_TOKEN} characters of an RFC 6750 "
                           "b64token (A-Z a-z 0-9 - . _ ~ + / then any '=')")


def fingerprint(pem: str) -> str | None:
    """SHA-256 of the first certificate in ``pem`` (hex, colon-separated), as ``openssl x509 -fingerprint`` shows."""
    found = _PEM_CERT.search(pem)
    if found is None:
        return None
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(found.group(0))).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def kind_of(conn: Connection, key_id: str) -> str | None:
    """The kind of entry ``key_id``, or None if there is none."""
    return conn.execute(select(keystore.c.kind).where(keystore.c.id == key_id)).scalar_one_or_none()


def users(conn: Connection, key_id: str) -> list[str]:
    """The remote addresses of the uplinks that reference ``key_id``."""
    refs = or_(uplink.c.certificate_id == key_id, uplink.c.authorization_server == key_id,
               uplink.c.cert_path_policy == key_id)
    return list(conn.execute(select(uplink.c.remote_address).where(refs).order_by(uplink.c.remote_address)).scalars())


def add(engine: Engine, entry: KeyEntry, *, replace: bool) -> None:
    """Store ``entry``; an existing id needs ``replace``, and keeps its kind while an uplink uses it."""
    check(entry)
    material = {"kind": entry.kind, "cert_pem": entry.cert_pem, "key_pem": entry.key_pem, "secret": entry.secret}
    with write_transaction(engine, LOCK) as conn:
        old = kind_of(conn, entry.id)
        if old is None:
            conn.execute(insert(keystore).values(id=entry.id, **material, created=dt.datetime.now(dt.UTC)))
            return
        if not replace:
            raise DuplicateKey(f"key {entry.id!r} exists; replace it explicitly")
        using = users(conn, entry.id) if old != entry.kind else []
        if using:
            raise KeyInUse(f"key {entry.id!r} is a {old} used by uplink {using[0]}; it cannot become a {entry.kind}")
        conn.execute(update(keystore).where(keystore.c.id == entry.id).values(**material))


def get(engine: Engine, key_id: str) -> KeyEntry | None:
    with engine.connect() as conn:
        row = conn.execute(select(keystore).where(keystore.c.id == key_id)).first()
    return _entry(row) if row is not None else None


def list_all(engine: Engine) -> list[KeyEntry]:
    with engine.connect() as conn:
        return [_entry(row) for row in conn.execute(select(keystore).order_by(keystore.c.id))]


def remove(engine: Engine, key_id: str) -> bool:
    """Delete entry ``key_id``; KeyInUse while an uplink references it."""
    with write_transaction(engine, LOCK) as conn:
        using = users(conn, key_id)
        if using:
            raise KeyInUse(f"key {key_id!r} is used by uplink {using[0]}; delete or change that uplink first")
        return conn.execute(delete(keystore).where(keystore.c.id == key_id)).rowcount > 0
