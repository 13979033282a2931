"""The pure middle stage: merging page and feed metadata, canonical URLs, tags and alert matches."""

from __future__ import annotations

from datetime import UTC, datetime

from newsmon.records import Extracted, FeedEntry, Page
from newsmon.rules.prepare import Rules, make_draft, prepare_articles
from tests.factories import WIRE_TEXT, draft, make_config

FEED_DATE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
PAGE_DATE = datetime(2026, 11, 19, 23, 0, tzinfo=UTC)
FETCHED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def page(url: str, final_url: str | None = None, **entry: object) -> Page:
    feed_entry = FeedEntry(source="wire", url=url, **entry)  # type: ignore[arg-type]
    return Page(
        entry=feed_entry, final_url=final_url or url, status=200, html="", fetched_at=FETCHED
    )


def extracted(canonical: str | None = None, **fields: object) -> Extracted:
    values: dict[str, object] = {
        "title": "Page title",
        "text": WIRE_TEXT,
        "published_at": PAGE_DATE,
        "author": "Page Author",
        "language": "en",
    }
    values.update(fields)
    return Extracted(canonical_url=canonical, **values)  # type: ignore[arg-type]


def test_feed_date_wins_page_metadata_fills_the_rest() -> None:
    result = make_draft(
        page("https://w.example/a", published_at=FEED_DATE, title="Feed title"),
        extracted(),
    )
    assert result.published_at == FEED_DATE
    assert result.title == "Page title"
    assert result.author == "Page Author"
    assert result.language == "en"
    assert result.fetched_at == FETCHED


def test_missing_page_metadata_falls_back_to_feed() -> None:
    result = make_draft(
        page("https://w.example/a", title="Feed title", author="Feed Author"),
        extracted(title=None, author=None, language=None, published_at=None),
    )
    # The language is extraction's alone: the source's hint was weighed there (extract_page's
    # `language_hint`), and is not applied a second time here.
    assert (result.title, result.author, result.language, result.published_at) == (
        "Feed title",
        "Feed Author",
        None,
        None,
    )


def test_canonical_from_redirect_and_tracking_parameters() -> None:
    result = make_draft(
        page(
            "https://w.example/a?utm_source=rss",
            final_url="https://W.example:443/story/a/?utm_medium=feed#top",
        ),
        extracted(),
    )
    assert result.url == "https://w.example/a?utm_source=rss"
    assert result.final_url == "https://W.example:443/story/a/?utm_medium=feed#top"
    assert result.canonical_url == "https://w.example/story/a"


def test_rel_canonical_on_same_site_is_honoured() -> None:
    result = make_draft(
        page("https://www.w.example/amp/a"),
        extracted(canonical="https://w.example/a"),
    )
    assert result.canonical_url == "https://w.example/a"


def test_rel_canonical_to_another_site_is_not_trusted() -> None:
    result = make_draft(
        page("https://herald.example/a"),
        extracted(canonical="https://wire.example/original"),
    )
    assert result.canonical_url == "https://herald.example/a"


def test_prepare_tags_topics_and_matches_alerts() -> None:
    [ready] = prepare_articles([draft("wire", "https://wire.example/a")], Rules(make_config()))
    assert ready.topics == ("counter-terrorism",)
    assert set(ready.alert_matches) == {"isis-anbar"}
    assert set(ready.alert_matches["isis-anbar"]) >= {"Islamic State", "Anbar"}
    assert len(ready.fingerprint.exact_hash) == 64


def test_alert_rules_can_use_topics() -> None:
    from newsmon.config.models import AlertConfig

    config = make_config()
    config = type(config)(
        directory=config.directory,
        sources=config.sources,
        topics=config.topics,
        alerts=(
            AlertConfig(
                name="ct-wire", query="topic:counter-terrorism AND source:wire AND lang:en"
            ),
        ),
    )
    [ready] = prepare_articles([draft("wire", "https://wire.example/a")], Rules(config))
    assert set(ready.alert_matches) == {"ct-wire"}
    [other] = prepare_articles([draft("herald", "https://herald.example/a")], Rules(config))
    assert other.alert_matches == {}
