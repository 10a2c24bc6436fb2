"""The connector's TLS client context and access token, built from an uplink configuration and the keystore.

Rules (docs/wire-format.md §9.2-9.3, docs/decisions.md §8.24):

1. The remote client's certificate is always verified, host name included
   (RFC 6125): against the CA bundle named by CertPathValidationPolicyID when
   one is configured, else against the system trust store.  There is no
   unverified mode.
2. mTLS (CertificateID): the keystore's certificate and key are presented.
   ``ssl`` loads a key only from a file, so the PEMs are written to a private
   temporary directory (mode 0700) that is removed as soon as they are loaded.
3. AccessToken (AuthorizationServer): the keystore's token is the bearer
   token of the upgrade request.
4. TLS 1.2 at least; ALPN offers only ``http/1.1``, since the first exchange
   is HTTP/1.1 and ``h2`` would be a lie (docs/wire-format.md §9.2 rec).

A missing or wrong-kind keystore entry is a :class:`CredentialError`, whose
text becomes the uplink's Error status.
"""
from __future__ import annotations

import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from gateway.catalog.model import KeyEntry, UplinkConfig

KeyLookup = Callable[[str], "KeyEntry | None"]


class CredentialError(Exception):
    """The configuration names keystore material that is absent or of the wrong kind."""


def _entry(lookup: KeyLookup, key_id: str, kind: str, role: str) -> KeyEntry:
    entry = lookup(key_id)
    if entry is None:
        raise CredentialError(f"the {role} {key_id!r} is not in the keystore")
    if entry.kind != kind:
        raise CredentialError(f"the {role} {key_id!r} is a {entry.kind}, not a {kind}")
    return entry


def credentials(config: UplinkConfig, lookup: KeyLookup) -> tuple[ssl.SSLContext, str | None]:
    """The TLS context to connect with and the bearer token (None in mTLS mode)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    if config.cert_path_validation_policy:
        ca = _entry(lookup, config.cert_path_validation_policy, "ca", "CertPathValidationPolicyID")
        try:
            context.load_verify_locations(cadata=ca.cert_pem or "")
        except (ssl.SSLError, ValueError):
            raise CredentialError(f"the CA bundle {ca.id!r} holds no usable certificate") from None
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    token = None
    if config.certificate_id:
        pair = _entry(lookup, config.certificate_id, "certificate", "CertificateID")
        _load_pair(context, pair)
    elif config.authorization_server:
        token = _entry(lookup, config.authorization_server, "token", "AuthorizationServer token").secret
    return context, token


def _load_pair(context: ssl.SSLContext, pair: KeyEntry) -> None:
    with tempfile.TemporaryDirectory(prefix="vmsgw-uplink-") as folder:
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert.write_text(pair.cert_pem or "")
        key.touch(mode=0o600)
        key.write_text(pair.key_pem or "")
        try:
            context.load_cert_chain(cert, key, password=lambda: b"")  # an encrypted key fails, never prompts
        except ssl.SSLError as exc:
            raise CredentialError(f"the certificate {pair.id!r} does not load with its key ({exc.reason})") from None
