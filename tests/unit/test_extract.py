"""Extraction on pages written for the project: body kept, clutter dropped, metadata right."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsmon.extract.page import (
    ExtractionError,
    detect_language,
    extract_page,
    parse_timestamp,
)
from newsmon.extract.pool import Job as ExtractJob
from newsmon.extract.pool import PageExtractor
from newsmon.fetch.charset import decode_body
from newsmon.records import Extracted, FeedEntry, Page, PageFailure
from tests.pages import WIRE_PARAGRAPHS, article_page

PAGES = Path(__file__).parents[1] / "fixtures" / "pages"
EXPECTED = {
    k: v
    for k, v in json.loads((PAGES / "expected.json").read_text(encoding="utf-8")).items()
    if not k.startswith("_")
}
ARTICLES = sorted(name for name, spec in EXPECTED.items() if spec["is_article"])


def load(name: str) -> str:
    return decode_body((PAGES / name).read_bytes(), content_type=None)


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", ARTICLES)
def test_fixture_page_extracts_body_without_clutter(name: str) -> None:
    spec = EXPECTED[name]
    result = extract_page(load(name), "https://example.org/feed-link")
    text = squash(result.text)
    for sentence in spec["must_include"]:
        assert squash(sentence) in text
    for clutter in spec["must_exclude"]:
        assert squash(clutter) not in text
    assert result.title == spec["title"]
    assert result.author == spec["author"]
    assert result.language == spec["language"]
    assert result.published_at == datetime.fromisoformat(spec["published"])
    assert result.canonical_url == spec["canonical_url"]


def test_body_does_not_start_with_the_headline() -> None:
    result = extract_page(article_page("Four militants killed in Anbar", WIRE_PARAGRAPHS), None)
    assert result.title == "Four militants killed in Anbar"
    assert not result.text.startswith("Four militants killed")
    assert result.text.startswith("Iraqi security forces said")


def test_index_page_without_article_is_an_error() -> None:
    with pytest.raises(ExtractionError, match="no article text"):
        extract_page("<html><body><nav><a href='/'>Home</a></nav></body></html>", None)


def test_language_from_html_lang_then_text_then_hint() -> None:
    assert detect_language('<html lang="ar-IQ">', "") == "ar"
    assert (
        detect_language(
            "<html>", "Security forces said the attack happened near the crossing on Tuesday."
        )
        == "en"
    )
    assert (
        detect_language("<html>", "قالت قوات الأمن إن الهجوم وقع قرب المعبر الحدودي يوم الثلاثاء")
        == "ar"
    )
    assert detect_language("<html>", "short", hint="ar") == "ar"


def test_parse_timestamp() -> None:
    assert parse_timestamp("2026-11-03T10:15:00+0300") == datetime(2026, 11, 3, 7, 15, tzinfo=UTC)
    assert parse_timestamp("2026-11-03") == datetime(2026, 11, 3, tzinfo=UTC)
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None


def test_extractor_pool_matches_inline_and_reports_failures() -> None:
    entry = FeedEntry(source="s", url="https://example.org/a")
    good = Page(
        entry=entry,
        final_url=entry.url,
        status=200,
        html=article_page("Title", WIRE_PARAGRAPHS),
        fetched_at=datetime.now(UTC),
    )
    bad = Page(
        entry=entry,
        final_url="https://example.org/b",
        status=200,
        html="<html><body></body></html>",
        fetched_at=datetime.now(UTC),
    )
    pages = [good, bad] * 5  # enough to use the worker processes
    with PageExtractor(workers=2) as extractor:
        pooled = extractor.extract(pages)
    with PageExtractor(workers=1) as alone:
        inline = alone.extract(pages)
    assert [type(r) for _, r in pooled] == [type(r) for _, r in inline]
    assert isinstance(pooled[1][1], PageFailure) and pooled[1][1].stage == "extract"
    assert pooled[0][1] == inline[0][1]


def test_section_front_with_teasers_is_not_an_article() -> None:
    with pytest.raises(ExtractionError, match="og:type=website"):
        extract_page(load("no_article.html"), None)


def crash_or_hang(job: ExtractJob) -> Extracted | str:
    """Runs in a worker: dies on a CRASH page, never returns on a HANG page (what hostile pages
    can do to a C parser), extracts nothing otherwise."""
    html, url = job[:2]
    if "CRASH" in html:
        os._exit(1)
    if "HANG" in html:
        threading.Event().wait()
    return Extracted(title=url, text=html)


def test_a_page_that_kills_or_hangs_its_worker_fails_alone() -> None:
    entry = FeedEntry(source="s", url="https://example.org/a")
    now = datetime.now(UTC)
    htmls = ["ok"] * 4 + ["CRASH"] + ["ok"] * 3 + ["HANG"] + ["ok"]
    pages = [
        Page(entry=entry, final_url=f"https://example.org/{i}", status=200, html=h, fetched_at=now)
        for i, h in enumerate(htmls)
    ]
    with PageExtractor(workers=2, page_timeout_s=2, extract_fn=crash_or_hang) as extractor:
        results = extractor.extract(pages)
        again = extractor.extract(pages[:8] + pages[9:])  # the pool was replaced and still works
    failures = {i: r.error for i, (_p, r) in enumerate(results) if isinstance(r, PageFailure)}
    assert set(failures) == {4, 8}, failures
    assert "crashed its worker" in failures[4]
    assert "longer than 2 s" in failures[8]
    assert all(
        isinstance(r, Extracted) and r.title == p.final_url
        for i, (p, r) in enumerate(results)
        if i not in failures
    )
    assert sum(isinstance(r, PageFailure) for _p, r in again) == 1


def echo(job: ExtractJob) -> Extracted | str:
    """Runs in a worker: the page's own URL and HTML back, so a result shows whose job it was."""
    html, url = job[:2]
    return Extracted(title=url, text=html)


def test_two_threads_extracting_through_one_pool_each_get_their_own_pages() -> None:
    """Two runs in one process (a served deployment, flows started at once) share the process's
    pool: they handed each other's results around (IndexError in the wait loop) until the pool
    took one caller's batch at a time."""
    now = datetime.now(UTC)

    def batch(name: str) -> list[Page]:
        entry = FeedEntry(source=name, url=f"https://{name}.example/")
        return [
            Page(
                entry=entry,
                final_url=f"https://{name}.example/{i}",
                status=200,
                html=f"{name}-{i}",
                fetched_at=now,
            )
            for i in range(12)
        ]

    batches = {name: batch(name) for name in ("a", "b", "c")}
    results: dict[str, list[tuple[Page, Extracted | PageFailure]]] = {}
    errors: list[BaseException] = []
    with PageExtractor(workers=2, extract_fn=echo) as extractor:

        def run(name: str) -> None:
            try:
                results[name] = extractor.extract(batches[name])
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=run, args=(name,)) for name in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    for name, pages in batches.items():
        assert [(r.title, r.text) for _p, r in results[name]] == [
            (p.final_url, p.html) for p in pages
        ]
