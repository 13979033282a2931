"""entry_queue.failure: whether the last failure of a queued page is permanent or transient

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

A permanent failure (404/410, too large, redirect loop, not HTML, disallowed) is given up at
once; a transient one (timeout, 5xx, 429) is retried on later runs. The column says which.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entry_queue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entry_queue", schema=None) as batch_op:
        batch_op.drop_column("failure")
