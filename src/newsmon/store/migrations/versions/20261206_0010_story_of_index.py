"""article: ix_article_story_of (id, story_id)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

The story candidate lookup (store/story_candidates.py) reads the story of each candidate, ~100
per stored article. In the table story_id sits after the text, on its overflow pages: on SQLite
following them was half the lookup's SQL time (0.6 -> 0.35 ms a lookup on run.py's full
archive). The index answers it alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_article_story_of", "article", ["id", "story_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_article_story_of", table_name="article")
