"""article: ix_article_story_carriers (story_id, language, source) replaces ix_article_story_id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Each article joining a story alerted on with updates reads the story's languages and outlets
(store/stories.py story_carriers). In the table those columns sit after the text, on its
overflow pages: a story of thousands of articles cost ~9 ms per read on SQLite. The index answers
it alone, and serves every lookup by story_id, so it replaces the single-column index.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_article_story_carriers", "article", ["story_id", "language", "source"], unique=False
    )
    op.drop_index("ix_article_story_id", table_name="article")


def downgrade() -> None:
    op.create_index("ix_article_story_id", "article", ["story_id"], unique=False)
    op.drop_index("ix_article_story_carriers", table_name="article")
