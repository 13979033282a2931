"""Artifacts a run leaves in the Prefect UI beyond its table: the digest of new stories and alerts,
and a backfill's progress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from sqlalchemy.orm import Session

from newsmon.alerts.digest import TOP_STORIES, render_digest, story_section
from newsmon.backfill.summary import BackfillSummary
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


class ProgressArtifact:
    """A run's progress artifact, moved forward (never back) as its work gets done."""

    def __init__(self, key: str, description: str) -> None:
        self.value = 0.0
        # async_dispatch types it as "UUID or coroutine"; called from sync code it is the UUID.
        self.id = cast(
            UUID, create_progress_artifact(progress=0.0, key=key, description=description)
        )

    def update(self, done: float, total: int, description: str) -> None:
        value = 100.0 * done / total if total else 100.0
        self.value = max(self.value, min(value, 100.0))
        update_progress_artifact(self.id, progress=self.value, description=description)


def publish_backfill_digest(
    settings: Settings,
    summary: BackfillSummary,
    described: str,
    *,
    article_ids: Sequence[int] = (),
    alert_ids: Sequence[int] = (),
) -> None:
    """The backfill's digest: new stories (discover) or topics added and removed (reprocess),
    what a resumed run skipped and what an unfinished one left, and its errors."""
    totals = summary.totals()
    notes = []
    if summary.resumed:
        notes.append(
            f"Resumed: {summary.units_skipped} unit(s) finished by an earlier run were skipped."
        )
    if not summary.complete:
        notes.append(f"**{summary.left_to_resume().capitalize()}** (errors below).")
    extra: dict[str, list[str]] = {}
    if summary.mode == "discover":
        heading = f"{described}: {totals.stored} new articles, {totals.alerts} alerts"
    else:
        heading = (
            f"{described}: {totals.retagged} of {totals.articles} re-tagged, {totals.alerts} alerts"
        )
        extra["Topics added"] = [
            f"{t}: {n} articles" for t, n in summary.topics_added.most_common()
        ]
        extra["Topics removed"] = [
            f"{t}: {n} articles" for t, n in summary.topics_removed.most_common()
        ]
    if summary.errors:
        extra["Errors"] = summary.errors[:50] + (
            [f"... and {len(summary.errors) - 50} more"] if len(summary.errors) > 50 else []
        )
    publish_digest(
        settings,
        key="backfill-stories",
        stories=summary.mode == "discover",
        heading=heading,
        article_ids=article_ids,
        alert_ids=alert_ids,
        notes=notes,
        extra_sections=extra,
    )
