"""stories: article.story_id, alert.story_update, story, story_merge, story_features, story_key

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06

Articles stored before this migration keep story_id null: stories are assigned online, as
articles are stored, and the archive is not re-clustered.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_article_story_id"), ["story_id"], unique=False)
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("story_update", sa.String(length=100), nullable=True))
    op.create_table(
        "story",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["id"], ["article.id"]),
        sa.ForeignKeyConstraint(["merged_into"], ["story.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("story", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_merged_into"), ["merged_into"], unique=False)
    op.create_table(
        "story_merge",
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("into_story_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"]),
        sa.ForeignKeyConstraint(["into_story_id"], ["story.id"]),
        sa.ForeignKeyConstraint(["story_id"], ["story.id"]),
        sa.PrimaryKeyConstraint("story_id"),
    )
    with op.batch_alter_table("story_merge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_story_merge_into_story_id"), ["into_story_id"], unique=False
        )
    op.create_table(
        "story_features",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"]),
        sa.PrimaryKeyConstraint("article_id"),
    )
    op.create_table(
        "story_key",
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"]),
        sa.PrimaryKeyConstraint("key", "seen_at", "article_id"),
    )


def downgrade() -> None:
    op.drop_table("story_key")
    op.drop_table("story_features")
    with op.batch_alter_table("story_merge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_merge_into_story_id"))
    op.drop_table("story_merge")
    with op.batch_alter_table("story", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_merged_into"))
    op.drop_table("story")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("story_update")
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_article_story_id"))
        batch_op.drop_column("story_id")
