"""Alert messages: every field a reader needs, in plain text, Markdown and HTML, alone or in a digest."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from newsmon.alerts.messages import (
    DIGEST_MAX_ITEMS,
    DIGEST_SNIPPETS,
    AlertItem,
    make_excerpt,
    render_alert,
    render_digest,
)
from tests.factories import WIRE_TEXT

ARABIC_TEXT = (
    "أعلنت خلية الإعلام الأمني مقتل ثلاثة من عناصر تنظيم داعش الإرهابي بضربة جوية في صحراء "
    "محافظة الأنبار غربي البلاد، بحسب بيان رسمي."
)


def item(**changes: object) -> AlertItem:
    fields: dict[str, object] = {
        "rule": "isis-anbar",
        "title": "Four Islamic State militants killed in Anbar air strike",
        "url": "https://wire.example/2026/11/anbar?id=7&x=1",
        "source": "wire",
        "outlets": ("wire", "herald", "monitor", "levant"),
        "published_at": datetime(2026, 11, 21, 11, 0, tzinfo=UTC),
        "matched": ("Islamic State", "Anbar"),
        "excerpt": make_excerpt(WIRE_TEXT, ("Islamic State", "Anbar")),
    }
    fields.update(changes)
    return AlertItem(**fields)  # type: ignore[arg-type]


def test_excerpt_marks_the_matched_terms_around_the_first_match() -> None:
    excerpt = make_excerpt(WIRE_TEXT, ("Anbar", "Islamic State"))
    assert [text for text, hit in excerpt.pieces if hit] == ["Islamic State", "Anbar"]
    assert excerpt.plain.startswith("Iraqi security forces") and excerpt.plain.endswith("…")
    assert len(excerpt.plain) < 300


def test_excerpt_folds_arabic_spelling_and_proclitics() -> None:
    # The rule says "الانبار" (no hamza) and "داعش"; the text has "الأنبار" and "لداعش".
    excerpt = make_excerpt(ARABIC_TEXT.replace("تنظيم داعش", "تنظيم لداعش"), ("داعش", "الانبار"))
    assert [text for text, hit in excerpt.pieces if hit] == ["لداعش", "الأنبار"]


def test_excerpt_without_terms_is_the_start_of_the_text() -> None:
    excerpt = make_excerpt(WIRE_TEXT, ())
    assert all(not hit for _, hit in excerpt.pieces)
    assert excerpt.plain.startswith("Iraqi security forces") and excerpt.plain.endswith("strike…")


def test_plain_text_alert_has_every_field() -> None:
    message = render_alert(item(), "text")
    assert message.format == "text"
    assert message.title == "[isis-anbar] Four Islamic State militants killed in Anbar air strike"
    lines = message.body.splitlines()
    assert lines[0] == "Four Islamic State militants killed in Anbar air strike"
    assert "Outlet: wire, on 4 outlets: wire, herald, monitor, levant" in lines
    assert "Published: 2026-11-21 11:00 UTC" in lines
    assert "Matched: *Islamic State*, *Anbar* (rule isis-anbar)" in lines
    assert "Link: https://wire.example/2026/11/anbar?id=7&x=1" in lines
    assert "killed four *Islamic State* militants" in message.body
    assert "<" not in message.body and "**" not in message.body


def test_single_outlet_is_not_called_a_cluster() -> None:
    body = render_alert(item(outlets=("wire",)), "text").body
    assert "Outlet: wire\n" in body and "outlets" not in body


def test_published_time_is_shown_in_the_rules_time_zone() -> None:
    body = render_alert(item(), "text", zone=ZoneInfo("Asia/Baghdad")).body
    assert "Published: 2026-11-21 14:00 Asia/Baghdad" in body


def test_markdown_alert_links_the_title_and_bolds_the_terms() -> None:
    message = render_alert(item(title="Strike on *IS* cell [update]"), "markdown")
    body = message.body
    assert body.startswith(
        r"**[Strike on \*IS\* cell \[update\]](https://wire.example/2026/11/anbar?id=7&x=1)**"
    )
    assert "Matched: **Islamic State**, **Anbar** (rule `isis-anbar`)" in body
    assert "Link: <https://wire.example/2026/11/anbar?id=7&x=1>" in body
    assert "\n> " in body and "**Anbar** province" in body
    assert "on 4 outlets" in body


def test_html_alert_is_escaped_marked_and_readable_right_to_left() -> None:
    message = render_alert(
        item(
            title="Militants <script> & more",
            excerpt=make_excerpt(ARABIC_TEXT, ("داعش",)),
            matched=("داعش",),
        ),
        "html",
    )
    body = message.body
    assert "<script>" not in body and "Militants &lt;script&gt; &amp; more" in body
    assert '<a href="https://wire.example/2026/11/anbar?id=7&amp;x=1"' in body
    assert "<mark><strong>داعش</strong></mark>" in body
    assert '<blockquote dir="auto">' in body and body.startswith('<div dir="auto">')
    parser = _TagBalance()
    parser.feed(body)
    assert parser.open == []  # every tag closed


def test_an_untitled_story_uses_its_link_and_field_only_matches_say_so() -> None:
    message = render_alert(item(title=None, matched=(), excerpt=make_excerpt("", ())), "text")
    assert message.title == "[isis-anbar] https://wire.example/2026/11/anbar?id=7&x=1"
    assert "Matched: (source, language or topic fields only)" in message.body
    assert "“" not in message.body  # no empty snippet


def test_long_titles_are_cut() -> None:
    message = render_alert(item(title="word " * 100), "text")
    assert len(message.title) <= 200 and message.title.endswith("…")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_digest_lists_every_alert_with_title_link_and_outlets(fmt: str) -> None:
    items = [
        item(title=f"Story {n}", url=f"https://wire.example/{n}", outlets=("wire",) * 1)
        for n in range(3)
    ]
    message = render_digest(
        "isis-anbar",
        items,
        fmt,  # type: ignore[arg-type]
        reason="every 1h",
        since=datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
    )
    assert message.title == "[isis-anbar] 3 new matches since 2026-11-21 10:00 UTC"
    assert "3 new matches for rule" in message.body and "(every 1h)" in message.body
    for n in range(3):
        assert f"Story {n}" in message.body and f"https://wire.example/{n}" in message.body


def test_long_digest_shows_snippets_for_the_first_and_counts_the_rest() -> None:
    items = [
        item(title=f"Story {n}", url=f"https://wire.example/{n}")
        for n in range(DIGEST_MAX_ITEMS + 7)
    ]
    body = render_digest("isis-anbar", items, "text").body
    assert body.count("“") == DIGEST_SNIPPETS
    assert f"Story {DIGEST_MAX_ITEMS - 1}" in body and f"Story {DIGEST_MAX_ITEMS}" not in body
    assert "… and 7 more" in body


class _TagBalance(HTMLParser):
    VOID = frozenset({"br", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()
