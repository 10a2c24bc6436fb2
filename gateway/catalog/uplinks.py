"""Uplinks (docs/wire-format.md §9): the configurations this gateway connects upward with, and the segments that connect
to it.

Configurations.  ``SetUplink`` and ``vmsgw uplink set`` both go through
:func:`set_uplink`, the one place their rules are checked: it raises
:class:`~gateway.catalog.errors.UplinkRefused`, whose ``problem`` the SOAP
service turns into its ONVIF fault and the CLI into a one-line error, and
writes nothing.  The connector reads :func:`get_uplinks` and reports through
:func:`set_uplink_status`.  Decisions on what the specification leaves open
(docs/decisions.md §8.21, §8.22, §8.23, §8.26):

- **The key.**  RemoteAddress identifies a configuration.  Scheme and host
  are compared without regard to case (RFC 3986 §6.2.2.1), everything else
  character for character; the address is stored and reported in that form,
  scheme and host in lower case.
- **UserLevel** is a ``tt:StringList``; the 2022 single string is a list of
  one.  Items are compared without regard to case with Administrator,
  Operator and User, and with the equivalent roles ``onvif:Administrator`` ...
  The first item that names a level is the level granted; other items
  (custom roles) are ignored; a list naming no level is refused.  The level
  stored, and reported by GetUplinks, is the one in force.
- **Authentication**: exactly one of ``certificate_id`` (mTLS) and
  ``authorization_server`` (AccessToken), each naming a keystore entry of the
  right kind.  An update may switch modes.  An empty or blank id counts as
  absent.
- **Status and Error** belong to the connector: a configuration is created
  ``Offline``; set_uplink ignores the caller's values and an update keeps
  the current ones.
- **MaxUplinks**: updating an existing address is always allowed; a new one
  beyond the limit is refused (``problem`` MAX_UPLINKS).

Segments.  On the listener side a segment that connects through an uplink is
recognised by the identity of its client certificate, or by its bearer
token, of which only the SHA-256 is kept and compared in constant time.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import urllib.parse

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.catalog import keystore, segments
from gateway.catalog.db import write_transaction
from gateway.catalog.errors import CatalogError, UnknownSegment, UplinkProblem, UplinkRefused
from gateway.catalog.model import Segment, UplinkConfig
from gateway.catalog.schema import segment, uplink
from gateway.catalog.users import USER_LEVELS

#: Configurations the gateway keeps (the ``MaxUplinks`` capability): each is a connection held open by a task.
MAX_UPLINKS = 16
#: RemoteAddress schemes (the ``Protocols`` capability): native h2c-reverse, and over WebSocket.
PROTOCOLS = ("https", "wss")
#: The ``uplink.remote_address`` column width.
MAX_ADDRESS = 1024
#: Connection states the connector reports (tup:ConnectionStatus).
OFFLINE, CONNECTING, CONNECTED = "Offline", "Connecting", "Connected"
STATUSES = (OFFLINE, CONNECTING, CONNECTED)
#: The longest error text kept.
MAX_ERROR = 500
#: Predefined roles equivalent to the user levels (docs/wire-format.md §8.2).
ROLE_PREFIX = "onvif:"
#: The ``segment.uplink_identity`` column width.
MAX_IDENTITY = 255
#: ``scheme://authority`` and the rest, for normalising case without re-serialising the URL.
_ADDRESS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", re.DOTALL)


def address_key(text: str) -> str:
    """The form an address is stored and compared in: scheme and host in lower case, the rest as given."""
    text = text.strip()
    found = _ADDRESS.fullmatch(text)
    if found is None:
        return text
    scheme, authority, rest = found.groups()
    return f"{scheme.lower()}://{authority.lower()}{rest}"


def check_address(text: str) -> str:
    """The key of a RemoteAddress this gateway can connect to; UplinkRefused otherwise.

    Messages do not repeat the address: it may hold credentials, which are refused but not to be echoed.
    """
    key = address_key(text)
    found = _ADDRESS.fullmatch(key)
    scheme = found.group(1) if found is not None else None
    if scheme not in PROTOCOLS:
        shown = f"the scheme {scheme!r}" if scheme is not None else "no scheme"
        raise UplinkRefused(UplinkProblem.PROTOCOL,
                            f"RemoteAddress has {shown}; it must be one of {', '.join(PROTOCOLS)}")
    if len(key) > MAX_ADDRESS or not key.isascii() or any(c.isspace() or not c.isprintable() for c in key):
        raise UplinkRefused(UplinkProblem.ADDRESS,
                            f"RemoteAddress must be at most {MAX_ADDRESS} printable ASCII characters without spaces")
    try:
        parts = urllib.parse.urlsplit(key)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError:
        raise UplinkRefused(UplinkProblem.ADDRESS,
                            "RemoteAddress: the host or the port (0 to 65535) is malformed") from None
    if not parts.hostname or "@" in parts.netloc or "#" in key:
        raise UplinkRefused(UplinkProblem.ADDRESS,
                            "RemoteAddress needs a host, and may carry neither credentials nor a fragment")
    return key


def effective_level(user_level: str) -> str:
    """The user level granted for a UserLevel list: its first item naming one."""
    for item in user_level.split():
        name = item[len(ROLE_PREFIX):] if item.lower().startswith(ROLE_PREFIX) else item
        for level in USER_LEVELS:
            if name.lower() == level.lower():
                return level
    raise UplinkRefused(UplinkProblem.USER_LEVEL,
                        f"UserLevel {user_level.strip()!r} names none of {', '.join(USER_LEVELS)}")


def _present(key_id: str | None) -> str | None:
    """A keystore reference, None when absent or blank."""
    if key_id is None:
        return None
    return key_id.strip() or None


def set_uplink(engine: Engine, cfg: UplinkConfig, *, max_uplinks: int) -> None:
    """Create or update the configuration at ``cfg.remote_address`` (module docstring: the rules)."""
    address = check_address(cfg.remote_address)
    level = effective_level(cfg.user_level)
    certificate, token = _present(cfg.certificate_id), _present(cfg.authorization_server)
    if certificate and token:
        raise UplinkRefused(UplinkProblem.AMBIGUOUS_AUTHENTICATION,
                            "give either a certificate (mTLS) or an authorization server (AccessToken), not both")
    if not certificate and not token:
        raise UplinkRefused(UplinkProblem.MISSING_AUTHENTICATION,
                            "give a certificate (mTLS) or an authorization server (AccessToken)")
    ca = _present(cfg.cert_path_validation_policy)
    references = ((certificate, keystore.CERTIFICATE, UplinkProblem.UNKNOWN_CERTIFICATE),
                  (token, keystore.TOKEN, UplinkProblem.UNKNOWN_TOKEN),
                  (ca, keystore.CA, UplinkProblem.UNKNOWN_CA))
    values = {"certificate_id": certificate, "authorization_server": token, "user_level": level,
              "cert_path_policy": ca, "updated": dt.datetime.now(dt.UTC)}
    with write_transaction(engine, keystore.LOCK) as conn:
        for key_id, kind, problem in references:
            if key_id is not None and keystore.kind_of(conn, key_id) != kind:
                raise UplinkRefused(problem, f"the keystore holds no {kind} {key_id!r}")
        if conn.execute(update(uplink).where(uplink.c.remote_address == address).values(**values)).rowcount:
            return
        if conn.execute(select(func.count()).select_from(uplink)).scalar_one() >= max_uplinks:
            raise UplinkRefused(UplinkProblem.MAX_UPLINKS, f"the gateway holds its maximum of {max_uplinks} uplinks")
        conn.execute(insert(uplink).values(remote_address=address, status=OFFLINE, **values))


def get_uplinks(engine: Engine) -> list[UplinkConfig]:
    """Every configuration, by remote address."""
    with engine.connect() as conn:
        rows = conn.execute(select(uplink).order_by(uplink.c.remote_address)).all()
    return [UplinkConfig(remote_address=r.remote_address, user_level=r.user_level, certificate_id=r.certificate_id,
                         authorization_server=r.authorization_server, cert_path_validation_policy=r.cert_path_policy,
                         status=r.status, error=r.error) for r in rows]


def delete_uplink(engine: Engine, remote_address: str) -> bool:
    with engine.begin() as conn:
        return conn.execute(delete(uplink).where(uplink.c.remote_address == address_key(remote_address))).rowcount > 0


def set_uplink_status(engine: Engine, remote_address: str, status: str, error: str | None) -> None:
    """Record the connector's view; a configuration deleted meanwhile is left deleted."""
    if status not in STATUSES:
        raise CatalogError(f"uplink status {status!r} is not one of {', '.join(STATUSES)}")
    values = {"status": status, "error": error[:MAX_ERROR] if error else None}
    with engine.begin() as conn:
        conn.execute(update(uplink).where(uplink.c.remote_address == address_key(remote_address)).values(**values))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_segment_uplink(engine: Engine, name: str, identity: str | None, token: str | None) -> None:
    """How segment ``name`` is recognised when it connects through an uplink (None: not that way)."""
    if identity is not None and (not 0 < len(identity) <= MAX_IDENTITY or identity != identity.strip()):
        raise CatalogError(f"uplink identity must be 1 to {MAX_IDENTITY} characters without surrounding spaces")
    if token is not None and not token:
        raise CatalogError("the uplink token is empty")
    digest = token_digest(token) if token is not None else None
    try:
        with write_transaction(engine, keystore.LOCK) as conn:
            if digest is not None:
                taken = select(segment.c.name).where(segment.c.uplink_token_sha256 == digest, segment.c.name != name)
                holder = conn.execute(taken).scalar()
                if holder is not None:
                    raise CatalogError(f"that uplink token is already given to segment {holder!r}")
            changed = update(segment).where(segment.c.name == name).values(
                uplink_identity=identity, uplink_token_sha256=digest)
            if not conn.execute(changed).rowcount:
                raise UnknownSegment(f"no segment named {name!r}")
    except IntegrityError:  # the unique index on uplink_identity
        raise CatalogError(f"uplink identity {identity!r} is already given to another segment") from None


def find_segment_by_uplink_identity(engine: Engine, identity: str) -> Segment | None:
    with engine.connect() as conn:
        name = conn.execute(select(segment.c.name).where(segment.c.uplink_identity == identity)).scalar()
    return segments.get(engine, name) if name is not None else None


def find_segment_by_uplink_token(engine: Engine, token: str) -> Segment | None:
    """The segment given ``token``; every stored digest is compared, in constant time each."""
    digest = token_digest(token)
    with engine.connect() as conn:
        rows = conn.execute(select(segment.c.name, segment.c.uplink_token_sha256)
                            .where(segment.c.uplink_token_sha256.is_not(None))).all()
    found = None
    for row in rows:
        if hmac.compare_digest(row.uplink_token_sha256, digest):
            found = row.name
    return segments.get(engine, found) if found is not None else None
