"""The catalog's tables, as SQLAlchemy Core metadata shared by the store and the migrations.

The alembic revisions in ``migrations/versions`` create exactly this; ``vmsgw
db check`` (:func:`gateway.catalog.migrate.check`) fails when they drift
apart.  Objects SQLAlchemy cannot model — the SQLite R*Tree (kept by
spatial.py), the PostgreSQL GiST point index and ``gw_distance_m`` function —
are created by the first revision and only described here.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
)

#: Prefect-style constraint names: ``<kind>_<table>__<all columns>``.  Named
#: constraints can be dropped by name in later migrations on both backends; the
#: double underscore keeps ``a.b_c`` and ``a_b.c`` apart.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s__%(column_0_N_name)s",
    "uq": "uq_%(table_name)s__%(column_0_N_name)s",
    "ck": "ck_%(table_name)s__%(constraint_name)s",
    "fk": "fk_%(table_name)s__%(column_0_N_name)s__%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _bytewise(length: int | None = None) -> String:
    """A string compared byte-wise and case-sensitively, as prefix range scans need.

    SQLite's default BINARY collation already is; PostgreSQL's database
    collation usually is not, so those columns are ``COLLATE "C"`` there.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


#: Up to 64 characters: ``tt:ReferenceToken`` (docs/wire-format.md §3.2).
TOKEN = _bytewise(64)
#: A sequence number of the change feed: grows for ever, so 64 bits.
SEQ = BigInteger().with_variant(Integer, "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid

resource = Table(
    "resource",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token", TOKEN, nullable=False, unique=True),
    Column("kind", String(64), nullable=False),
    Column("name", Text),
    Column("lat", Float),
    Column("lon", Float),
    Column("elevation", Float),
    Column("offline", Boolean),  # as published: True while its segment is down (segments.py)
    Column("seq", BigInteger, nullable=False),  # feed position of the resource's last change
    # Federation (segments.py): NULL for a local resource, else the segment it came from,
    # its token there, the Offline that segment reports, and the sync generation that last
    # announced it.  The unique index also serves "every resource of a segment".
    Column("segment", String(64)),
    Column("segment_token", TOKEN),
    Column("reported_offline", Boolean),
    Column("sync_gen", Integer),
    # An index, not a constraint: SQLite adds it without rebuilding the table.
    Index(None, "segment", "segment_token", unique=True),
    sqlite_autoincrement=True,  # ids are never reused: snapshot cursors page by id
)

resource_scope = Table(
    "resource_scope",
    metadata,
    Column("resource_id", Integer, ForeignKey("resource.id", ondelete="CASCADE"), primary_key=True),
    Column("pos", Integer, primary_key=True),  # order of the Scope items in the event
    Column("uri", Text, nullable=False),
    Column("key", _bytewise()),  # scopes.scope_key(uri); NULL: this scope never matches rfc3986
    Index(None, "key", "resource_id"),
)

change = Table(
    "change",
    metadata,
    # Assigned as head + 1 under the writer lock (store.feed), never by the database.
    Column("seq", SEQ, primary_key=True, autoincrement=False),
    Column("token", TOKEN, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("old", Text),  # compact JSON image of the resource before; NULL: created
    Column("new", Text),  # ... after; NULL: deleted
)

app_user = Table(
    "app_user",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("level", String(16), nullable=False),  # Administrator | Operator | User
    # Kept as given: WS-UsernameToken PasswordDigest needs the password itself.
    Column("password", Text, nullable=False),
)

pull_point = Table(
    "pull_point",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("principal", Text, nullable=False),
    Column("query", Text, nullable=False),  # ResourceQuery.to_json()
    Column("phase", String(16), nullable=False),  # snapshot | tail
    Column("snap_after_id", Integer, nullable=False),
    Column("snap_seq", BigInteger, nullable=False),
    Column("tail_seq", BigInteger, nullable=False),
    Column("termination", DateTime(timezone=True), nullable=False, index=True),
    Column("created", DateTime(timezone=True), nullable=False),
)

segment = Table(
    "segment",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text, nullable=False),  # its device service
    Column("user", Text, nullable=False),
    # Kept as given, like app_user.password: the UsernameToken digest needs it.
    Column("password", Text, nullable=False),
    Column("verify_tls", Boolean, nullable=False),
    Column("ca_file", Text),
    Column("heartbeat", Float, nullable=False),  # seconds: the PullMessages Timeout on the segment
    Column("state", String(16), nullable=False),  # new | syncing | up | down
    Column("last_seen", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("generation", Integer, nullable=False),  # bumped at each (re)subscription
    Column("rejected", BigInteger, nullable=False),  # a flooding segment could pass 2**31
    Column("created", DateTime(timezone=True), nullable=False),
    # Uplink listener (uplinks.py): how a segment that connects to us through an uplink is recognised,
    # by its client certificate identity or by the SHA-256 of its bearer token (the token is not kept).
    Column("uplink_identity", String(255)),
    Column("uplink_token_sha256", String(64)),
    # An index, not a constraint: SQLite adds it without rebuilding the table.
    Index(None, "uplink_identity", unique=True),
    # gateway | device (model.KINDS, checked by segments.py: a CHECK would make SQLite rebuild the table).
    Column("kind", String(16), nullable=False, server_default="gateway"),
    # A device segment's settings: the token prefix when the device presents no Annex A ID, and its location.
    Column("device_prefix", _bytewise(64)),
    Column("lat", Float),
    Column("lon", Float),
    Column("elevation", Float),
)

#: ONVIF Uplink configurations (docs/wire-format.md §9.5), keyed by the normalised RemoteAddress (uplinks.py).
uplink = Table(
    "uplink",
    metadata,
    Column("remote_address", _bytewise(1024), primary_key=True),
    Column("certificate_id", String(64)),  # keystore id of kind certificate: mTLS
    Column("authorization_server", String(64)),  # keystore id of kind token: AccessToken
    Column("user_level", String(16), nullable=False),  # Administrator | Operator | User
    Column("cert_path_policy", String(64)),  # keystore id of kind ca: validates the remote's certificate
    Column("status", String(16), nullable=False, server_default="Offline"),  # Offline | Connecting | Connected
    Column("error", Text),
    Column("updated", DateTime(timezone=True), nullable=False),
)

#: Key material the uplinks reference (keystore.py).  Private keys and tokens are kept as
#: given, like app_user.password: the connector needs them to authenticate.
keystore = Table(
    "keystore",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("cert_pem", Text),
    Column("key_pem", Text),
    Column("secret", Text),
    Column("created", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('certificate', 'ca', 'token')", name="kind"),
)

#: Token context (docs/decisions.md §7): the prefix this gateway uses for each device prefix a
#: segment presents ("" for its tokens without one).  Not a foreign key: the mapping outlives
#: the segment, so removing and re-adding it gives the same tokens.
prefix_map = Table(
    "prefix_map",
    metadata,
    Column("segment", String(64), primary_key=True),
    Column("remote_prefix", TOKEN, primary_key=True),
    Column("local_prefix", TOKEN, nullable=False, unique=True),
)

#: Digested local parts (docs/wire-format.md §3.3 Rule 3) handed out by the media and PTZ proxies, and the
#: segment token each stands for: a digest cannot be reversed (adaption.py, docs/wire-format.md §10.1).
token_digest = Table(
    "token_digest",
    metadata,
    Column("segment", String(64), primary_key=True),
    Column("digest", TOKEN, primary_key=True),
    Column("segment_token", TOKEN, nullable=False),
)

#: The SQLite R*Tree over resource locations, written by spatial.py: a separate
#: MetaData so neither create_all nor autogenerate ever sees it.
rtree_metadata = MetaData()
resource_rtree = Table(
    "resource_rtree",
    rtree_metadata,
    Column("id", Integer, primary_key=True),
    Column("min_lat", Float),
    Column("max_lat", Float),
    Column("min_lon", Float),
    Column("max_lon", Float),
)

#: Names of the dialect-specific objects the first revision creates by hand.
RTREE_PREFIX = "resource_rtree"  # the virtual table and its _node/_parent/_rowid shadows
GIST_INDEX = "ix_resource__point"


#: The snapshot cursor: a page reads resources with ``id > AFTER_ID``.  Conditions
#: built for snapshot pages may use it too, to skip what earlier pages covered
#: inside their own subqueries (where.py's R*Tree prefilter); 0 by default,
#: so such a condition also runs on its own.
AFTER_ID: BindParameter[int] = bindparam("after_id", value=0, type_=Integer)
