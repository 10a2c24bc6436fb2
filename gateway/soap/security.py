"""WS-Security UsernameToken verification (OASIS UsernameToken Profile 1.0, docs/wire-format.md §8.1).

Theory of operation.  A token proves knowledge of the password either as
``PasswordDigest = Base64(SHA-1(nonce ‖ Created ‖ password))`` or, over TLS
only, as the plain ``PasswordText``.  Replay protection needs two things:

Rule 1: ``wsse:Nonce`` and ``wsu:Created`` are both required (ONVIF Core),
        and Created must lie within ±``skew`` of our clock.
Rule 2: a nonce accepted once is refused until its Created + ``skew`` has
        passed — after that the Created check alone refuses the token, so the
        :class:`NonceCache` can forget it.  Nonces are recorded only after the
        password checked out, so unauthenticated senders cannot fill the cache.

Every refusal is ``env:Sender`` + ``vocab.not_authorized`` with HTTP 400 (a
UsernameToken-only server answers 400, docs/wire-format.md §8.1), and no refusal says
whether the user exists.  Passwords are never logged nor echoed.

Verification comes in two halves so that the user's record can be fetched
between them without holding the event loop: :func:`read_username_token` does
every check that needs no record, :func:`check_username_token` the password
and the nonce.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree

from gateway.soap.dispatch import Principal
from gateway.soap.fault import RECEIVER, SENDER, FaultVocabulary, SoapFault
from gateway.soap.ns import WSSE, WSU, qn

#: Clock difference tolerated on wsu:Created (docs/wire-format.md §8.1 (rec): ±5 minutes).
CREATED_SKEW = timedelta(minutes=5)
#: Nonces remembered at once: ~100 bytes each, so ~20 MB; enough for ~330 logins/s over the 10-minute window.
MAX_NONCES = 200_000
#: Longest nonce accepted, decoded; clients send 16-byte nonces, a cap keeps cache entries small.
MAX_NONCE_BYTES = 64

_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_DIGEST = _PROFILE + "#PasswordDigest"
PASSWORD_TEXT = _PROFILE + "#PasswordText"
_BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

#: Compared against when the user is unknown, so both refusals cost the same.
_DUMMY_PASSWORD = "\x00unknown-user\x00"


class NonceCacheFull(Exception):
    """The cache holds ``max_entries`` unexpired nonces; refusing is the only safe answer."""


class NonceCache:
    """Bounded in-memory record of recently accepted nonces.

    Entries expire by time (their ``until``).  When ``max_entries`` unexpired
    nonces are held, :meth:`claim` refuses new ones (raises
    :class:`NonceCacheFull`) instead of forgetting any: forgetting an unexpired
    nonce would reopen it to replay.  Not thread-safe; the ASGI app calls it
    from its event loop only.
    """

    def __init__(self, *, max_entries: int = MAX_NONCES) -> None:
        self.max_entries = max_entries
        self._until: dict[bytes, datetime] = {}
        self._expiry: list[tuple[datetime, bytes]] = []  # heap, earliest expiry first

    def __len__(self) -> int:
        return len(self._until)

    def claim(self, nonce: bytes, *, now: datetime, until: datetime) -> bool:
        """Record ``nonce`` until ``until``; False if it is already recorded (a replay)."""
        while self._expiry and self._expiry[0][0] <= now:
            _, old = heapq.heappop(self._expiry)
            del self._until[old]
        if nonce in self._until:
            return False
        if len(self._until) >= self.max_entries:
            raise NonceCacheFull
        self._until[nonce] = until
        heapq.heappush(self._expiry, (until, nonce))
        return True


@dataclass(frozen=True, kw_only=True)
class UsernameToken:
    """A ``wsse:UsernameToken`` that passed every check needing no credentials (:func:`read_username_token`)."""

    username: str
    kind: str  # PASSWORD_DIGEST or PASSWORD_TEXT
    sent: bytes  # the wsse:Password text as sent
    nonce: bytes  # decoded
    created: str  # the wsu:Created text, as the digest covers it
    created_at: datetime


def read_username_token(
    security_el: etree._Element,
    *,
    now: datetime,
    tls: bool,
    vocab: FaultVocabulary,
    skew: timedelta = CREATED_SKEW,
) -> UsernameToken:
    """The ``wsse:UsernameToken`` in ``security_el``, checked as far as it can be without the user's record.

    Raises the Sender fault for a token that is malformed, stale, or a
    PasswordText without TLS; the caller then looks the user up (possibly
    off the event loop) and finishes with :func:`check_username_token`.
    """
    token = security_el.find(qn(WSSE, "UsernameToken"))
    if token is None:
        raise _refuse(vocab, "wsse:Security carries no wsse:UsernameToken")
    username = _text(token, qn(WSSE, "Username"))
    password_el = token.find(qn(WSSE, "Password"))
    nonce_el = token.find(qn(WSSE, "Nonce"))
    created = _text(token, qn(WSU, "Created"))
    if username is None or password_el is None:
        raise _refuse(vocab, "UsernameToken lacks Username or Password")
    if nonce_el is None or created is None:
        raise _refuse(vocab, "UsernameToken lacks wsse:Nonce or wsu:Created")
    if nonce_el.get("EncodingType", _BASE64) != _BASE64:
        raise _refuse(vocab, "wsse:Nonce must be Base64Binary")
    try:
        nonce = base64.b64decode((nonce_el.text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(vocab, "wsse:Nonce is not valid base64") from None
    if not 0 < len(nonce) <= MAX_NONCE_BYTES:
        raise _refuse(vocab, f"wsse:Nonce must decode to 1..{MAX_NONCE_BYTES} bytes")
    created_at = _parse_created(created)
    if created_at is None:
        raise _refuse(vocab, "wsu:Created is not an xs:dateTime")
    if abs(now - created_at) > skew:
        raise _refuse(vocab, "wsu:Created is outside the accepted clock skew")

    kind = password_el.get("Type", PASSWORD_TEXT)
    if kind == PASSWORD_TEXT and not tls:
        raise _refuse(vocab, "PasswordText is accepted over TLS only")
    if kind not in (PASSWORD_TEXT, PASSWORD_DIGEST):
        raise _refuse(vocab, "unsupported wsse:Password Type")
    return UsernameToken(username=username, kind=kind, sent=(password_el.text or "").strip().encode(), nonce=nonce,
                         created=created, created_at=created_at)


def check_username_token(
    token: UsernameToken,
    record: tuple[str, str] | None,
    *,
    nonces: NonceCache,
    now: datetime,
    vocab: FaultVocabulary,
    skew: timedelta = CREATED_SKEW,
) -> Principal:
    """Authenticate ``token`` against the user's ``record`` (password, level), None for an unknown user."""
    password, level = record if record is not None else (_DUMMY_PASSWORD, "")
    if token.kind == PASSWORD_DIGEST:
        expected = base64.b64encode(hashlib.sha1(token.nonce + token.created.encode() + password.encode()).digest())
    else:
        expected = password.encode()
    if not hmac.compare_digest(token.sent, expected) or record is None:
        raise _refuse(vocab, "authentication failed")

    try:
        fresh = nonces.claim(token.nonce, now=now, until=token.created_at + skew)
    except NonceCacheFull:
        raise SoapFault(RECEIVER, "too many recent authentications; retry later",
                        subcodes=vocab.internal, http_status=503) from None
    if not fresh:
        raise _refuse(vocab, "wsse:Nonce has been used already")
    return Principal(name=token.username, level=level)


def _refuse(vocab: FaultVocabulary, reason: str) -> SoapFault:
    return SoapFault(SENDER, reason, subcodes=vocab.not_authorized, http_status=400)


def _text(parent: etree._Element, tag: str) -> str | None:
    el = parent.find(tag)
    return None if el is None else (el.text or "")


def _parse_created(text: str) -> datetime | None:
    """Parse xs:dateTime; a value without zone is taken as UTC, the zone ONVIF mandates."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def username_token(user: str, password: str, *, nonce: bytes, created: datetime) -> etree._Element:
    """The client side: a ``wsse:Security`` header with a PasswordDigest UsernameToken."""
    stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()).decode()
    security = etree.Element(qn(WSSE, "Security"), nsmap={"wsse": WSSE, "wsu": WSU})
    token = etree.SubElement(security, qn(WSSE, "UsernameToken"))
    etree.SubElement(token, qn(WSSE, "Username")).text = user
    etree.SubElement(token, qn(WSSE, "Password"), Type=PASSWORD_DIGEST).text = digest
    etree.SubElement(token, qn(WSSE, "Nonce"), EncodingType=_BASE64).text = base64.b64encode(nonce).decode()
    etree.SubElement(token, qn(WSU, "Created")).text = stamp
    return security
