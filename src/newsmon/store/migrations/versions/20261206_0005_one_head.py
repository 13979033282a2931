"""join the three branches that grew from 0001 into one head

Revision ID: 0005
Revises: 0002, 0003, 0004
Create Date: 2026-12-06

Polling, alerts and backfill each branched from the initial schema; a single head lets every
later migration name one parent and `alembic upgrade head` mean one thing.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | tuple[str, ...] | None = ("0002", "0003", "0004")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
