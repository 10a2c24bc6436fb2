"""RTSP and HTTP authentication, both sides, without I/O (docs/wire-format.md §11.4).

At the gateway (:class:`Gate`): a request carries ``Authorization: Digest`` (RFC 2617, MD5, with or without
``qop=auth``) or ``Basic``; otherwise it is answered 401 with both challenges.  Nonces are stateless: a time
and an HMAC of it under a per-process secret, valid :data:`NONCE_LIFETIME` seconds, so no table grows with the
number of clients.  The ``uri`` parameter must be the request's target, so an answer for one URI is no answer
for another.  Toward an upstream (:class:`UpstreamAuth`): the upstream's challenge is answered with the
credentials the resolver gave, Digest preferred to Basic.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from gateway.onvif.access import POLICY, READ_MEDIA
from gateway.soap.dispatch import Principal

REALM = "vmsgw"
#: Seconds a nonce of ours is accepted; a client past it is challenged again with ``stale=true``.
NONCE_LIFETIME = 300.0
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')

#: ``name -> (password, level)`` or None: the runtime's cached user lookup.
Credentials = Callable[[str], Awaitable[tuple[str, str] | None]]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # Digest's own hash, by its definition


def parse_params(text: str) -> dict[str, str]:
    """``a="x", b=y`` as a dict with lower-case keys (quoted-pair unescaped)."""
    found, position = {}, 0
    while position < len(text):
        matched = _PARAM.match(text, position)
        if matched is None or matched.end() == position:
            break
        quoted = matched[2]
        found[matched[1].lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else matched[3]
        position = matched.end()
    return found


@dataclass(frozen=True)
class Verdict:
    """What :meth:`Gate.check` found: a principal that may read media, or the status to answer."""

    principal: Principal | None
    status: int = 200  # 401: ask again (challenges()), 403: known but not allowed
    stale: bool = False


class Gate:
    """Authentication and the access rule (a level that may use READ_MEDIA) at the gateway."""

    def __init__(self, credentials: Credentials, *, realm: str = REALM, secret: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._credentials = credentials
        self.realm = realm
        self._secret = secret or os.urandom(32)
        self._clock = clock

    def _nonce(self, stamp: int) -> str:
        mac = hmac.new(self._secret, str(stamp).encode(), hashlib.sha256).hexdigest()[:32]
        return f"{stamp:x}{mac}"

    def _nonce_state(self, nonce: str) -> str:
        """"fresh", "stale" or "bad"."""
        stamp_hex = nonce[:-32]
        try:
            stamp = int(stamp_hex, 16)
        except ValueError:
            return "bad"
        if not hmac.compare_digest(self._nonce(stamp), nonce):
            return "bad"
        return "fresh" if 0 <= self._clock() - stamp <= NONCE_LIFETIME else "stale"

    def challenges(self, *, stale: bool = False) -> list[str]:
        """``WWW-Authenticate`` values, Digest first."""
        digest = f'Digest realm="{self.realm}", nonce="{self._nonce(int(self._clock()))}", algorithm=MD5'
        return [digest + (", stale=true" if stale else ""), f'Basic realm="{self.realm}"']

    async def check(self, authorization: str | None, method: str, target: str) -> Verdict:
        if not authorization:
            return Verdict(None, 401)
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            return await self._basic(rest.strip())
        if scheme.lower() == "digest":
            return await self._digest(parse_params(rest), method, target)
        return Verdict(None, 401)

    async def _grant(self, name: str, password_ok: Callable[[str], bool]) -> Verdict:
        found = await self._credentials(name)
        if found is None or not password_ok(found[0]):
            return Verdict(None, 401)
        return self.admit(Principal(name=name, level=found[1]))

    @staticmethod
    def admit(principal: Principal) -> Verdict:
        """The access rule alone, for a principal known without credentials (a request through an uplink)."""
        return Verdict(principal) if READ_MEDIA in POLICY.get(principal.level, frozenset()) else Verdict(principal, 403)

    async def _basic(self, encoded: str) -> Verdict:
        try:
            name, colon, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return Verdict(None, 401)
        if not colon or not name:
            return Verdict(None, 401)
        return await self._grant(name, lambda stored: hmac.compare_digest(stored.encode(), password.encode()))

    async def _digest(self, params: dict[str, str], method: str, target: str) -> Verdict:
        name, nonce, uri, answer = (params.get(k, "") for k in ("username", "nonce", "uri", "response"))
        if not (name and nonce and answer) or params.get("realm") != self.realm or uri != target:
            return Verdict(None, 401)
        if params.get("algorithm", "MD5").upper() != "MD5":
            return Verdict(None, 401)
        state = self._nonce_state(nonce)
        if state != "fresh":
            return Verdict(None, 401, stale=state == "stale")
        qop = params.get("qop")
        if qop not in (None, "auth"):
            return Verdict(None, 401)

        def matches(password: str) -> bool:
            expected = digest_response(name, password, self.realm, method, uri, nonce, qop,
                                       params.get("nc", ""), params.get("cnonce", ""))
            return hmac.compare_digest(expected, answer.lower())
        return await self._grant(name, matches)


def digest_response(user: str, password: str, realm: str, method: str, uri: str, nonce: str,
                    qop: str | None = None, nc: str = "", cnonce: str = "") -> str:
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


class UpstreamAuth:
    """Answers an upstream's challenge on every later request: Digest when offered, else Basic."""

    def __init__(self, user: str, password: str, challenges: Iterable[str]) -> None:
        self._user, self._password = user, password
        self._digest: dict[str, str] | None = None
        self._basic = False
        for challenge in challenges:
            scheme, _, rest = challenge.strip().partition(" ")
            if scheme.lower() == "digest" and self._digest is None:
                self._digest = parse_params(rest)
            elif scheme.lower() == "basic":
                self._basic = True
        self._count = 0

    @property
    def usable(self) -> bool:
        if self._digest is not None:
            return bool(self._digest.get("nonce")) and self._digest.get("algorithm", "MD5").upper() == "MD5"
        return self._basic

    def header(self, method: str, uri: str) -> str:
        if self._digest is None:
            token = base64.b64encode(f"{self._user}:{self._password}".encode()).decode("ascii")
            return f"Basic {token}"
        realm, nonce = self._digest.get("realm", ""), self._digest.get("nonce", "")
        offered = [q.strip() for q in self._digest.get("qop", "").split(",")]
        fields = [f'username="{self._user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        if "auth" in offered:
            self._count += 1
            nc, cnonce = f"{self._count:08x}", os.urandom(8).hex()
            answer = digest_response(self._user, self._password, realm, method, uri, nonce, "auth", nc, cnonce)
            fields += [f'response="{answer}"', "qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            fields.append(f'response="{digest_response(self._user, self._password, realm, method, uri, nonce)}"')
        if "opaque" in self._digest:
            fields.append(f'opaque="{self._digest["opaque"]}"')
        return "Digest " + ", ".join(fields)
