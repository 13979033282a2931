"""Stories through the store, on SQLite and PostgreSQL: the labelled set assigned online as the
in-memory evaluation assigns it, nothing assigned twice, copies in their cluster's story, two
concurrent writers on PostgreSQL, and alerts `once_per: story` with an update message delivered
to a receiver on loopback."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.alerts.notify import deliver_pending
from newsmon.app.demo.server import AlertReceiver
from newsmon.config.models import AlertConfig, Config, SourceConfig, StoryUpdates
from newsmon.records import ArticleDraft
from newsmon.store.articles import store_articles
from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import Alert, Article, Story, StoryMerge
from newsmon.store.reports import story_digest
from newsmon.store.stories import iter_stories, touched_stories
from tests.conftest import _postgres_database
from tests.factories import NOW, make_config, ready

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


EVAL = _load("stories_eval_benchmark", ROOT / "benchmarks" / "stories_eval.py")
ITEMS = EVAL.load_items()
SOURCES = sorted({item.source for item in ITEMS})
CONFIG = Config(
    directory=Path("config"),
    sources=tuple(SourceConfig(name=s, url=f"https://{s}.example/rss") for s in SOURCES),
    topics=make_config().topics,
    alerts=(),
)


def as_draft(item: Any, *, source: str | None = None) -> ArticleDraft:
    source = source or item.source
    url = f"https://{source}.example/{item.id}"
    return ArticleDraft(
        source=source,
        url=url,
        final_url=url,
        canonical_url=url,
        title=item.title,
        text=item.text,
        published_at=item.at,
        author=None,
        language=item.lang,
        fetched_at=item.at + timedelta(minutes=5),
    )


def store(
    engine: Engine, drafts: Sequence[ArticleDraft], config: Config = CONFIG, **kw: Any
) -> None:
    with Session(engine) as session, session.begin():
        store_articles(
            session,
            ready(config, *drafts),
            notify_urls={a.name: a.notify for a in config.alerts},
            now=NOW,
            **kw,
        )


def partition(engine: Engine) -> set[frozenset[str]]:
    """The stories as sets of article URLs (ids differ between databases, URLs do not)."""
    groups: dict[int, set[str]] = defaultdict(set)
    with Session(engine) as session:
        for url, story_id in session.execute(sa.select(Article.url, Article.story_id)):
            assert story_id is not None, url
            groups[story_id].add(url)
    return {frozenset(urls) for urls in groups.values()}


def labelled() -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for item in ITEMS:
        groups[item.story].add(f"https://{item.source}.example/{item.id}")
    return {frozenset(urls) for urls in groups.values()}


def test_the_store_assigns_the_labelled_stories_one_batch_at_a_time(engine: Engine) -> None:
    for start in range(0, len(ITEMS), 4):  # as runs would: a few articles per batch, in time order
        store(engine, [as_draft(item) for item in ITEMS[start : start + 4]])
    assert partition(engine) == labelled()


def test_re_running_assigns_nothing_twice(engine: Engine) -> None:
    drafts = [as_draft(item) for item in ITEMS]
    store(engine, drafts)
    before = partition(engine)
    with Session(engine) as session:
        stories = session.scalar(sa.select(sa.func.count()).select_from(Story))
        merges = session.scalar(sa.select(sa.func.count()).select_from(StoryMerge))
    store(engine, drafts)  # a retried or overlapping run: every article is already stored
    store(engine, drafts[::-1])
    assert partition(engine) == before
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Story)) == stories
        assert session.scalar(sa.select(sa.func.count()).select_from(StoryMerge)) == merges


def test_a_syndicated_copy_is_in_its_clusters_story_and_export_lists_stories(
    engine: Engine,
) -> None:
    first = ITEMS[0]
    store(engine, [as_draft(first)])
    store(engine, [as_draft(first, source="copycat")])
    with Session(engine) as session:
        rows = session.execute(
            sa.select(Article.duplicate_of, Article.story_id).order_by(Article.id)
        ).all()
        exported = list(iter_stories(session))
    (head_dup, head_story), (copy_dup, copy_story) = rows
    assert head_dup is None and copy_dup is not None
    assert copy_story == head_story
    assert len(exported) == 1
    assert exported[0]["outlets"] == sorted([first.source, "copycat"])
    assert exported[0]["headline"] == first.title
    assert exported[0]["languages"] == [first.lang]


def test_a_runs_digest_ranks_every_story_it_touched_and_reads_only_the_top(
    engine: Engine,
) -> None:
    """touched_stories and story_digest against the same ranking computed in Python over every
    row: most languages (an empty one is none), outlets, articles; copies in their cluster."""
    drafts = [as_draft(item) for item in ITEMS]
    store(engine, drafts)
    store(engine, [as_draft(ITEMS[0], source="copycat"), as_draft(ITEMS[1], source="mirror")])
    with Session(engine) as session, session.begin():
        session.execute(sa.update(Article).where(Article.id == 3).values(language=""))
    with Session(engine) as session:
        rows = session.execute(
            sa.select(
                Article.id, Article.story_id, Article.duplicate_of, Article.source, Article.language
            )
        ).all()
        ids = [row.id for row in rows]
        by_story: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            by_story[row.story_id].append(row)

        def story_key(story: int) -> tuple[int, int, int, int]:
            members = by_story[story]
            languages = {m.language for m in members if m.language}
            return (-len(languages), -len({m.source for m in members}), -len(members), story)

        for subset in (ids, ids[: len(ids) // 3], ids[-2:]):
            touched = sorted({row.story_id for row in rows if row.id in subset}, key=story_key)
            for limit in (1, 3, 50):
                found = touched_stories(session, subset, limit=limit)
                assert [r["id"] for r in found] == touched[:limit]
                for record in found:
                    assert record["articles"] == sorted(m.id for m in by_story[record["id"]])
                    assert record["new_articles"] == sum(
                        1 for m in by_story[record["id"]] if m.id in subset
                    )
            clusters: dict[int, list[Any]] = defaultdict(list)
            for row in rows:
                clusters[row.duplicate_of or row.id].append(row)
            new = {c: sum(1 for m in members if m.id in subset) for c, members in clusters.items()}
            expected = sorted(
                (c for c, n in new.items() if n),
                key=lambda c: (
                    -len({m.source for m in clusters[c]}),
                    -len(clusters[c]),
                    -new[c],
                    c,
                ),
            )
            lines = story_digest(session, subset, limit=5)
            assert [line.cluster_id for line in lines] == expected[:5]
            assert [line.articles for line in lines] == [len(clusters[c]) for c in expected[:5]]
    assert any(len(members) > 1 for members in clusters.values())


@pytest.mark.postgres
def test_two_concurrent_writers_on_postgresql_make_the_stories_one_writer_makes() -> None:
    urls = iter(_two_databases())
    one, two = (make_engine(url) for url in (next(urls), next(urls)))
    try:
        for engine in (one, two):
            upgrade(engine)
        for start in range(0, len(ITEMS), 4):
            store(one, [as_draft(item) for item in ITEMS[start : start + 4]])
        # Two writers, each storing every other article, batch by batch, at the same time.
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def writer(offset: int) -> None:
            try:
                mine = ITEMS[offset::2]
                for start in range(0, len(ITEMS[0::2]), 2):  # the same number of rounds for both
                    barrier.wait(timeout=30)
                    if mine[start : start + 2]:
                        store(two, [as_draft(item) for item in mine[start : start + 2]])
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert partition(two) == partition(one) == labelled()
    finally:
        one.dispose()
        two.dispose()


@pytest.mark.postgres
def test_a_story_merged_away_while_the_digest_reads_it_is_left_out() -> None:
    """READ COMMITTED: a run storing at the same time may merge a story between the digest's
    ranking and its reading the top stories; the digest goes on with the next ones."""
    engine = make_engine(_two_databases()[0])
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        store(engine, [as_draft(item) for item in ITEMS[:40]])
        with Session(engine) as session:
            ids = list(session.scalars(sa.select(Article.id)))
        merged: list[int] = []

        def merge_first_read(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            if "ORDER BY article.story_id, article.id" not in statement or merged:
                return
            merged.append(params["story_id_1"])
            with other.begin() as writer:
                into = writer.scalar(
                    sa.select(sa.func.min(Article.story_id)).where(Article.story_id != merged[0])
                )
                writer.execute(
                    sa.update(Article).where(Article.story_id == merged[0]).values(story_id=into)
                )

        with Session(engine) as session:
            sa.event.listen(session.connection(), "before_cursor_execute", merge_first_read)
            found = touched_stories(session, ids, limit=5)
        assert merged and merged[0] not in [record["id"] for record in found]
        assert len(found) == 5
    finally:
        engine.dispose()
        other.dispose()


_DATABASES: list[Iterator[str]] = []


def _two_databases() -> list[str]:
    generators = [_postgres_database(), _postgres_database()]
    _DATABASES.extend(generators)
    return [next(g) for g in generators]


@pytest.fixture(autouse=True)
def _drop_databases() -> Iterator[None]:
    yield
    while _DATABASES:
        for _ in _DATABASES.pop():
            pass


def test_once_per_story_alerts_once_for_both_languages_and_updates_when_arabic_arrives(
    engine: Engine,
) -> None:
    with AlertReceiver() as receiver:
        rule = AlertConfig(
            name="anbar-story",
            query='(ISIS OR Daesh OR "Islamic State" OR داعش) AND (Anbar OR الأنبار)',
            notify=(f"json://127.0.0.1:{receiver.port}/alerts",),
            once_per="story",
            updates=StoryUpdates(new_language=True),
        )
        config = Config(CONFIG.directory, CONFIG.sources, CONFIG.topics, (rule,))
        policies = {rule.name: rule.updates}
        by_id = {item.id: item for item in ITEMS}
        # Two English write-ups (other outlets, other words), then the Arabic reports, then a
        # second Arabic one: one alert, one update (Arabic is new once), nothing else.
        for ids, minutes in ((("a1", "a2"), 0), (("a3",), 15), (("a4",), 30)):
            store(engine, [as_draft(by_id[i]) for i in ids], config, story_alerts=policies)
            deliver_pending(engine, config, now=NOW + timedelta(minutes=minutes), timeout_s=5)
        with Session(engine) as session:
            alerts = list(session.scalars(sa.select(Alert).order_by(Alert.id)))
        assert [(a.story_update is None) for a in alerts] == [True, False]
        assert alerts[1].story_update == "language:ar"
        titles = [m["title"] for m in receiver.received]
        assert len(titles) == 2, titles
        assert titles[0] == f"[anbar-story] {by_id['a1'].title}"
        assert titles[1] == f"[anbar-story] Story update, now also in ar: {by_id['a3'].title}"


def test_once_per_cluster_stays_the_default(engine: Engine) -> None:
    rule = AlertConfig(name="anbar", query="Anbar OR الأنبار", notify=("json://127.0.0.1:9/x",))
    config = Config(CONFIG.directory, CONFIG.sources, CONFIG.topics, (rule,))
    by_id = {item.id: item for item in ITEMS}
    store(engine, [as_draft(by_id[i]) for i in ("a1", "a2", "a3")], config)
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 3


def test_reprocess_raises_once_per_story_alerts_per_story(engine: Engine) -> None:
    from newsmon.backfill.plan import retag
    from newsmon.rules.prepare import Rules
    from newsmon.store.backfill import apply_retags, articles_in_window

    by_id = {item.id: item for item in ITEMS}
    store(engine, [as_draft(by_id[i]) for i in ("a1", "a2", "a3")])  # no rules yet
    rule = AlertConfig(name="anbar", query="Anbar OR الأنبار", once_per="story")
    config = Config(CONFIG.directory, CONFIG.sources, CONFIG.topics, (rule,))
    with Session(engine) as session, session.begin():
        articles = articles_in_window(
            session,
            start=by_id["a1"].at - timedelta(days=1),
            end=by_id["a1"].at + timedelta(days=1),
            sources=None,
            after_id=0,
            through_id=10**9,
            limit=10,
        )
        apply_retags(
            session,
            retag(articles, Rules(config)),
            notify_urls={},
            deliver_alerts=False,
            now=NOW,
            story_rules={"anbar"},
        )
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1


def test_the_article_that_raises_a_story_alert_raises_no_update_with_it(engine: Engine) -> None:
    rule = AlertConfig(
        name="anbar-en",
        query="Anbar",  # English only: the Arabic report stored first does not match
        notify=("json://127.0.0.1:9/x",),
        once_per="story",
        updates=StoryUpdates(new_language=True),
    )
    config = Config(CONFIG.directory, CONFIG.sources, CONFIG.topics, (rule,))
    by_id = {item.id: item for item in ITEMS}
    policies = {rule.name: rule.updates}
    store(engine, [as_draft(by_id["a3"])], config, story_alerts=policies)
    store(engine, [as_draft(by_id["a1"])], config, story_alerts=policies)
    with Session(engine) as session:
        alerts = list(session.scalars(sa.select(Alert)))
    assert [a.story_update for a in alerts] == [None]
