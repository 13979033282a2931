"""Backtesting a rule over archived articles: per-day counts, stories, terms and samples."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from newsmon.rules.backtest import backtest, parse_day, uses_topics
from newsmon.rules.query import parse_query
from newsmon.rules.ruleset import RuleSet
from newsmon.store.archive import ArchivedArticle
from tests.factories import OTHER_TEXT, WIRE_TEXT

DAY = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def article(
    n: int,
    *,
    day: int = 0,
    cluster: int | None = None,
    text: str = WIRE_TEXT,
    title: str = "Air strike in Anbar",
    source: str = "wire",
    topics: tuple[str, ...] = (),
) -> ArchivedArticle:
    return ArchivedArticle(
        id=n,
        source=source,
        title=title,
        text=text,
        url=f"https://{source}.example/{n}",
        language="en",
        published_at=DAY + timedelta(days=day, minutes=n),
        fetched_at=DAY + timedelta(days=day, minutes=n + 5),
        cluster_id=cluster if cluster is not None else n,
        topics=topics,
    )


ARCHIVE = [
    article(1, day=0),
    article(2, day=0, cluster=1, source="herald"),  # a copy: same story
    article(3, day=0, text=OTHER_TEXT, title="Dinar"),
    article(4, day=1, text=WIRE_TEXT.replace("Islamic State", "IS")),
    article(5, day=2, cluster=1, source="monitor"),  # a late copy of story 1
    article(6, day=3),
]


def test_counts_articles_and_stories_per_day() -> None:
    report = backtest(ARCHIVE, parse_query('"Islamic State" AND Anbar'), sample_size=2)
    assert (report.scanned, report.articles, report.clusters) == (6, 4, 2)
    assert [(d.day, d.articles, d.clusters) for d in report.per_day()] == [
        (date(2026, 11, 10), 2, 1),
        (date(2026, 11, 12), 1, 0),  # a copy of a story already counted
        (date(2026, 11, 13), 1, 1),
    ]
    assert report.scanned_days == 4
    assert report.terms == {"Islamic State": 4, "Anbar": 4}
    # The most recent stories first, each shown by its first matching article.
    assert [s.article_id for s in report.samples] == [6, 1]
    assert [t for t, hit in report.samples[0].excerpt.pieces if hit] == ["Islamic State", "Anbar"]


def test_topics_from_the_config_or_as_stored() -> None:
    archive = [article(1, topics=("ct",)), article(2, text=OTHER_TEXT, title="Dinar")]
    query = parse_query("topic:economy")
    assert backtest(archive, query).articles == 0  # stored tags: nobody tagged economy
    topics = RuleSet({"economy": parse_query("dinar OR bank*")})
    assert backtest(archive, query, topics=topics).articles == 1
    assert backtest(archive, parse_query("topic:ct")).articles == 1
    assert uses_topics("topic:economy AND x") and uses_topics("(topic:a)")
    assert not uses_topics('"topic:economy"') and not uses_topics("x")


def test_progress_is_reported() -> None:
    seen: list[int] = []
    backtest([article(n) for n in range(1, 1202)], parse_query("Anbar"), progress=seen.append)
    assert seen == [500, 1000, 1201]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T10:30", datetime(2026, 11, 1, 10, 30, tzinfo=UTC)),
        ("2026-11-01T10:30:00+03:00", datetime(2026, 11, 1, 7, 30, tzinfo=UTC)),
        ("2026-11-01T10:30:00Z", datetime(2026, 11, 1, 10, 30, tzinfo=UTC)),
    ],
)
def test_parse_day(text: str, expected: datetime) -> None:
    assert parse_day(text) == expected


def test_parse_day_refuses_other_text() -> None:
    with pytest.raises(ValueError, match="not a date: 'last week'"):
        parse_day("last week")
