"""The pure middle of the pipeline: extracted page -> article ready to store.

Canonical URL, fingerprint, topic tags and alert-rule matches are all decided here, without I/O, so
the store only has to write what it is given (and look up clusters, which needs the database).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urljoin, urlsplit

from newsmon.config.models import Config
from newsmon.records import ArticleDraft, Extracted, Page
from newsmon.rules.matching import MatchDocument, prepare_document
from newsmon.rules.query import Query, QueryMatch, parse_query
from newsmon.rules.ruleset import RuleSet
from newsmon.stories.copies import Fingerprint, fingerprint
from newsmon.stories.features import StoryFeatures, story_features
from newsmon.stories.gazetteer import load_gazetteer
from newsmon.urls import canonical_url

# Longer URLs are refused: they do not fit a unique index on every engine, and no news site needs them.
MAX_URL_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class ReadyArticle:
    """An article with everything decided except its cluster, which the store looks up."""

    draft: ArticleDraft
    fingerprint: Fingerprint
    topics: tuple[str, ...]
    alert_matches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # rule -> terms
    story: StoryFeatures | None = None  # None: the store computes them (packaged gazetteer)


_NamedQueries = tuple[tuple[str, str], ...]  # (name, query text) in config order


# Each flow batch builds Rules(config) from the same config: parsing every query and indexing them
# again cost ~0.16 ms per article (and the rule sets' word memory restarted empty each batch). So
# rule sets are keyed by their queries' text, all that parsing depends on (`alias:` reads the
# packaged gazetteer only). A few entries: topics and alerts of the config in use, and a reload.
@functools.lru_cache(maxsize=8)
def _rule_set(named: _NamedQueries) -> tuple[Mapping[str, Query], RuleSet]:
    queries = MappingProxyType({name: parse_query(query) for name, query in named})
    return queries, RuleSet(queries)


@dataclass(frozen=True, slots=True)
class RulesSource:
    """What a config's Rules are built from, small and picklable: sent to the extraction workers,
    which prepare each article beside its extraction (`PrepareForStore`)."""

    topics: _NamedQueries
    alerts: _NamedQueries
    directory: Path | None  # the config folder: its gazetteer.yaml, if any

    @classmethod
    def of(cls, config: Config) -> RulesSource:
        return cls(
            topics=tuple((t.name, t.query) for t in config.topics),
            alerts=tuple((a.name, a.query) for a in config.alerts),
            directory=config.directory,
        )


class Rules:
    """Topics and alert rules of a config, each parsed once, matched many times.

    Rules of configs with the same queries share their parsed queries and rule sets (immutable,
    but for the rule sets' word memory, which is safe to share between threads)."""

    def __init__(self, config: Config | RulesSource) -> None:
        source = config if isinstance(config, RulesSource) else RulesSource.of(config)
        self.topic_queries, self._topics = _rule_set(source.topics)
        self.alert_queries, self._alerts = _rule_set(source.alerts)
        # Not cached with the queries: it depends on the config folder, and load_gazetteer caches.
        self.gazetteer = load_gazetteer(source.directory)

    def match(self, draft: ArticleDraft) -> tuple[tuple[str, ...], dict[str, QueryMatch]]:
        """(topic names, alert rule -> match) for one article; alerts may use `topic:`."""
        return self.match_document(_document(draft))

    def match_document(
        self, document: MatchDocument
    ) -> tuple[tuple[str, ...], dict[str, QueryMatch]]:
        """`match` for an article already tokenised."""
        topics = tuple(self._topics.match_all(document))
        alerts = self._alerts.match_all(document.with_topics(topics))
        return topics, alerts


def make_draft(page: Page, extracted: Extracted) -> ArticleDraft:
    """Merge the page's content with its feed entry: the feed's date wins, it is structured data.

    The language is extraction's, which already weighed the source's hint against the text."""
    entry = page.entry
    # A relative canonical (`/news/2026/11/slug`) is resolved against where the page was found.
    canonical_source = urljoin(page.final_url, extracted.canonical_url or page.final_url)
    found = canonical_url(page.final_url)
    try:
        canonical = canonical_url(canonical_source)
    except ValueError:
        canonical = found
    if canonical != found and _host(canonical) != _host(found):
        # A canonical link to another site is not trusted: it could fold this page into a
        # different outlet's article (syndication partners do set it, but the page is still ours).
        canonical = found
    return ArticleDraft(
        source=entry.source,
        url=entry.url,
        final_url=page.final_url,
        canonical_url=canonical,
        title=extracted.title or entry.title,
        text=extracted.text,
        published_at=entry.published_at or extracted.published_at,
        author=extracted.author or entry.author,
        language=extracted.language,
        fetched_at=page.fetched_at,
    )


def prepare_articles(drafts: Sequence[ArticleDraft], rules: Rules) -> list[ReadyArticle]:
    """Fingerprint and tag each draft."""
    ready = []
    for draft in drafts:
        document = _document(draft)
        topics, alerts = rules.match_document(document)
        ready.append(
            ReadyArticle(
                draft=draft,
                # The words matching found: tokenising the text is a third of a fingerprint's cost.
                fingerprint=fingerprint(title=draft.title, text=draft.text, tokens=document.fields),
                topics=topics,
                alert_matches={rule: match.terms for rule, match in alerts.items()},
                story=story_features(
                    title=draft.title,
                    text=draft.text,
                    language=draft.language,
                    gazetteer=rules.gazetteer,
                ),
            )
        )
    return ready


class PrepareForStore:
    """A page's extraction -> its ReadyArticle, run in the extraction workers.

    The flow's process has one GIL for its HTTP client, its store and Prefect's client: preparing
    there (~1 ms an article of Python) made every store wait for the GIL, and the stores held up
    extraction (benchmarks/run.py). Beside extraction it runs on whichever core is free. Sent to
    each worker once (the flows make one a run); the Rules are built in the worker, on first use
    (parsing is cached per process by the queries' text, so a worker parses a config's queries
    once)."""

    def __init__(self, source: RulesSource) -> None:
        self.source = source
        self._rules: Rules | None = None

    def __getstate__(self) -> RulesSource:
        return self.source

    def __setstate__(self, source: RulesSource) -> None:
        self.source, self._rules = source, None

    def __call__(self, page: Page, extracted: Extracted) -> ReadyArticle:
        if self._rules is None:
            self._rules = Rules(self.source)
        (ready,) = prepare_articles([make_draft(page, extracted)], self._rules)
        return ready


def _document(draft: ArticleDraft) -> MatchDocument:
    return prepare_document(
        title=draft.title, text=draft.text, source=draft.source, language=draft.language
    )


def _host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")
