"""UsernameToken verification: every refusal is Sender/NotAuthorized/400, and only exact digests pass."""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from soapkit import USERS, VOCAB, envelope
from zeep.wsse.username import UsernameToken

from gateway.soap.dispatch import Principal
from gateway.soap.envelope import parse_envelope
from gateway.soap.fault import RECEIVER, SENDER, SoapFault
from gateway.soap.ns import WSSE
from gateway.soap.security import (
    CREATED_SKEW,
    MAX_NONCE_BYTES,
    PASSWORD_DIGEST,
    PASSWORD_TEXT,
    NonceCache,
    check_username_token,
    read_username_token,
)

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
NONCE = b"0123456789abcdef"

def verify_username_token(security: etree._Element, *, lookup: Callable[[str], tuple[str, str] | None],
                          **kw: Any) -> Principal:
    """The SOAP app's two steps with a synchronous lookup: read the token, then check it against the record."""
    nonces = kw.pop("nonces")
    token = read_username_token(security, **kw)
    kw.pop("tls")
    return check_username_token(token, lookup(token.username), nonces=nonces, **kw)



def token(user: str = "alice", password: str = "wonderland", *, nonce: bytes | None = NONCE,
          created: str | None = "2026-11-21T12:00:00Z", digest: bool = True, password_type: str | None = None,
          nonce_text: str | None = None) -> etree._Element:
    """A wsse:Security element; ``password`` is what the client believes the password is."""
    parts = [f"<wsse:Username>{user}</wsse:Username>"]
    if digest:
        raw = hashlib.sha1((nonce or b"") + (created or "").encode() + password.encode()).digest()
        value, kind = base64.b64encode(raw).decode(), PASSWORD_DIGEST
    else:
        value, kind = password, PASSWORD_TEXT
    type_attr = "" if password_type == "" else f' Type="{password_type or kind}"'
    parts.append(f"<wsse:Password{type_attr}>{value}</wsse:Password>")
    if nonce is not None:
        parts.append(f"<wsse:Nonce>{nonce_text or base64.b64encode(nonce).decode()}</wsse:Nonce>")
    if created is not None:
        parts.append(f"<wsu:Created>{created}</wsu:Created>")
    data = envelope("<x/>", f"<wsse:Security><wsse:UsernameToken>{''.join(parts)}</wsse:UsernameToken></wsse:Security>")
    security = parse_envelope(data, max_bytes=1 << 16, vocab=VOCAB).security
    assert security is not None
    return security


def verify(security: etree._Element, *, nonces: NonceCache | None = None, now: datetime = NOW, tls: bool = False):
    return verify_username_token(security, lookup=USERS.get, nonces=nonces if nonces is not None else NonceCache(),
                                 now=now, tls=tls, vocab=VOCAB)


def refusal(security: etree._Element, **kwargs) -> SoapFault:
    with pytest.raises(SoapFault) as info:
        verify(security, **kwargs)
    fault = info.value
    assert (fault.code, fault.subcodes, fault.http_status) == (SENDER, VOCAB.not_authorized, 400)
    return fault


def test_good_digest_yields_the_user_and_level() -> None:
    principal = verify(token())
    assert (principal.name, principal.level) == ("alice", "Administrator")


def test_zeep_generated_digest_token_is_accepted() -> None:
    root = etree.fromstring(envelope("<x/>"))
    UsernameToken("bob", "builder", use_digest=True, created=NOW).apply(root, {})
    security = root.find(f".//{{{WSSE}}}Security")
    assert verify(security).name == "bob"


def test_wrong_password_and_unknown_user_fail_alike() -> None:
    wrong = refusal(token(password="guess"))
    unknown = refusal(token(user="mallory", password="wonderland"))
    assert wrong.reason == unknown.reason == "authentication failed"
    assert "guess" not in wrong.reason and "wonderland" not in unknown.reason


@pytest.mark.parametrize("kwargs, reason", [
    ({"nonce": None}, "UsernameToken lacks wsse:Nonce or wsu:Created"),
    ({"created": None}, "UsernameToken lacks wsse:Nonce or wsu:Created"),
    ({"nonce_text": "not*base64"}, "wsse:Nonce is not valid base64"),
    ({"nonce": b"x" * (MAX_NONCE_BYTES + 1)}, f"wsse:Nonce must decode to 1..{MAX_NONCE_BYTES} bytes"),
    ({"created": "yesterday"}, "wsu:Created is not an xs:dateTime"),
    ({"password_type": "urn:other"}, "unsupported wsse:Password Type"),
])
def test_malformed_tokens(kwargs: dict, reason: str) -> None:
    assert refusal(token(**kwargs)).reason == reason


def test_security_without_username_token() -> None:
    security = etree.Element(f"{{{WSSE}}}Security")
    assert refusal(security).reason == "wsse:Security carries no wsse:UsernameToken"


@pytest.mark.parametrize("offset", [CREATED_SKEW + timedelta(seconds=1), -(CREATED_SKEW + timedelta(seconds=1))])
def test_created_outside_skew_is_refused(offset: timedelta) -> None:
    created = (NOW + offset).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert refusal(token(created=created)).reason == "wsu:Created is outside the accepted clock skew"


def test_created_at_the_skew_edge_and_in_other_zones_is_accepted() -> None:
    assert verify(token(created="2026-11-21T12:05:00Z")).name == "alice"
    assert verify(token(created="2026-11-21T13:00:00+01:00")).name == "alice"
    assert verify(token(created="2026-11-21T12:00:00.123")).name == "alice"  # no zone: UTC


def test_replayed_nonce_is_refused_until_it_expires() -> None:
    nonces = NonceCache()
    verify(token(), nonces=nonces)
    assert refusal(token(), nonces=nonces).reason == "wsse:Nonce has been used already"
    # Same nonce, a later Created: still within the first token's window, still a replay.
    assert refusal(token(created="2026-11-21T12:04:00Z"), nonces=nonces, now=NOW + timedelta(minutes=4)).reason \
        == "wsse:Nonce has been used already"
    later = NOW + CREATED_SKEW + timedelta(minutes=1)
    assert verify(token(created=later.strftime("%Y-%m-%dT%H:%M:%SZ")), nonces=nonces, now=later).name == "alice"
    assert len(nonces) == 1


def test_failed_logins_do_not_fill_the_nonce_cache() -> None:
    nonces = NonceCache()
    refusal(token(password="guess"), nonces=nonces)
    assert len(nonces) == 0
    assert verify(token(), nonces=nonces).name == "alice"


def test_password_text_only_over_tls() -> None:
    assert refusal(token(digest=False)).reason == "PasswordText is accepted over TLS only"
    assert refusal(token(digest=False, password_type="")).reason == "PasswordText is accepted over TLS only"
    assert verify(token(digest=False), tls=True).name == "alice"
    refusal(token(digest=False, password="guess", nonce=b"another-nonce"), tls=True)


def test_full_cache_refuses_rather_than_forgets() -> None:
    nonces = NonceCache(max_entries=2)
    until = NOW + CREATED_SKEW
    assert nonces.claim(b"a", now=NOW, until=until) and nonces.claim(b"b", now=NOW, until=until)
    with pytest.raises(SoapFault) as info:
        verify(token(), nonces=nonces)
    assert (info.value.code, info.value.subcodes, info.value.http_status) == (RECEIVER, VOCAB.internal, 503)
    assert not nonces.claim(b"a", now=NOW, until=until)  # still remembered
    assert nonces.claim(b"c", now=until, until=until + CREATED_SKEW)  # a and b expired at `until`
    assert len(nonces) == 1


def test_tokens_we_send_verify_with_our_own_check() -> None:
    from gateway.soap.security import NonceCache, username_token

    now = datetime.now(UTC)
    header = username_token("alice", "s3cret", nonce=b"0123456789abcdef", created=now)
    principal = verify_username_token(header, lookup=lambda n: ("s3cret", "User") if n == "alice" else None,
                                      nonces=NonceCache(), now=now, tls=False, vocab=VOCAB)
    assert principal.name == "alice" and principal.level == "User"
