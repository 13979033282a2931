"""A run's Markdown digest: ranked stories with outlets and links, alerts and their state."""

from __future__ import annotations

from datetime import UTC, datetime

from newsmon.alerts.digest import AlertLine, StoryLine, escape_markdown, render_digest


def test_digest_lists_stories_and_alerts_with_safe_markdown() -> None:
    stories = [
        StoryLine(
            cluster_id=1,
            title="IS attack kills *four* [soldiers] | Anbar",
            url="https://w.test/a (1).html",
            published_at=datetime(2026, 11, 9, 6, 40, tzinfo=UTC),
            outlets=("levant-wire", "tigris-herald"),
            articles=3,
            new_articles=1,
        ),
        StoryLine(2, None, "https://w.test/b", None, ("sham-post",), 1, 1),
    ]
    alerts = [
        AlertLine("isis-anbar", "Attack", "https://w.test/a", ("Anbar", "IS"), True, 1),
        AlertLine("border", "Crossing", "https://w.test/c", (), False, 2),
        AlertLine("backfilled", None, "https://w.test/d", ("x",), False, 0),
    ]
    markdown = render_digest(
        "Ingest: 2 new", stories, alerts, notes=["Resumed."], extra_sections={"Errors": ["a_b"]}
    )
    lines = markdown.splitlines()
    assert lines[0] == "# Ingest: 2 new" and "Resumed." in lines
    assert (
        r"1. [IS attack kills \*four\* \[soldiers\] \| Anbar](https://w.test/a%20%281%29.html)"
        " — levant-wire, tigris-herald (3 articles, 1 new, 2026-11-09 06:40 UTC)"
    ) in lines
    assert "2. [https://w.test/b](https://w.test/b) — sham-post (1 article)" in lines
    assert (
        "- **isis\\-anbar**: [Attack](https://w.test/a) — matched Anbar, IS; delivered" not in lines
    )
    assert "- **isis-anbar**: [Attack](https://w.test/a) — matched Anbar, IS; delivered" in lines
    assert lines[-3:] == ["## Errors", "", r"- a\_b"] or r"- a\_b" in lines
    assert "queued for 2 channels" in markdown and "recorded, not delivered" in markdown


def test_digest_without_stories_section_and_empty() -> None:
    markdown = render_digest("Reprocess", None, [])
    assert "Top new stories" not in markdown and "No alerts." in markdown
    assert "No new stories." in render_digest("Ingest", [], [])
    assert escape_markdown("a\n  b_c") == r"a b\_c"
