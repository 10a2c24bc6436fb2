"""The fake camera's authentication: HTTP Digest (RFC 2617, MD5, qop=auth) and WS-UsernameToken PasswordDigest.

Checked the way devices check them: a Digest nonce is the camera's own and expires, a replayed nonce count is
refused; a UsernameToken needs Nonce and Created, Created within five minutes of the *device's* clock (which the
``--clock-offset`` option sets wrong on purpose), and a nonce is accepted once.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from tests.fakes.camera.ns import WSSE, WSU

REALM = "fake-camera"
NONCE_LIFETIME = 300.0
SKEW = 300.0
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
                   "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    level: str  # Administrator | User


@dataclass(frozen=True)
class Verdict:
    """Who the request is (None: anonymous), how it proved it, and whether a Digest nonce went stale."""

    account: Account | None
    method: str | None  # "digest" | "ws" | None
    stale: bool = False
    failed: bool = False  # credentials were presented and did not check out


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def parse_digest(header: str) -> dict[str, str] | None:
    """The parameters of an ``Authorization: Digest ...`` header, None for another scheme."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    return {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM.finditer(rest)}


class Authenticator:
    """The accounts and the nonce books of one camera."""

    def __init__(self, accounts: list[Account], clock: Callable[[], float]) -> None:
        self.accounts = {a.name: a for a in accounts}
        self._clock = clock  # the device's UTC time in seconds
        self._lock = threading.Lock()
        self._nonces: dict[str, tuple[float, int]] = {}  # digest nonce -> (issued, highest nc seen)
        self._ws_nonces: dict[str, float] = {}

    def challenge(self, stale: bool = False) -> str:
        nonce = secrets.token_hex(16)
        with self._lock:
            now = time.monotonic()
            self._nonces = {n: v for n, v in self._nonces.items() if now - v[0] < NONCE_LIFETIME}
            self._nonces[nonce] = (now, 0)
        return (f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", opaque="{secrets.token_hex(8)}", '
                f'algorithm=MD5, stale={"TRUE" if stale else "FALSE"}')

    def digest(self, header: str, method: str, target: str) -> Verdict:
        """Check an HTTP Digest ``Authorization`` header against ``method`` and the request ``target``."""
        params = parse_digest(header)
        if params is None:
            return Verdict(None, None, failed=True)
        account = self.accounts.get(params.get("username", ""))
        nonce, uri = params.get("nonce", ""), params.get("uri", "")
        if account is None or params.get("realm") != REALM or uri != target:
            return Verdict(None, None, failed=True)
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm != "MD5":
            return Verdict(None, None, failed=True)
        ha1 = md5(f"{account.name}:{REALM}:{account.password}")
        ha2 = md5(f"{method}:{uri}")
        qop = params.get("qop")
        if qop == "auth":
            expected = md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}")
        elif qop is None:
            expected = md5(f"{ha1}:{nonce}:{ha2}")
        else:
            return Verdict(None, None, failed=True)
        if not secrets.compare_digest(expected, params.get("response", "")):
            return Verdict(None, None, failed=True)
        with self._lock:
            issued = self._nonces.get(nonce)
            if issued is None or time.monotonic() - issued[0] >= NONCE_LIFETIME:
                return Verdict(None, None, stale=True)
            try:
                count = int(params.get("nc", "0"), 16)
            except ValueError:
                return Verdict(None, None, failed=True)
            if qop == "auth" and count <= issued[1]:
                return Verdict(None, None, failed=True)  # a replayed request
            self._nonces[nonce] = (issued[0], count)
        return Verdict(account, "digest")

    def username_token(self, envelope: etree._Element) -> Verdict:
        """Check the ``wsse:UsernameToken`` of a request envelope; anonymous when there is none."""
        token = envelope.find(f".//{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            return Verdict(None, None)
        name = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
        password = token.find(f"{{{WSSE}}}Password")
        nonce = (token.findtext(f"{{{WSSE}}}Nonce") or "").strip()
        created = (token.findtext(f"{{{WSU}}}Created") or "").strip()
        account = self.accounts.get(name)
        if account is None or password is None or not nonce or not created:
            return Verdict(None, None, failed=True)
        if password.get("Type", PASSWORD_DIGEST) != PASSWORD_DIGEST:
            return Verdict(None, None, failed=True)
        try:
            raw_nonce = base64.b64decode(nonce, validate=True)
            stamp = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return Verdict(None, None, failed=True)
        if abs(stamp - self._clock()) > SKEW:
            return Verdict(None, None, failed=True)
        expected = base64.b64encode(hashlib.sha1(raw_nonce + created.encode() + account.password.encode()).digest())
        if not secrets.compare_digest(expected.decode(), (password.text or "").strip()):
            return Verdict(None, None, failed=True)
        with self._lock:
            now = time.monotonic()
            self._ws_nonces = {n: t for n, t in self._ws_nonces.items() if now - t < 2 * SKEW}
            if nonce in self._ws_nonces:
                return Verdict(None, None, failed=True)
            self._ws_nonces[nonce] = now
        return Verdict(account, "ws")
