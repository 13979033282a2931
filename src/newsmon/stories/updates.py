"""Whether a story that already raised a rule's alert deserves an update message (pure)."""

from __future__ import annotations

from collections.abc import Set

from newsmon.config.models import StoryUpdates


def update_reason(
    policy: StoryUpdates,
    *,
    languages: Set[str],
    outlets: Set[str],
    articles: int,
    language: str | None,
    source: str,
    updates_sent: int,
) -> str | None:
    """Why the article that just joined the story is news to the rule ("language:ar", ...), or None.

    `languages`, `outlets`, `articles`: the story before the article; `updates_sent`: update
    messages already raised for the story and rule (capped at `policy.max_updates`).
    """
    if updates_sent >= policy.max_updates:
        return None
    if policy.new_language and language and language not in languages:
        return f"language:{language}"
    if policy.new_outlet and source not in outlets:
        return f"outlet:{source}"
    total = articles + 1
    if policy.every_articles and total % policy.every_articles == 0:
        return f"articles:{total}"
    return None


def describe_update(reason: str) -> str:
    """An update's reason for people: "language:ar" -> "now also in ar"."""
    kind, _, value = reason.partition(":")
    if kind == "language":
        return f"now also in {value}"
    if kind == "outlet":
        return f"now also on {value}"
    if kind == "articles":
        return f"{value} articles"
    return reason
