"""segments: downstream segments, their prefix mapping, and the federation columns of resource

Revision ID: 0dc63c1275a7
Revises: 902e76286c4c
Create Date: 2026-11-21 05:40:00

Additive only, so a gateway of the previous release keeps serving while it
runs.  The new resource columns are nullable (every existing resource is
local) and their uniqueness is an index rather than a constraint: SQLite then
adds them with plain ALTER TABLE ADD COLUMN / CREATE INDEX instead of
rebuilding ``resource``, which would drop the R*Tree triggers.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0dc63c1275a7"
down_revision: str | Sequence[str] | None = "902e76286c4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bytewise(length: int | None = None) -> sa.String:
    return sa.String(length=length).with_variant(sa.String(length=length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "segment",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("ca_file", sa.Text(), nullable=True),
        sa.Column("heartbeat", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_segment")),
    )
    op.create_table(
        "prefix_map",
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("remote_prefix", _bytewise(64), nullable=False),
        sa.Column("local_prefix", _bytewise(64), nullable=False),
        sa.PrimaryKeyConstraint("segment", "remote_prefix", name=op.f("pk_prefix_map")),
        sa.UniqueConstraint("local_prefix", name=op.f("uq_prefix_map__local_prefix")),
    )
    op.add_column("resource", sa.Column("segment", sa.String(length=64), nullable=True))
    op.add_column("resource", sa.Column("segment_token", _bytewise(64), nullable=True))
    op.add_column("resource", sa.Column("reported_offline", sa.Boolean(), nullable=True))
    op.add_column("resource", sa.Column("sync_gen", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_resource__segment_segment_token"), "resource", ["segment", "segment_token"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_resource__segment_segment_token"), table_name="resource")
    # Not batch mode: rebuilding resource would drop its R*Tree triggers (SQLite >= 3.35 drops in place).
    for column in ("sync_gen", "reported_offline", "segment_token", "segment"):
        op.drop_column("resource", column)
    op.drop_table("prefix_map")
    op.drop_table("segment")
