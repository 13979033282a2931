"""The page pipeline's pure side: batch order and spreading, the store order, per-source counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from newsmon.backfill.summary import BackfillSummary
from newsmon.backfill.window import Window
from newsmon.page_batches import (
    BatchOutcome,
    batch_label,
    batch_sizes,
    page_batches,
    publication_order,
)
from newsmon.records import ArticleDraft, FeedEntry, PageFailure
from newsmon.rules.prepare import Rules, prepare_articles
from newsmon.store.articles import StoreOutcome
from newsmon.summary import RunSummary
from tests.factories import draft, make_config

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def entry(source: str, url: str, hours: int | None) -> FeedEntry:
    published = T0 + timedelta(hours=hours) if hours is not None else None
    return FeedEntry(source=source, url=url, title="t", published_at=published)


def test_batches_spread_over_hosts_each_host_earliest_first() -> None:
    # As a feed lists them: newest first, one host after the other, an undated one in the middle.
    entries = [
        entry("a", "https://a.example/4", 4),
        entry("a", "https://a.example/undated", None),
        entry("a", "https://a.example/3", 3),
        entry("a", "https://a.example/1", 1),
        entry("b", "https://b.example/2", 2),
        entry("b", "https://b.example/0", 0),
    ]
    batches = page_batches(entries, 2)
    assert [[e.url.removeprefix("https://") for e in b] for b in batches] == [
        ["b.example/0", "a.example/1"],
        ["b.example/2", "a.example/3"],
        ["a.example/4", "a.example/undated"],
    ]
    assert page_batches([], 2) == []
    assert batch_label(batches[0]) == "2 pages (b, a)"
    assert batch_label([entry(s, f"https://{s}.example/", 1) for s in "abcd"]) == (
        "4 pages (a, b +2 more)"
    )


def test_a_long_run_starts_and_ends_with_small_batches_in_the_same_order() -> None:
    """The extraction processes wait for the first batch's fetch and, at the end, only the last
    store runs: a quarter and a half of the size at both ends shorten those waits."""
    assert batch_sizes(4500, 100)[:3] == [25, 50, 100]
    assert batch_sizes(4500, 100)[-3:] == [50, 50, 25]
    # Every page once, none above the size; short runs and small sizes unchanged.
    for count, size in [(4500, 100), (301, 100), (1000, 8), (999, 37)]:
        sizes = batch_sizes(count, size)
        assert sum(sizes) == count and max(sizes) <= size and min(sizes) > 0
    assert batch_sizes(300, 100) == [100, 100, 100]
    assert batch_sizes(5, 2) == [2, 2, 1]
    assert batch_sizes(0, 100) == []
    # The pages keep the order they are fetched and stored in.
    entries = [entry(s, f"https://{s}.example/{n}", n) for n in range(200) for s in "ab"]
    batches = page_batches(entries, 10)
    assert [len(b) for b in batches][:2] == [2, 5]
    assert [e for b in batches for e in b] == [e for b in page_batches(entries, 400) for e in b]


def test_a_batch_is_stored_earliest_published_first_then_earliest_fetched() -> None:
    def at(url: str, published: int | None, fetched: int) -> ArticleDraft:
        hours = {"published_at": T0 + timedelta(hours=published) if published is not None else None}
        return replace(draft("wire", url), fetched_at=T0 + timedelta(hours=fetched), **hours)

    late = at("https://wire.example/late", 2, 5)
    early = at("https://wire.example/early", 0, 5)
    undated = at("https://wire.example/undated", None, 1)
    tie = at("https://wire.example/tie", 0, 4)
    ready = prepare_articles([late, early, undated, tie], Rules(make_config()))
    ordered = [r.draft.url.rsplit("/", 1)[1] for r in sorted(ready, key=publication_order)]
    assert ordered == ["tie", "early", "undated", "late"]


def failure(source: str, *, give_up: bool) -> PageFailure:
    return PageFailure(
        entry=entry(source, f"https://{source}.example/x", 1),
        stage="fetch",
        error="HTTP 503" if not give_up else "HTTP 404",
        give_up=give_up,
    )


def test_a_batch_counts_per_source_into_either_flows_summary() -> None:
    stored = StoreOutcome()
    stored.count("a", stored=2, duplicates=1, alerts=1)
    outcome = BatchOutcome(
        "3 pages (a, b)",
        [entry("a", "https://a.example/1", 1)] * 3 + [entry("b", "https://b.example/1", 1)],
        fetch_failures=[failure("b", give_up=True)],
        extract_failures=[replace(failure("a", give_up=False), stage="extract")],
        stored=stored.per_source,
    )
    window = Window(T0.date(), T0.date())
    for summary in (RunSummary(), BackfillSummary("discover", window, "k")):
        outcome.count(summary)
        a, b = summary.source("a"), summary.source("b")
        assert (a.stored, a.duplicates, a.alerts, a.failed, a.gave_up) == (2, 1, 1, 1, 0)
        assert (b.stored, b.failed, b.gave_up) == (0, 1, 1)
        assert summary.errors == [
            "page (b, permanent, not retried): HTTP 404",
            "page (a, transient, retried next run): HTTP 503",
        ]
    # Backfill: the fetch failure is permanent, so nothing holds the unit open.
    assert outcome.pages_to_retry == 0


def test_a_batch_that_failed_as_a_whole_leaves_all_its_pages_to_retry() -> None:
    entries = [entry("a", f"https://a.example/{i}", i) for i in range(3)]
    transient = BatchOutcome("3 pages (a)", entries, fetch_failures=[failure("a", give_up=False)])
    assert transient.pages_to_retry == 1
    failed = BatchOutcome("3 pages (a)", entries, error="OperationalError: gone", store_failed=True)
    assert failed.pages_to_retry == 3
    summary = RunSummary()
    failed.count(summary)
    assert summary.errors == ["batch 3 pages (a): OperationalError: gone"]
    assert summary.totals().stored == 0
