"""A page reached by a query URL that declares a relative canonical is one row with its clean link.

Before, `/article.php?id=N&ref=rss` declaring `<link rel="canonical" href="/news/2026/11/slug">`
was stored under the query URL, and the clean link from a second feed became a second row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.extract.page import extract_page
from newsmon.records import FeedEntry, Page
from newsmon.rules.prepare import make_draft
from newsmon.store.articles import store_articles
from newsmon.store.models import Article
from tests.factories import NOW, make_config, ready

PAGE = Path(__file__).parents[1] / "fixtures" / "pages_messy" / "en_canonical_relative.html"
CONFIG = make_config()


def test_query_link_and_clean_link_from_two_feeds_are_one_article(engine: Engine) -> None:
    html = PAGE.read_text(encoding="utf-8")
    links = [
        ("wire", "https://wire.example/article.php?id=4521&ref=rss"),
        ("herald", "https://wire.example/news/2026/11/basra-power-cuts-return"),
    ]
    for source, url in links:  # two runs, one per feed, as ingest would store them
        page = Page(
            entry=FeedEntry(source=source, url=url, published_at=NOW),
            final_url=url,
            status=200,
            html=html,
            fetched_at=datetime(2026, 11, 28, tzinfo=UTC),
        )
        draft = make_draft(page, extract_page(html, url))
        with Session(engine) as session, session.begin():
            store_articles(session, ready(CONFIG, draft), notify_urls={}, now=NOW)
    with Session(engine) as session:
        rows = session.execute(sa.select(Article.canonical_url, Article.url)).all()
    assert [row.canonical_url for row in rows] == [
        "https://wire.example/news/2026/11/basra-power-cuts-return"
    ]
    assert rows[0].url == "https://wire.example/article.php?id=4521&ref=rss"
