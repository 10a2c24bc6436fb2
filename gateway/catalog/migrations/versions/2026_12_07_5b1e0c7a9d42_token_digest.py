"""token digest: the segment tokens behind the digested local parts this gateway hands out

Revision ID: 5b1e0c7a9d42
Revises: 12ac08cbe587
Create Date: 2026-12-07 23:45:00

A segment token whose local part cannot be kept (too long, a colon) is handed
out with a digest as its local part (docs/wire-format.md §3.3 Rule 3).  A
digest cannot be turned back, so the media and PTZ proxies record each one
they hand out, to forward a request with that token (docs/wire-format.md §10.1).
Additive only: one new table.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e0c7a9d42"
down_revision: str | Sequence[str] | None = "12ac08cbe587"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bytewise(length: int | None = None) -> sa.String:
    return sa.String(length=length).with_variant(sa.String(length=length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "token_digest",
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("digest", _bytewise(64), nullable=False),
        sa.Column("segment_token", _bytewise(64), nullable=False),
        sa.PrimaryKeyConstraint("segment", "digest", name=op.f("pk_token_digest")),
    )


def downgrade() -> None:
    op.drop_table("token_digest")
