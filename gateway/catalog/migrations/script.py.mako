"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

A migration runs while the previous version of the gateway is still serving
from the same database: it must stay compatible with that code (add, do not
rename or drop, in the same release), must not hold locks for long, and must
work on SQLite (batch mode) and PostgreSQL alike.  Objects one dialect lacks
go through a dialect-guarded op.execute and the include_name filter in env.py.
"""
from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
