"""alert messages: what was sent to each channel, for digests and rate caps

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_message_rule_channel", ["rule", "channel", "sent_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_message", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_message_rule_channel")
    op.drop_table("alert_message")
