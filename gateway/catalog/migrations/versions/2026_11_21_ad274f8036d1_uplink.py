"""uplink: uplink configurations, the keystore, and how an uplinked segment is recognised

Revision ID: ad274f8036d1
Revises: 0dc63c1275a7
Create Date: 2026-11-21 07:00:00

A migration runs while the previous version of the gateway is still serving
from the same database: it must stay compatible with that code (add, do not
rename or drop, in the same release), must not hold locks for long, and must
work on SQLite (batch mode) and PostgreSQL alike.  Objects one dialect lacks
go through a dialect-guarded op.execute and the include_name filter in env.py.

Additive only: two new tables, and two nullable segment columns whose
uniqueness is an index, so SQLite adds them without rebuilding ``segment``.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ad274f8036d1"
down_revision: str | Sequence[str] | None = "0dc63c1275a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bytewise(length: int | None = None) -> sa.String:
    return sa.String(length=length).with_variant(sa.String(length=length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "uplink",
        sa.Column("remote_address", _bytewise(1024), nullable=False),
        sa.Column("certificate_id", sa.String(length=64), nullable=True),
        sa.Column("authorization_server", sa.String(length=64), nullable=True),
        sa.Column("user_level", sa.String(length=16), nullable=False),
        sa.Column("cert_path_policy", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="Offline", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("remote_address", name=op.f("pk_uplink")),
    )
    op.create_table(
        "keystore",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=True),
        sa.Column("key_pem", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('certificate', 'ca', 'token')", name=op.f("ck_keystore__kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keystore")),
    )
    op.add_column("segment", sa.Column("uplink_identity", sa.String(length=255), nullable=True))
    op.add_column("segment", sa.Column("uplink_token_sha256", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_segment__uplink_identity"), "segment", ["uplink_identity"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_segment__uplink_identity"), table_name="segment")
    with op.batch_alter_table("segment") as batch:
        batch.drop_column("uplink_token_sha256")
        batch.drop_column("uplink_identity")
    op.drop_table("keystore")
    op.drop_table("uplink")
