"""polling: adaptive interval, age of the validators, config hash (un-park on edit)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entry_interval_s", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("last_full_fetch_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("config_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_column("config_hash")
        batch_op.drop_column("last_full_fetch_at")
        batch_op.drop_column("entry_interval_s")
