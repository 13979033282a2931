"""A run's digest for people: the top new stories and the alerts raised, as Markdown.

The store fills the records (`store.reports.story_digest`, `store.reports.alert_digest`); this
module only formats them, so flows can publish the same digest as a Prefect Markdown artifact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# Characters that would start Markdown syntax inside a title or a link text.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#|!~])")
TOP_STORIES = 10
MAX_ALERTS_LISTED = 50


@dataclass(frozen=True, slots=True)
class StoryLine:
    """A story cluster that got new articles in a run."""

    cluster_id: int
    title: str | None
    url: str  # of the cluster's first article
    published_at: datetime | None
    outlets: tuple[str, ...]  # distinct sources carrying the story, earliest first
    articles: int  # articles in the cluster (all runs)
    new_articles: int  # articles stored by this run


@dataclass(frozen=True, slots=True)
class AlertLine:
    """An alert raised in a run."""

    rule: str
    title: str | None
    url: str
    matched: tuple[str, ...]
    delivered: bool
    channels: int  # notify URLs the alert is queued for (0: recorded only, e.g. a backfill)


def escape_markdown(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def render_digest(
    heading: str,
    stories: Sequence[StoryLine] | None,
    alerts: Sequence[AlertLine],
    *,
    notes: Sequence[str] = (),
    extra_sections: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The Markdown of a run's digest: heading, notes, top new stories (None: no such section),
    alerts raised, then any extra sections."""
    lines = [f"# {heading}", ""]
    for note in notes:
        lines += [note, ""]
    if stories is not None:
        lines += _story_section(stories)
    lines += _alert_section(alerts)
    for section, items in (extra_sections or {}).items():
        lines += [f"## {section}", ""]
        lines += [f"- {escape_markdown(item)}" for item in items] or ["Nothing."]
        lines.append("")
    return "\n".join(lines)


def _story_section(stories: Sequence[StoryLine]) -> list[str]:
    lines = ["## Top new stories", ""]
    if not stories:
        return [*lines, "No new stories.", ""]
    for number, story in enumerate(stories, 1):
        title = escape_markdown(story.title or story.url)
        when = f", {story.published_at:%Y-%m-%d %H:%M} UTC" if story.published_at else ""
        size = f"{story.articles} article{'s' if story.articles != 1 else ''}"
        new = f", {story.new_articles} new" if story.new_articles != story.articles else ""
        outlets = ", ".join(story.outlets)
        lines.append(f"{number}. [{title}]({_link(story.url)}) — {outlets} ({size}{new}{when})")
    return [*lines, ""]


def _alert_section(alerts: Sequence[AlertLine]) -> list[str]:
    lines = ["## Alerts raised", ""]
    if not alerts:
        return [*lines, "No alerts.", ""]
    for alert in alerts[:MAX_ALERTS_LISTED]:
        title = escape_markdown(alert.title or alert.url)
        matched = ", ".join(escape_markdown(t) for t in alert.matched)
        if alert.delivered:
            state = "delivered"
        elif alert.channels:
            state = f"queued for {alert.channels} channel{'s' if alert.channels != 1 else ''}"
        else:
            state = "recorded, not delivered"
        lines.append(
            f"- **{escape_markdown(alert.rule)}**: [{title}]({_link(alert.url)})"
            f" — matched {matched or '-'}; {state}"
        )
    if len(alerts) > MAX_ALERTS_LISTED:
        lines.append(f"- ... and {len(alerts) - MAX_ALERTS_LISTED} more")
    return [*lines, ""]


def _link(url: str) -> str:
    """A URL safe inside Markdown's (...) link target."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def story_section(stories: Sequence[Mapping[str, object]]) -> list[str]:
    """One line of plain text per story a run touched (newsmon.store.stories.touched_stories), for
    `render_digest`'s extra sections (which escape and list them)."""
    lines = []
    for story in stories:
        articles, outlets, languages = story["articles"], story["outlets"], story["languages"]
        assert isinstance(articles, list) and isinstance(outlets, list)
        assert isinstance(languages, list)
        lines.append(
            f"{story['headline'] or '?'}: {len(articles)} articles ({story['new_articles']} new), "
            f"{len(outlets)} outlets ({', '.join(outlets)}), languages {', '.join(languages) or '?'}"
        )
    return lines
