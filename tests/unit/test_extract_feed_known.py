"""What the feed entry already gives (date, author) is taken from it; the page is asked for the rest,
and with nothing from the feed the page's metadata is what trafilatura's own reader returns."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsmon.extract.page import TRAFILATURA_OPTIONS, extract_page, parse_html
from newsmon.extract.page_metadata import read_metadata
from newsmon.extract.pool import PageExtractor
from newsmon.records import Extracted, FeedEntry, Page
from tests.pages import WIRE_PARAGRAPHS, article_page

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAGES = sorted([*(FIXTURES / "pages").glob("*.html"), *(FIXTURES / "pages_messy").glob("*.html")])
FEED_DATE = datetime(2026, 11, 19, 6, 30, tzinfo=UTC)
PAGE_DATE = "2026-11-20T08:00:00Z"


def byline_page(title: str) -> str:
    """An article whose author is named only in its body (no author meta tag)."""
    page = article_page(title, WIRE_PARAGRAPHS).replace('<meta name="author" content="Staff">', "")
    return page.replace(
        "<h1>", '<p class="byline">By <span class="author">Jane Doe</span></p><h1>', 1
    )


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_with_nothing_from_the_feed_metadata_is_trafilaturas(path: Path) -> None:
    from trafilatura.metadata import extract_metadata

    html = path.read_bytes().decode("utf-8", "replace")
    url = "https://example.org/feed-link"
    params = TRAFILATURA_OPTIONS["date_extraction_params"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = extract_metadata(parse_html(html), url, params)
        ours = read_metadata(parse_html(html), url, date_params=params)
    assert (ours.title, ours.author, ours.url, ours.date) == (
        theirs.title,
        theirs.author,
        theirs.url,
        theirs.date,
    )


def test_the_feed_date_is_kept_and_the_page_is_not_asked() -> None:
    html = article_page(
        "Curfew lifted in Kirkuk", WIRE_PARAGRAPHS, author="Ali Hassan", published=PAGE_DATE
    )
    assert extract_page(html, None).published_at == datetime(2026, 11, 20, 8, tzinfo=UTC)
    result = extract_page(html, None, published_at=FEED_DATE)
    assert result.published_at == FEED_DATE
    # Everything else is read from the page as before.
    assert result.title == "Curfew lifted in Kirkuk"
    assert result.author == "Ali Hassan"
    assert result.text == extract_page(html, None).text


def test_the_feed_author_stands_in_for_a_byline_search() -> None:
    html = byline_page("Checkpoint reopened on the Baghdad road")
    assert extract_page(html, None, author="Wire Desk").author == "Wire Desk"
    # An author the page declares in its metadata is still the page's.
    declared = article_page("Checkpoint reopened", WIRE_PARAGRAPHS, author="Ali Hassan")
    assert extract_page(declared, None, author="Wire Desk").author == "Ali Hassan"


def test_the_pool_hands_each_entrys_date_and_author_to_the_workers() -> None:
    now = datetime.now(UTC)
    pages = []
    for n in range(10):  # enough pages for the worker processes
        entry = FeedEntry(
            source="s",
            url=f"https://example.org/{n}",
            published_at=FEED_DATE.replace(minute=n) if n % 2 else None,
            author="Wire Desk",
        )
        html = byline_page(f"Report {n} on the Mosul reconstruction fund")
        pages.append(Page(entry=entry, final_url=entry.url, status=200, html=html, fetched_at=now))
    with PageExtractor(workers=2) as extractor:
        results = extractor.extract(pages)
    for n, (page, result) in enumerate(results):
        assert isinstance(result, Extracted), result
        expected = page.entry.published_at or datetime(2026, 11, 20, 8, tzinfo=UTC)
        assert result.published_at == expected, n
        assert result.author == "Wire Desk"
