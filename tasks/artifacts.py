"""Artifacts a run leaves in the Prefect UI beyond its table: the digest of new stories and alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prefect.artifacts import create_markdown_artifact
from sqlalchemy.orm import Session

from newsmon.alerts.digest import TOP_STORIES, render_digest, story_section
from newsmon.settings import Settings
from newsmon.store.reports import alert_digest, story_digest
from newsmon.store.stories import touched_stories
from newsmon.tasks.runtime import engine_for


def publish_digest(
    settings: Settings,
    *,
    key: str,
    heading: str,
    stories: bool = True,
    article_ids: Sequence[int] = (),
    alert_ids: Sequence[int] = (),
    notes: Sequence[str] = (),
    extra_sections: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Create the run's Markdown artifact: top new stories (of `article_ids`, unless `stories` is
    false) and the alerts raised on them (or with `alert_ids`); returns the Markdown."""
    with Session(engine_for(settings.database_url)) as session:
        lines = story_digest(session, article_ids, limit=TOP_STORIES) if stories else None
        alerts = alert_digest(session, article_ids=article_ids, alert_ids=alert_ids)
        if stories and article_ids:
            # Stories across outlets, days and languages (docs/STORIES.md), beside copy clusters.
            section = story_section(touched_stories(session, article_ids, limit=TOP_STORIES))
            if section:
                extra_sections = {
                    "Stories (across languages and days)": section,
                    **(extra_sections or {}),
                }
    markdown = render_digest(heading, lines, alerts, notes=notes, extra_sections=extra_sections)
    create_markdown_artifact(markdown=markdown, key=key, description=heading)
    return markdown
