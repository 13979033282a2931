"""The store on SQLite and PostgreSQL: idempotent upserts, clusters, alerts once, the outbox."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.fetch.schedule import due_sources
from newsmon.records import FeedPoll, FeedState, PageFailure
from newsmon.store.archive import iter_alerts, iter_articles
from newsmon.store.articles import store_articles
from newsmon.store.clusters import cluster_sources
from newsmon.store.models import Alert, AlertDelivery, Article, ArticleBand, QueuedEntry, Source
from newsmon.store.outbox import pending_deliveries, record_delivery
from newsmon.store.queue import enqueue_entries, new_entries, queued_entries, record_failures
from newsmon.store.reports import archive_report
from newsmon.store.sources import PollOutcome, store_polls, sync_sources
from tests.factories import NOW, OTHER_TEXT, draft, entry, make_config, ready

CONFIG = make_config()
NOTIFY = {a.name: a.notify for a in CONFIG.alerts}


def store(engine: Engine, *drafts, deliver: bool = True):  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        return store_articles(
            session, ready(CONFIG, *drafts), notify_urls=NOTIFY, deliver_alerts=deliver, now=NOW
        )


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_article_stored_with_topics_bands_and_alert(engine: Engine) -> None:
    outcome = store(engine, draft("wire", "https://wire.example/a1"))
    assert (outcome.stored, outcome.duplicates, outcome.alerts) == (1, 0, 1)
    [article] = list(_articles(engine))
    assert article["topics"] == ["counter-terrorism"]
    assert article["duplicate_of"] is None
    assert article["published_at"] == "2026-11-21T11:00:00Z"
    assert count(engine, ArticleBand) > 0
    [alert] = _alerts(engine)
    assert (
        alert["rule"] == "isis-anbar" and alert["delivered_at"] is None and alert["attempts"] == 0
    )
    assert set(alert["matched"]) >= {"Islamic State", "Anbar"}


def test_storing_the_same_articles_twice_stores_and_alerts_nothing_new(engine: Engine) -> None:
    drafts = [
        draft("wire", "https://wire.example/a1"),
        draft("herald", "https://herald.example/x", OTHER_TEXT, title="Dinar"),
    ]
    first = store(engine, *drafts)
    second = store(engine, *drafts)
    assert (first.stored, first.alerts) == (2, 1)
    assert (second.stored, second.already_stored, second.alerts) == (0, 2, 0)
    assert (
        count(engine, Article) == 2
        and count(engine, Alert) == 1
        and count(engine, AlertDelivery) == 1
    )


def test_exact_copy_on_another_outlet_joins_cluster_and_alerts_once(engine: Engine) -> None:
    store(engine, draft("wire", "https://wire.example/a1"))
    outcome = store(
        engine,
        draft("herald", "https://herald.example/b", title="Air strike kills 4 in Anbar", minutes=5),
    )
    assert (outcome.stored, outcome.duplicates, outcome.alerts) == (1, 1, 0)
    first, second = _articles(engine)
    assert second["duplicate_of"] == first["id"]
    with Session(engine) as session:
        assert cluster_sources(session, first["id"]) == ("wire", "herald")
    assert count(engine, Alert) == 1


def test_copies_within_one_batch_form_one_cluster(engine: Engine) -> None:
    outcome = store(
        engine,
        draft("wire", "https://wire.example/a1"),
        draft("herald", "https://herald.example/b"),
        draft("monitor", "https://monitor.example/c"),
    )
    assert (outcome.stored, outcome.duplicates, outcome.alerts) == (3, 2, 1)
    ids = [a["id"] for a in _articles(engine)]
    assert [a["duplicate_of"] for a in _articles(engine)] == [None, ids[0], ids[0]]


def test_distinct_articles_are_not_duplicates(engine: Engine) -> None:
    outcome = store(
        engine,
        draft("wire", "https://wire.example/a1"),
        draft("wire", "https://wire.example/a2", OTHER_TEXT, title="Dinar"),
    )
    assert outcome.duplicates == 0


def test_backfill_mode_records_alerts_without_deliveries(engine: Engine) -> None:
    outcome = store(engine, draft("wire", "https://wire.example/a1"), deliver=False)
    assert outcome.alerts == 1
    assert count(engine, AlertDelivery) == 0


def test_new_entries_skips_stored_and_queued_urls_and_tracking_variants(engine: Engine) -> None:
    store(engine, draft("wire", "https://wire.example/a1"))
    with Session(engine) as session, session.begin():
        enqueue_entries(session, [entry("wire", "https://wire.example/queued")], now=NOW)
    entries = [
        entry("wire", "https://wire.example/a1"),
        entry("wire", "https://wire.example/a1?utm_source=rss#top"),
        entry("wire", "https://wire.example/new"),
        entry("wire", "https://wire.example/new"),
        entry("wire", "https://wire.example/queued"),
    ]
    with Session(engine) as session:
        assert [e.url for e in new_entries(session, entries)] == ["https://wire.example/new"]


def test_queue_survives_until_stored_and_failures_are_retried_then_given_up(engine: Engine) -> None:
    queued = [
        entry("wire", "https://wire.example/a1"),
        entry("wire", "https://wire.example/broken"),
    ]
    with Session(engine) as session, session.begin():
        enqueue_entries(session, queued, now=NOW)
        enqueue_entries(session, queued, now=NOW)  # idempotent
    # A run that died after queueing: the next run finds the same work.
    with Session(engine) as session:
        assert [e.url for e in queued_entries(session, ["wire"], max_attempts=3)] == [
            "https://wire.example/a1",
            "https://wire.example/broken",
        ]
        assert queued_entries(session, ["herald"], max_attempts=3) == []
    store(engine, draft("wire", "https://wire.example/a1"))
    failure = PageFailure(entry=queued[1], stage="fetch", error="HTTP 404 Not Found")
    for attempt in (1, 2, 3):
        with Session(engine) as session:
            assert [e.url for e in queued_entries(session, ["wire"], max_attempts=3)] == [
                "https://wire.example/broken"
            ], attempt
        with Session(engine) as session, session.begin():
            record_failures(session, [failure], now=NOW)
    with Session(engine) as session:
        assert queued_entries(session, ["wire"], max_attempts=3) == []  # given up
        [row] = session.scalars(sa.select(QueuedEntry)).all()
        assert (row.url, row.attempts, row.stage, row.error) == (
            "https://wire.example/broken",
            3,
            "fetch",
            "HTTP 404 Not Found",
        )
        assert new_entries(session, [queued[1]]) == []  # not queued again either


def test_failure_of_an_unqueued_entry_is_recorded(engine: Engine) -> None:
    failure = PageFailure(
        entry=entry("wire", "https://wire.example/x"), stage="extract", error="no article text"
    )
    with Session(engine) as session, session.begin():
        record_failures(session, [failure], now=NOW)
    with Session(engine) as session:
        [row] = session.scalars(sa.select(QueuedEntry)).all()
        assert (row.attempts, row.stage) == (1, "extract")


def test_poll_state_success_failure_and_due(engine: Engine) -> None:
    source = CONFIG.sources[0]
    with Session(engine) as session, session.begin():
        states = sync_sources(session, CONFIG.sources)
        assert {s.name for s in due_sources(CONFIG.sources, states, NOW, force=False)} == {
            "wire",
            "herald",
            "monitor",
        }
        ok = FeedPoll(source="wire", status="ok", state=FeedState(etag='"v1"', body_hash="h"))
        store_polls(session, [PollOutcome(ok, source, 3)], now=NOW)
    with Session(engine) as session, session.begin():
        state = session.get(Source, "wire")
        assert state is not None
        assert (state.status, state.etag, state.entries_total) == ("ok", '"v1"', 3)
        assert state.next_poll_at == NOW + source.poll_every
        states = {s.name: s for s in session.scalars(sa.select(Source))}
        assert "wire" not in {s.name for s in due_sources(CONFIG.sources, states, NOW, force=False)}
        assert "wire" in {s.name for s in due_sources(CONFIG.sources, states, NOW, force=True)}
        bad = FeedPoll(
            source="wire",
            status="error",
            state=FeedState(etag='"v1"'),
            error="HTTP 503",
            retry_after_s=3600,
        )
        store_polls(session, [PollOutcome(bad, source)], now=NOW)
        store_polls(session, [PollOutcome(bad, source)], now=NOW)
    with Session(engine) as session:
        state = session.get(Source, "wire")
        assert state is not None
        assert (state.status, state.consecutive_failures, state.last_error) == (
            "failing",
            2,
            "HTTP 503",
        )
        assert state.etag == '"v1"'  # a failure keeps the validators
        assert state.next_poll_at == NOW + timedelta(hours=1)


def test_outbox_retries_failed_channel_and_marks_alert_delivered(engine: Engine) -> None:
    store(engine, draft("wire", "https://wire.example/a1"))
    with Session(engine) as session:
        [pending] = pending_deliveries(session, now=NOW)
    assert pending.rule == "isis-anbar" and pending.cluster_sources == ("wire",)
    with Session(engine) as session, session.begin():
        record_delivery(
            session,
            pending.delivery_id,
            ok=False,
            error="connection refused",
            now=NOW,
            retry_at=NOW + timedelta(minutes=1),
        )
    with Session(engine) as session:
        assert pending_deliveries(session, now=NOW) == []
        [again] = pending_deliveries(session, now=NOW + timedelta(minutes=1))
    with Session(engine) as session, session.begin():
        record_delivery(
            session, again.delivery_id, ok=True, error=None, now=NOW + timedelta(minutes=1)
        )
        record_delivery(
            session, again.delivery_id, ok=True, error=None, now=NOW + timedelta(minutes=2)
        )
    [alert] = _alerts(engine)
    assert alert["delivered_at"] == "2026-11-21T12:01:00Z" and alert["attempts"] == 2
    with Session(engine) as session:
        assert pending_deliveries(session, now=NOW + timedelta(days=1)) == []


def test_concurrent_writers_store_one_article_and_one_alert(engine: Engine) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            store(
                engine,
                draft("wire", "https://wire.example/a1"),
                draft(["herald", "monitor", "wire", "herald"][n], f"https://copy.example/{n}"),
            )
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count(engine, Article) == 5
    assert count(engine, Alert) == 1
    with Session(engine) as session:
        roots = session.scalars(sa.select(Article.id).where(Article.duplicate_of.is_(None))).all()
    assert len(roots) == 1


def test_export_records_have_the_contract_fields(engine: Engine) -> None:
    store(
        engine,
        draft("wire", "https://wire.example/a1?utm_source=x", canonical="https://wire.example/a1"),
    )
    [article] = _articles(engine)
    assert set(article) == {
        "id",
        "url",
        "canonical_url",
        "source",
        "title",
        "text",
        "published_at",
        "language",
        "topics",
        "duplicate_of",
        "fetched_at",
        # extensions (docs/CONTRACT-EXTENSIONS.md)
        "cluster_id",
        "cluster_size",
        "cluster_outlets",
        "story_id",
    }
    assert article["url"] == "https://wire.example/a1?utm_source=x"
    assert article["canonical_url"] == "https://wire.example/a1"
    [alert] = _alerts(engine)
    assert set(alert) == {
        "id",
        "rule",
        "article_id",
        "article_url",
        "title",
        "matched",
        "created_at",
        "delivered_at",
        "attempts",
        "story_update",
    }
    assert alert["article_url"] == article["url"]


def test_archive_report_counts_stories_across_outlets(engine: Engine) -> None:
    store(
        engine,
        draft("wire", "https://wire.example/a1"),
        draft("herald", "https://herald.example/b"),
        draft("herald", "https://herald.example/d", OTHER_TEXT, title="Dinar"),
    )
    with Session(engine) as session:
        report = archive_report(session)
    assert report["sources"] == [
        {"source": "herald", "articles": 2, "duplicates": 1},
        {"source": "wire", "articles": 1, "duplicates": 0},
    ]
    assert report["stories"][0]["articles"] == 2 and report["stories"][0]["outlets"] == [
        "wire",
        "herald",
    ]
    assert {t["topic"] for t in report["topics"]} == {"counter-terrorism", "economy"}


def _articles(engine: Engine) -> list[dict]:  # type: ignore[type-arg]
    with Session(engine) as session:
        return list(iter_articles(session))


def _alerts(engine: Engine) -> list[dict]:  # type: ignore[type-arg]
    with Session(engine) as session:
        return list(iter_alerts(session))


def test_nul_characters_from_hostile_input_do_not_fail_the_transaction(engine: Engine) -> None:
    hostile = replace(
        entry("wire", "https://wire.example/nul"), title="Bad\x00title", summary="sum\x00mary"
    )
    with Session(engine) as session, session.begin():
        enqueue_entries(session, [hostile], now=NOW)
        record_failures(
            session, [PageFailure(entry=hostile, stage="extract", error="bad \x00 byte")], now=NOW
        )
    nul_draft = draft("wire", "https://wire.example/nul", title="Four\x00 killed")
    nul_draft = replace(nul_draft, text=nul_draft.text + "\x00")
    outcome = store(engine, nul_draft)
    assert outcome.stored == 1
    [article] = _articles(engine)
    assert article["title"] == "Four killed" and "\x00" not in article["text"]


def test_permanent_failures_are_given_up_at_once_transient_ones_retried(engine: Engine) -> None:
    gone = entry("wire", "https://wire.example/gone")
    busy = entry("wire", "https://wire.example/busy")
    failures = [
        PageFailure(entry=gone, stage="fetch", error="HTTP 410 Gone", give_up=True),
        PageFailure(entry=busy, stage="fetch", error="HTTP 503 Service Unavailable"),
    ]
    with Session(engine) as session, session.begin():
        enqueue_entries(session, [gone, busy], now=NOW)
        record_failures(session, failures, now=NOW, max_attempts=3)
    with Session(engine) as session:
        assert [e.url for e in queued_entries(session, ["wire"], max_attempts=3)] == [busy.url]
        rows = {r.url: r for r in session.scalars(sa.select(QueuedEntry))}
        assert (rows[gone.url].failure, rows[gone.url].attempts) == ("permanent", 3)
        assert (rows[busy.url].failure, rows[busy.url].attempts) == ("transient", 1)
