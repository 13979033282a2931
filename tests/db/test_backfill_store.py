"""The store's backfill side on SQLite and PostgreSQL: progress units, which entries a backfill
still fetches, re-tagging with alerts once per cluster, and the digest queries."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.backfill.plan import Unit, retag
from newsmon.config.models import AlertConfig, Config, TopicConfig
from newsmon.records import PageFailure
from newsmon.rules.prepare import Rules
from newsmon.store.articles import store_articles
from newsmon.store.backfill import (
    add_backfill_units,
    apply_retags,
    articles_in_window,
    backfill_units,
    count_articles_in_window,
    save_backfill_unit,
)
from newsmon.store.models import Alert, AlertDelivery, ArticleTopic
from newsmon.store.queue import new_entries, record_failures
from newsmon.store.reports import alert_digest, story_digest
from tests.factories import NOW, OTHER_TEXT, draft, entry, make_config, ready

CONFIG = make_config()
NOTIFY = {a.name: a.notify for a in CONFIG.alerts}
DAY = timedelta(days=1)


def store(engine: Engine, *drafts, deliver: bool = False):  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        return store_articles(
            session, ready(CONFIG, *drafts), notify_urls=NOTIFY, deliver_alerts=deliver, now=NOW
        )


def test_units_are_recorded_once_and_keep_their_state(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        add_backfill_units(
            session,
            "k",
            [Unit("feed:a:u1", "feed", detail={"url": "u1"}), Unit("sitemap:s", "sitemap")],
            now=NOW,
        )
        save_backfill_unit(
            session,
            "k",
            Unit("feed:a:u1", "feed", done=True, detail={"url": "u1", "n": 3}),
            now=NOW,
        )
    with Session(engine) as session, session.begin():
        # Recording again (a resumed run seeds the same units) changes nothing.
        add_backfill_units(
            session, "k", [Unit("feed:a:u1", "feed"), Unit("robots:r", "robots")], now=NOW
        )
        save_backfill_unit(session, "other", Unit("articles", "articles", cursor=41), now=NOW)
    with Session(engine) as session:
        units = backfill_units(session, "k")
        other = backfill_units(session, "other")
    assert [(u.name, u.done) for u in units] == [
        ("feed:a:u1", True),
        ("sitemap:s", False),
        ("robots:r", False),
    ]
    assert units[0].detail == {"url": "u1", "n": 3} and units[0].url == "u1"
    assert other == [Unit("articles", "articles", cursor=41, detail={})]


def test_backfill_fetches_what_is_not_stored_and_not_given_up(engine: Engine) -> None:
    store(engine, draft("wire", "https://wire.example/stored", canonical="https://wire.example/c"))
    failed_once = entry("wire", "https://wire.example/failed-once")
    given_up = entry("wire", "https://wire.example/given-up")
    with Session(engine) as session, session.begin():
        record_failures(session, [PageFailure(failed_once, "fetch", "HTTP 500")], now=NOW)
        for _ in range(3):
            record_failures(session, [PageFailure(given_up, "fetch", "HTTP 500")], now=NOW)
    candidates = [
        entry("wire", "https://wire.example/stored"),
        entry("wire", "https://wire.example/c?utm_source=x"),  # the stored one's canonical URL
        failed_once,
        given_up,
        entry("wire", "https://wire.example/new"),
        entry("wire", "https://wire.example/new#comments"),  # the same page
    ]
    with Session(engine) as session:
        fresh = new_entries(session, candidates, max_attempts=3)
    assert [e.url for e in fresh] == [
        "https://wire.example/failed-once",
        "https://wire.example/new",
    ]


def test_window_queries_place_undated_articles_by_fetch_time(engine: Engine) -> None:
    dated = draft("wire", "https://wire.example/1")
    undated = replace(draft("herald", "https://herald.example/2", OTHER_TEXT), published_at=None)
    late = replace(
        draft("wire", "https://wire.example/3", OTHER_TEXT + " Later."), published_at=NOW + 3 * DAY
    )
    store(engine, dated, undated, late)
    with Session(engine) as session:
        ids = sorted(session.scalars(sa.select(ArticleTopic.article_id).distinct()))
        start, end = NOW - DAY, NOW + DAY
        assert count_articles_in_window(session, start=start, end=end, sources=None)[0] == 2
        assert count_articles_in_window(session, start=start, end=end, sources=["herald"])[0] == 1
        everything = count_articles_in_window(session, start=start, end=NOW + 5 * DAY, sources=None)
        assert everything[0] == 3
        window = articles_in_window(
            session,
            start=start,
            end=end,
            sources=None,
            after_id=0,
            through_id=everything[1],
            limit=10,
        )
        assert [a.source for a in window] == ["wire", "herald"]
        after = articles_in_window(
            session,
            start=start,
            end=end,
            sources=None,
            after_id=window[0].id,
            through_id=everything[1],
            limit=10,
        )
        assert [a.id for a in after] == [window[1].id]
        assert window[0].topics == ("counter-terrorism",) and ids


def test_retagging_replaces_topics_and_raises_each_new_alert_once_per_cluster(
    engine: Engine,
) -> None:
    original = draft("wire", "https://wire.example/a", title="Militants killed")
    copy = draft("herald", "https://herald.example/a", title="Militants killed", minutes=5)
    other = draft("monitor", "https://monitor.example/b", OTHER_TEXT, title="Bank rules")
    first = store(engine, original, copy, other)
    assert first.duplicates == 1 and first.alerts == 1  # isis-anbar, once for the cluster
    with Session(engine) as session:
        alerts_before = session.scalar(sa.select(sa.func.count()).select_from(Alert))
    # New rules: a topic renamed, an alert rule on the bank story added.
    rules = Config(
        CONFIG.directory,
        CONFIG.sources,
        (TopicConfig(name="security", query="militants OR Daesh"),),
        (*CONFIG.alerts, AlertConfig(name="militants", query="militants")),
    )
    notify = {a.name: a.notify for a in rules.alerts}
    with Session(engine) as session, session.begin():
        articles = articles_in_window(
            session,
            start=NOW - DAY,
            end=NOW + DAY,
            sources=None,
            after_id=0,
            through_id=10**9,
            limit=10,
        )
        outcome = apply_retags(
            session,
            retag(articles, Rules(rules)),
            notify_urls=notify,
            deliver_alerts=False,
            now=NOW,
        )
    assert sum(outcome.articles.values()) == 3 and sum(outcome.retagged.values()) == 3
    assert outcome.topics_added == {"security": 2}
    assert (
        outcome.topics_removed["counter-terrorism"] == 2 and outcome.topics_removed["economy"] == 1
    )
    # The wire story and its copy are one cluster: one "militants" alert, not two.
    assert sum(outcome.alerts.values()) == 1 and len(outcome.alert_ids) == 1
    with Session(engine) as session:
        topics = sorted(
            session.execute(sa.select(ArticleTopic.article_id, ArticleTopic.topic)).all()
        )
        alerts = session.execute(sa.select(Alert.rule, Alert.cluster_id)).all()
        deliveries = session.scalar(sa.select(sa.func.count()).select_from(AlertDelivery))
    assert [t for _, t in topics] == ["security", "security"]
    assert len(alerts) == alerts_before + 1 and deliveries == 0  # recorded, not queued for delivery

    # Run again: nothing changes, nothing is raised twice; with delivery on, nothing new to send.
    with Session(engine) as session, session.begin():
        articles = articles_in_window(
            session,
            start=NOW - DAY,
            end=NOW + DAY,
            sources=None,
            after_id=0,
            through_id=10**9,
            limit=10,
        )
        again = apply_retags(
            session, retag(articles, Rules(rules)), notify_urls=notify, deliver_alerts=True, now=NOW
        )
    assert sum(again.retagged.values()) == 0 and again.alert_ids == []


def test_retag_alerts_get_deliveries_when_asked(engine: Engine) -> None:
    store(engine, draft("monitor", "https://monitor.example/b", OTHER_TEXT, title="Bank rules"))
    rules = Config(
        CONFIG.directory,
        CONFIG.sources,
        (),
        (AlertConfig(name="bank", query="bank"),),
    )
    with Session(engine) as session, session.begin():
        articles = articles_in_window(
            session,
            start=NOW - DAY,
            end=NOW + DAY,
            sources=["monitor"],
            after_id=0,
            through_id=10**9,
            limit=10,
        )
        outcome = apply_retags(
            session,
            retag(articles, Rules(rules)),
            notify_urls={"bank": ("json://127.0.0.1:9/a", "json://127.0.0.1:9/b")},
            deliver_alerts=True,
            now=NOW,
        )
    with Session(engine) as session:
        [line] = alert_digest(session, alert_ids=outcome.alert_ids)
    assert line.rule == "bank" and line.channels == 2 and not line.delivered
    assert line.title == "Bank rules" and line.url == "https://monitor.example/b"


def test_story_digest_ranks_stories_by_outlets_then_size(engine: Engine) -> None:
    outcome = store(
        engine,
        draft("wire", "https://wire.example/a", minutes=0),
        draft("herald", "https://herald.example/a", minutes=1),
        draft("monitor", "https://monitor.example/a", minutes=2),
        draft("wire", "https://wire.example/b", OTHER_TEXT, title="Bank rules", minutes=3),
    )
    with Session(engine) as session:
        lines = story_digest(session, outcome.stored_ids, limit=10)
        top_only = story_digest(session, outcome.stored_ids, limit=1)
        later = story_digest(session, outcome.stored_ids[1:2], limit=10)
        alerts = alert_digest(session, article_ids=outcome.stored_ids)
    assert [(line.outlets, line.articles, line.new_articles) for line in lines] == [
        (("wire", "herald", "monitor"), 3, 3),
        (("wire",), 1, 1),
    ]
    assert lines[0].url == "https://wire.example/a" and top_only == lines[:1]
    assert [(line.articles, line.new_articles) for line in later] == [(3, 1)]
    assert [a.rule for a in alerts] == ["isis-anbar"] and not alerts[0].delivered
