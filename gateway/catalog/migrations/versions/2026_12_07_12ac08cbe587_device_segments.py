"""device segments: a segment's kind, and the prefix and location of a device segment

Revision ID: 12ac08cbe587
Revises: 3d5e8a1f0b27
Create Date: 2026-12-07 23:40:00

Additive only: new segment columns, nullable or with a server default, so the
previous release keeps reading and writing ``segment`` (its rows are all
gateways) and SQLite adds them without rebuilding the table.  The kind is
checked by the catalog code rather than by a CHECK constraint, which SQLite
could only add by rebuilding.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "12ac08cbe587"
down_revision: str | Sequence[str] | None = "3d5e8a1f0b27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bytewise(length: int | None = None) -> sa.String:
    return sa.String(length=length).with_variant(sa.String(length=length, collation="C"), "postgresql")


def upgrade() -> None:
    op.add_column("segment", sa.Column("kind", sa.String(length=16), server_default="gateway", nullable=False))
    op.add_column("segment", sa.Column("device_prefix", _bytewise(64), nullable=True))
    op.add_column("segment", sa.Column("lat", sa.Float(), nullable=True))
    op.add_column("segment", sa.Column("lon", sa.Float(), nullable=True))
    op.add_column("segment", sa.Column("elevation", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segment") as batch:
        for column in ("elevation", "lon", "lat", "device_prefix", "kind"):
            batch.drop_column(column)
