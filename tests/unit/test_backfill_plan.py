"""The pure side of backfills: windows, keys, scopes, and what reading a unit leads to next."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from newsmon.backfill.discover import FeedPage, Sitemap, SitemapLink, SitemapUrl
from newsmon.backfill.plan import (
    StoredArticle,
    feed_unit,
    missing_feed_page,
    read_feed_page,
    read_robots,
    read_sitemap,
    retag,
    robots_unit,
    sitemap_unit,
    unreadable_feed_page,
)
from newsmon.backfill.site_scope import Scope, fallback_scope, owner, site_scope
from newsmon.backfill.summary import BackfillSummary
from newsmon.backfill.window import backfill_key, describe_backfill, make_window, rules_digest
from newsmon.config.models import Config, TopicConfig
from newsmon.records import FeedEntry
from newsmon.rules.prepare import Rules
from tests.factories import WIRE_TEXT, make_config

WINDOW = make_window(date(2026, 11, 5), date(2026, 11, 17), today=date(2026, 11, 21))
FEED = "https://news.test/levant-wire/feed.xml"


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def entries(*days: int, source: str = "levant-wire") -> tuple[FeedEntry, ...]:
    return tuple(
        FeedEntry(
            source=source, url=f"https://news.test/{source}/2026/11/{d}.html", published_at=at(d)
        )
        for d in days
    )


def test_window_bounds_include_both_days() -> None:
    assert WINDOW.start == datetime(2026, 11, 5, tzinfo=UTC)
    assert WINDOW.contains(datetime(2026, 11, 17, 23, 59, 59, tzinfo=UTC))
    assert not WINDOW.contains(datetime(2026, 11, 18, tzinfo=UTC))
    assert not WINDOW.contains(WINDOW.start - timedelta(microseconds=1))
    assert make_window(date(2026, 11, 1), None, today=date(2026, 11, 21)).until == date(
        2026, 11, 21
    )
    with pytest.raises(ValueError, match="after until"):
        make_window(date(2026, 11, 2), date(2026, 11, 1), today=date(2026, 11, 21))


def test_keys_depend_on_what_the_backfill_is() -> None:
    key = backfill_key("discover", WINDOW, ["b", "a"])
    assert key == backfill_key("discover", WINDOW, ["a", "b", "a"])
    assert key != backfill_key("discover", WINDOW, ["a"])
    assert key != backfill_key("reprocess", WINDOW, ["a", "b"])
    assert key != backfill_key(
        "discover", make_window(date(2026, 11, 5), None, today=date(2026, 11, 18)), ["a", "b"]
    )
    assert backfill_key("reprocess", WINDOW, None) != backfill_key("reprocess", WINDOW, [])
    # Open-ended (no until): keyed by its start, so it resumes on a later day.
    today = make_window(date(2026, 11, 5), None, today=date(2026, 11, 21))
    tomorrow = make_window(date(2026, 11, 5), None, today=date(2026, 11, 22))
    assert backfill_key("discover", today, ["a"], open_ended=True) == backfill_key(
        "discover", tomorrow, ["a"], open_ended=True
    )
    assert backfill_key("discover", today, ["a"], open_ended=True) != backfill_key(
        "discover", today, ["a"]
    )
    config = make_config()
    changed = Config(config.directory, config.sources, config.topics[:1], config.alerts)
    assert rules_digest(config) != rules_digest(changed)
    assert len(key) == 64


def test_run_names_say_what_the_backfill_is() -> None:
    assert (
        describe_backfill("discover", WINDOW, None)
        == "backfill discover 2026-11-05..2026-11-17 (all sources)"
    )
    assert describe_backfill("reprocess", WINDOW, ["a", "b"]).endswith("(a, b)")
    assert describe_backfill("discover", WINDOW, ["a", "b", "c"]).endswith("(3 sources)")


# --- scopes -----------------------------------------------------------------------------------


def test_scope_from_the_site_link_and_the_articles_dated_paths() -> None:
    scope = site_scope(
        "levant-wire",
        FEED,
        "https://news.test/levant-wire/",
        [e.url for e in entries(19, 18)],
    )
    assert scope == Scope("levant-wire", "news.test", "/levant-wire/")


def test_section_feed_whose_articles_live_elsewhere_gets_the_whole_site() -> None:
    scope = site_scope(
        "iraq",
        "https://www.paper.test/category/iraq/feed/",
        "https://www.paper.test/category/iraq/",
        ["https://www.paper.test/2026/11/19/a/", "https://paper.test/2026/11/18/b/"],
    )
    assert scope == Scope("iraq", "paper.test", "/")


def test_feed_on_a_proxy_host_follows_its_articles() -> None:
    scope = site_scope(
        "x",
        "https://feeds.proxy.test/x",
        None,
        ["https://x.test/english/news/1", "https://x.test/english/news/2"],
    )
    assert scope == Scope("x", "x.test", "/english/news/")


def test_fallback_scope_strips_feed_segments() -> None:
    assert fallback_scope("a", "https://a.test/feed/").prefix == "/"
    assert fallback_scope("b", "https://a.test/english/rss.xml").prefix == "/english/"
    assert fallback_scope("c", "https://a.test/levant-wire/feed.xml").prefix == "/levant-wire/"


def test_owner_is_the_narrowest_scope() -> None:
    scopes = [Scope("site", "news.test", "/"), Scope("en", "news.test", "/english/")]
    assert owner("https://www.news.test/english/2026/1.html", scopes) == "en"
    assert owner("https://news.test/arabic/2026/1.html", scopes) == "site"
    assert owner("https://other.test/english/1.html", scopes) is None
    assert owner("mailto:x@news.test", scopes) is None
    assert (
        owner("https://news.test/englishman.html", [Scope("en", "news.test", "/english/")]) is None
    )


# --- reading units ----------------------------------------------------------------------------


def test_first_feed_page_fixes_the_scope_asks_for_robots_and_the_next_page() -> None:
    unit = feed_unit("levant-wire", FEED, page=1)
    page = FeedPage(FEED, entries(19, 15, 12), "https://news.test/levant-wire/", f"{FEED}?page=2")
    read = read_feed_page(unit, page, WINDOW, feed_url=FEED, max_pages=10)
    assert [e.published_at for e in read.entries] == [at(15), at(12)]
    assert read.counts["levant-wire"].discovered == 3 and read.counts["levant-wire"].in_window == 2
    assert read.unit.detail["scope"] == {
        "source": "levant-wire",
        "host": "news.test",
        "prefix": "/levant-wire/",
    }
    assert [c.name for c in read.children] == [
        "robots:https://news.test",
        f"feed:levant-wire:{FEED}?page=2",
    ]
    assert read.children[1].detail["page"] == 2


def test_paging_stops_when_a_page_is_older_than_the_window() -> None:
    unit = feed_unit("levant-wire", f"{FEED}?page=3", page=3)
    older = FeedPage(unit.url, entries(4, 3, 2), None, f"{FEED}?page=4")
    assert read_feed_page(unit, older, WINDOW, feed_url=FEED, max_pages=10).children == []
    partly = FeedPage(unit.url, entries(6, 3), None, f"{FEED}?page=4")
    assert len(read_feed_page(unit, partly, WINDOW, feed_url=FEED, max_pages=10).children) == 1
    assert read_feed_page(unit, partly, WINDOW, feed_url=FEED, max_pages=3).children == []
    empty = FeedPage(unit.url, (), None, f"{FEED}?page=4")
    assert read_feed_page(unit, empty, WINDOW, feed_url=FEED, max_pages=10).children == []


def test_without_links_pagination_is_guessed_and_abandoned_when_ignored() -> None:
    first = feed_unit("s", FEED, page=1)
    read = read_feed_page(
        first, FeedPage(FEED, entries(16, 13), None, None), WINDOW, feed_url=FEED, max_pages=10
    )
    guess = read.children[-1]
    assert guess.url == f"{FEED}?paged=2" and guess.detail["guess"] == 0
    # The site ignores ?paged=2 and sends page 1 again: try the next pattern, not page 3.
    same = read_feed_page(
        guess, FeedPage(guess.url, entries(16, 13), None, None), WINDOW, feed_url=FEED, max_pages=10
    )
    assert [c.url for c in same.children] == ["https://news.test/levant-wire/feed.xml/page/2/"]
    assert same.entries == []
    # That pattern is not there either (404): the feed is not paged, nothing more to try.
    assert missing_feed_page(same.children[0], feed_url=FEED) == []
    # A real page 2: page 3 follows the same pattern.
    real = read_feed_page(
        guess, FeedPage(guess.url, entries(11, 9), None, None), WINDOW, feed_url=FEED, max_pages=10
    )
    assert [c.url for c in real.children] == [f"{FEED}?paged=3"] and len(real.entries) == 2


def test_an_unreadable_first_page_still_gives_a_scope_and_robots() -> None:
    read = unreadable_feed_page(feed_unit("s", FEED, page=1), "HTTP 500", feed_url=FEED)
    assert read.error == "HTTP 500" and read.unit.detail["scope"]["prefix"] == "/levant-wire/"
    assert [c.name for c in read.children] == ["robots:https://news.test"]
    later = unreadable_feed_page(
        feed_unit("s", f"{FEED}?page=2", page=2), "HTTP 500", feed_url=FEED
    )
    assert later.children == [] and later.error


def test_robots_without_sitemaps_means_probing() -> None:
    read = read_robots(
        robots_unit("https://news.test"),
        [],
        [Scope("a", "news.test", "/english/"), Scope("b", "other.test", "/x/")],
    )
    probes = [c.url for c in read.children]
    assert all(c.detail["probe"] for c in read.children)
    assert "https://news.test/sitemap.xml" in probes
    assert "https://news.test/english/sitemap.xml" in probes
    assert not any("/x/" in url for url in probes)  # another host's prefix
    named = read_robots(robots_unit("https://news.test"), ["https://news.test/s.xml"], [])
    assert [(c.url, c.detail["probe"]) for c in named.children] == [
        ("https://news.test/s.xml", False)
    ]


def test_sitemap_index_skips_sitemaps_unchanged_since_the_window_began() -> None:
    index = Sitemap(
        "https://news.test/i.xml",
        is_index=True,
        sitemaps=(
            SitemapLink("https://news.test/old.xml", at(1)),
            SitemapLink("https://news.test/new.xml", at(18)),
            SitemapLink("https://news.test/undated.xml", None),
        ),
    )
    read = read_sitemap(sitemap_unit(index.url), index, WINDOW, [], max_depth=2)
    assert [c.url for c in read.children] == [
        "https://news.test/new.xml",
        "https://news.test/undated.xml",
    ]
    assert all(c.detail["depth"] == 1 for c in read.children)
    deep = read_sitemap(sitemap_unit(index.url, depth=2), index, WINDOW, [], max_depth=2)
    assert deep.children == [] and deep.unit.detail["skipped"]


def test_sitemap_urls_go_to_the_source_whose_scope_covers_them() -> None:
    scopes = [Scope("a", "news.test", "/a/"), Scope("b", "news.test", "/b/")]
    sitemap = Sitemap(
        "https://news.test/s.xml",
        is_index=False,
        urls=(
            SitemapUrl("https://news.test/a/1.html", lastmod=at(6)),
            SitemapUrl("https://news.test/a/2.html", lastmod=at(20)),
            SitemapUrl("https://news.test/b/1.html", published_at=at(7), title="B one"),
            SitemapUrl("https://news.test/b/2.html"),
            SitemapUrl("https://news.test/c/1.html", lastmod=at(6)),
        ),
    )
    read = read_sitemap(sitemap_unit(sitemap.url), sitemap, WINDOW, scopes, max_depth=2)
    assert [(e.source, e.url, e.title, e.published_at) for e in read.entries] == [
        ("a", "https://news.test/a/1.html", None, None),  # lastmod places it, but is no pub date
        ("b", "https://news.test/b/1.html", "B one", at(7)),
    ]
    assert (read.counts["a"].discovered, read.counts["a"].in_window) == (2, 1)
    assert (read.counts["b"].discovered, read.counts["b"].in_window) == (2, 1)
    assert "c" not in read.counts


# --- re-tagging and the summary ---------------------------------------------------------------


def test_retag_reports_added_and_removed_topics_and_alert_matches() -> None:
    config = make_config()
    article = StoredArticle(
        id=7,
        cluster_id=3,
        source="wire",
        url="https://wire.example/a",
        title="Four Islamic State militants killed in Anbar air strike",
        text=WIRE_TEXT,
        language="en",
        fetched_at=at(9),
        topics=("economy", "old-topic"),
    )
    (result,) = retag([article], Rules(config))
    assert result.topics == ("counter-terrorism",)
    assert result.added == {"counter-terrorism"} and result.removed == {"economy", "old-topic"}
    assert set(result.alert_matches) == {"isis-anbar"}
    quiet = Config(Path("c"), config.sources, (TopicConfig(name="economy", query="dinar"),), ())
    (none,) = retag([article], Rules(quiet))
    assert none.topics == () and none.alert_matches == {}


def test_summary_totals_count_each_column_once() -> None:
    summary = BackfillSummary("discover", WINDOW, "k")
    summary.source("a").alerts = 2
    summary.source("b").alerts = 3
    summary.source("b").stored = 4
    assert summary.totals().alerts == 5
    rows = summary.rows()
    assert rows[-1] == {
        "source": "TOTAL",
        "discovered": 0,
        "in_window": 0,
        "new": 0,
        "stored": 4,
        "duplicates": 0,
        "failed": 0,
        "alerts": 5,
    }
    assert summary.to_dict()["alerts"] == 5 and summary.complete
    summary.units_pending = 1
    assert not summary.to_dict()["complete"]
