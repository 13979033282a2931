"""The pure middle stage: merging page and feed metadata, canonical URLs, tags and alert matches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsmon.records import ArticleDraft, Extracted, FeedEntry, Page
from newsmon.rules.matching import MatchDocument, prepare_document
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


def test_rules_of_configs_with_the_same_queries_share_their_parsing() -> None:
    from dataclasses import replace

    from newsmon.config.models import TopicConfig

    config = make_config()
    first, again = Rules(config), Rules(replace(config, directory=config.directory / "other"))
    assert again._topics is first._topics and again._alerts is first._alerts
    changed = replace(config, topics=(TopicConfig(name="economy", query="dinar"),))
    rules = Rules(changed)
    assert rules._topics is not first._topics and rules._alerts is first._alerts
    [ready] = prepare_articles([draft("wire", "https://wire.example/a")], rules)
    assert ready.topics == ()


def test_a_rule_set_matching_while_another_thread_learns_a_word_finds_its_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rules are shared by the threads storing batches. A word is marked seen only once what it
    wakes is known: else a match_all in another thread, between the two, skips the word and misses
    its rules. The other thread is played here by a match_all run in the middle of learning."""
    from newsmon.rules import ruleset as ruleset_module
    from newsmon.rules.query import QueryMatch, parse_query

    rules = ruleset_module.RuleSet({"anbar": parse_query("anbar*")})
    document = _document(draft("wire", "https://wire.example/a", text="Anbar"))
    meanwhile: list[dict[str, QueryMatch]] = []
    word_matches, interleaving = ruleset_module.word_matches, []

    def interleaved(token: str, word: str, prefix: bool) -> bool:
        if not interleaving:  # learning "anbar": what it wakes is not remembered yet
            interleaving.append(True)
            meanwhile.append(rules.match_all(_document(draft("herald", "https://h.example/b"))))
        return word_matches(token, word, prefix)

    monkeypatch.setattr(ruleset_module, "word_matches", interleaved)
    assert set(rules.match_all(document)) == {"anbar"}
    assert set(meanwhile[0]) == {"anbar"}


def _document(d: ArticleDraft) -> MatchDocument:
    return prepare_document(title=d.title, text=d.text, source=d.source, language=d.language)
