"""catalog: resources, scopes, change feed, users, pull points, spatial index

Revision ID: 902e76286c4c
Revises:
Create Date: 2026-11-21 05:10:00

A migration runs while the previous version of the gateway is still serving
from the same database: it must stay compatible with that code (add, do not
rename or drop, in the same release), must not hold locks for long, and must
work on SQLite (batch mode) and PostgreSQL alike.  Objects one dialect lacks
go through a dialect-guarded op.execute and the include_name filter in env.py.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "902e76286c4c"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: geodesy.EARTH_RADIUS_M, frozen here as migrations must be; a test holds them equal.
EARTH_RADIUS_M = 6_371_008.8

#: SQLite: an R*Tree of the resources with a location, kept in step by triggers.
SQLITE_SPATIAL = (
    "CREATE VIRTUAL TABLE resource_rtree USING rtree(id, min_lat, max_lat, min_lon, max_lon)",
    """CREATE TRIGGER resource_rtree_insert AFTER INSERT ON resource
       WHEN new.lat IS NOT NULL AND new.lon IS NOT NULL
       BEGIN
         INSERT INTO resource_rtree VALUES (new.id, new.lat, new.lat, new.lon, new.lon);
       END""",
    """CREATE TRIGGER resource_rtree_update AFTER UPDATE OF lat, lon ON resource
       WHEN old.lat IS NOT new.lat OR old.lon IS NOT new.lon
       BEGIN
         DELETE FROM resource_rtree WHERE id = old.id;
         INSERT INTO resource_rtree SELECT new.id, new.lat, new.lat, new.lon, new.lon
           WHERE new.lat IS NOT NULL AND new.lon IS NOT NULL;
       END""",
    """CREATE TRIGGER resource_rtree_delete AFTER DELETE ON resource
       BEGIN
         DELETE FROM resource_rtree WHERE id = old.id;
       END""",
)

#: PostgreSQL: a GiST index on the location as a point, and the same haversine as
#: geodesy.haversine_m, operation for operation, so both backends agree to the bit.
POSTGRES_SPATIAL = (
    "CREATE INDEX ix_resource__point ON resource USING gist (point(lon, lat))",
    f"""CREATE FUNCTION gw_distance_m(lat1 float8, lon1 float8, lat2 float8, lon2 float8)
        RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
          SELECT (2.0::float8 * {EARTH_RADIUS_M!r}::float8) * asin(least(1.0::float8, sqrt(
            power(sin((radians(lat2) - radians(lat1)) / 2.0::float8), 2.0::float8)
            + cos(radians(lat1)) * cos(radians(lat2))
              * power(sin(radians(lon2 - lon1) / 2.0::float8), 2.0::float8))))
        $$""",
)


def _bytewise(length: int | None = None) -> sa.String:
    return sa.String(length=length).with_variant(sa.String(length=length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token", _bytewise(64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("elevation", sa.Float(), nullable=True),
        sa.Column("offline", sa.Boolean(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource")),
        sa.UniqueConstraint("token", name=op.f("uq_resource__token")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "resource_scope",
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("pos", sa.Integer(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("key", _bytewise(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resource.id"],
            name=op.f("fk_resource_scope__resource_id__resource"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resource_id", "pos", name=op.f("pk_resource_scope")),
    )
    op.create_index(op.f("ix_resource_scope__key_resource_id"), "resource_scope", ["key", "resource_id"])
    op.create_table(
        "change",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("token", _bytewise(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old", sa.Text(), nullable=True),
        sa.Column("new", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_change")),
    )
    op.create_table(
        "app_user",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_user")),
    )
    op.create_table(
        "pull_point",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("snap_after_id", sa.Integer(), nullable=False),
        sa.Column("snap_seq", sa.BigInteger(), nullable=False),
        sa.Column("tail_seq", sa.BigInteger(), nullable=False),
        sa.Column("termination", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_point")),
    )
    op.create_index(op.f("ix_pull_point__termination"), "pull_point", ["termination"])
    spatial = {"sqlite": SQLITE_SPATIAL, "postgresql": POSTGRES_SPATIAL}[op.get_bind().dialect.name]
    for statement in spatial:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE resource_rtree")  # its triggers go with table resource
    elif dialect == "postgresql":
        op.execute("DROP FUNCTION gw_distance_m(float8, float8, float8, float8)")
    op.drop_table("pull_point")
    op.drop_table("app_user")
    op.drop_table("change")
    op.drop_table("resource_scope")
    op.drop_table("resource")
