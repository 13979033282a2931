"""Try a rule on the archive before turning it on (`newsmon rules test`).

Pure over a stream of stored articles (store.iter_archive reads them in batches): every article is
matched with the same code ingest uses (RuleSet, so normalisation and prefixes behave exactly as
they will), and the report counts matching articles and story clusters per day, the terms that
matched, and keeps a sample of the most recent matching stories with the terms highlighted.

A cluster is counted once, on the day of its first matching article: that is the number of alerts
the rule would have raised. No SQL prefilter (LIKE) is used: matching folds Arabic spellings,
proclitics and case, which LIKE cannot, so a prefilter would silently drop real matches.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from newsmon.alerts.messages import Excerpt, make_excerpt
from newsmon.rules.matching import prepare_document
from newsmon.rules.query import Query
from newsmon.rules.ruleset import RuleSet
from newsmon.store.archive import ArchivedArticle

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_USES_TOPICS = re.compile(r"(?i)(?:^|[\s(])topic:")


def parse_day(value: str) -> datetime:
    """'2026-11-01' (midnight UTC) or an ISO 8601 time -> aware UTC datetime; ValueError otherwise."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date: {value!r} (use YYYY-MM-DD or an ISO 8601 time)") from None
    if _DATE.match(text) or parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def uses_topics(query_text: str) -> bool:
    """Whether a query has a `topic:` field (then articles need their topics to be matched)."""
    return bool(_USES_TOPICS.search(query_text))


@dataclass(frozen=True)
class DayCount:
    day: date
    articles: int = 0
    clusters: int = 0  # stories first matched that day: the alerts the rule would have raised


@dataclass(frozen=True)
class Sample:
    """One matching story: its first matching article, with the matches highlighted."""

    article_id: int
    cluster_id: int
    when: datetime
    source: str
    title: str | None
    url: str
    matched: tuple[str, ...]
    excerpt: Excerpt


@dataclass
class BacktestReport:
    query: str
    scanned: int = 0
    articles: int = 0  # matching articles
    clusters: int = 0  # matching story clusters
    first_day: date | None = None  # of the scanned articles
    last_day: date | None = None
    days: dict[date, DayCount] = field(default_factory=dict)
    terms: Counter[str] = field(default_factory=Counter)  # matching articles per term
    samples: list[Sample] = field(default_factory=list)  # most recent first

    def per_day(self) -> list[DayCount]:
        return [self.days[day] for day in sorted(self.days)]

    @property
    def scanned_days(self) -> int:
        if self.first_day is None or self.last_day is None:
            return 0
        return (self.last_day - self.first_day).days + 1


def backtest(
    articles: Iterable[ArchivedArticle],
    query: Query,
    *,
    topics: RuleSet | None = None,
    sample_size: int = 10,
    progress: Callable[[int], None] | None = None,
) -> BacktestReport:
    """Match `query` against every article; `topics` (current topics.yaml) tags them for `topic:`.

    Without `topics`, the topics stored with each article are used. `progress` is called with the
    number of articles scanned every 500 articles.
    """
    rules = RuleSet({"query": query})
    report = BacktestReport(query=query.text)
    seen_clusters: set[int] = set()
    # A min-heap of the sample_size newest stories; excerpts are made at the end, for those only.
    newest: list[tuple[datetime, int, ArchivedArticle, tuple[str, ...]]] = []
    for article in articles:
        report.scanned += 1
        if progress is not None and report.scanned % 500 == 0:
            progress(report.scanned)
        when = article.published_at or article.fetched_at
        day = when.astimezone(UTC).date()
        report.first_day = min(day, report.first_day or day)
        report.last_day = max(day, report.last_day or day)
        document = prepare_document(
            title=article.title,
            text=article.text,
            source=article.source,
            language=article.language,
            topics=article.topics,
        )
        if topics is not None:
            document = document.with_topics(topics.match_all(document))
        match = rules.match_all(document).get("query")
        if match is None:
            continue
        report.articles += 1
        report.terms.update(match.terms)
        count = report.days.get(day, DayCount(day))
        new_story = article.cluster_id not in seen_clusters
        report.days[day] = DayCount(day, count.articles + 1, count.clusters + int(new_story))
        if not new_story:
            continue
        seen_clusters.add(article.cluster_id)
        report.clusters += 1
        if sample_size <= 0:
            continue
        entry = (when, article.id, article, match.terms)
        if len(newest) < sample_size:
            heapq.heappush(newest, entry)
        elif entry[:2] > newest[0][:2]:
            heapq.heapreplace(newest, entry)
    if progress is not None:
        progress(report.scanned)
    report.samples = [
        Sample(
            article_id=article.id,
            cluster_id=article.cluster_id,
            when=when,
            source=article.source,
            title=article.title,
            url=article.url,
            matched=terms,
            excerpt=make_excerpt(article.text, terms),
        )
        for when, _, article, terms in sorted(newest, key=lambda e: e[:2], reverse=True)
    ]
    return report
