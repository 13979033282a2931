"""The store's database cost per article, replayed: the articles of an archive `run.py` built are
stored again, batch by batch, into a fresh database, and what was stored is fingerprinted.

`run.py` keeps its database (`/tmp/newsmon-bench-*/bench.db`, with its `config/`). This script
reads that archive's articles back as drafts, prepares them outside the clock (fingerprints,
topics, story features, alert matches with the demo's alert rules plus a `once_per: story` rule
with updates, so alerts, outbox rows and story updates are exercised too; the generated site
has none), then times only the database part of `tasks/store.py::store_batch`
(`store_articles` and `release_pages`) per batch of `--batch` articles, in one transaction each.
With `--dump`, it writes a digest of every table the store writes (rows as the engine holds them,
timestamps as stored): two runs of two versions on the same archive must print equal digests.
Its `stories:` rows digest the stories (each article's story, the story tables) as typed values,
alike on both engines: SQLite and PostgreSQL storing the same archive must print equal ones.

    .venv/bin/python benchmarks/store_replay.py /tmp/newsmon-bench-XXXX [--postgres]
        [--batch 100] [--no-alerts] [--profile 25] [--dump digest.json]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from harness import ROOT, default_postgres_url, scratch_database
from newsmon.config.loading import load_config
from newsmon.records import ArticleDraft
from newsmon.rules.prepare import ReadyArticle, Rules, prepare_articles
from newsmon.store.articles import store_articles
from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import Article, Story, StoryFeatureRow, StoryKey, StoryMerge, table_of
from newsmon.store.page_claims import release_pages

# What the store writes, each read back in a fixed order.
TABLES = {
    "article": "id",
    "article_band": "band_key, article_id",
    "article_topic": "article_id, topic",
    "story": "id",
    "story_merge": "story_id",
    "story_features": "article_id",
    "story_key": "key, seen_at, article_id",
    "alert": "id",
    "alert_delivery": "id",
}

EXTRA_ALERTS = """
  - name: anbar-story
    query: 'Anbar OR الأنبار'
    once_per: story
    updates: {new_language: true, new_outlet: true, every_articles: 3, max_updates: 3}
    notify:
      - "json://127.0.0.1:9/story"
"""


def replay_config(bench: Path, into: Path, alerts: bool) -> Path:
    """The bench run's sources and topics, with the demo's alert rules and a story rule."""
    shutil.copytree(bench / "config", into)
    if not alerts:
        return into
    demo = ROOT / "src" / "newsmon" / "app" / "demo" / "config" / "alerts.yaml"
    alerts = demo.read_text(encoding="utf-8").replace("{{RECEIVER_PORT}}", "9")
    (into / "alerts.yaml").write_text(alerts + EXTRA_ALERTS, encoding="utf-8")
    return into


def read_drafts(bench: Path) -> list[ArticleDraft]:
    """The archive's articles as the drafts they were stored from, in storing order."""
    engine = make_engine(f"sqlite:///{bench / 'bench.db'}")
    columns = "source, url, final_url, canonical_url, title, text, published_at, author, language, fetched_at"
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT {columns} FROM article ORDER BY id")).all()
    engine.dispose()

    def when(value: str | None) -> object:
        if value is None:
            return None
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    return [
        ArticleDraft(
            source=r.source,
            url=r.url,
            final_url=r.final_url,
            canonical_url=r.canonical_url,
            title=r.title,
            text=r.text,
            published_at=when(r.published_at),  # type: ignore[arg-type]
            author=r.author,
            language=r.language,
            fetched_at=when(r.fetched_at),  # type: ignore[arg-type]
        )
        for r in rows
    ]


def digest(engine: sa.Engine) -> dict[str, str]:
    """Row count and sha256 of each table the store writes, rows as the engine returns them,
    then the stories (`stories:` rows) as values both engines give alike: compare those across
    engines (the rows as stored differ in their types: text times and JSON on SQLite)."""
    found = {}
    with engine.connect() as connection:
        for table, order in TABLES.items():
            rows = connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}")).all()
            found[table] = _hashed(repr(tuple(row)) for row in rows)
        for name, statement in _story_tables().items():
            rows = connection.execute(statement).all()
            found[f"stories:{name}"] = _hashed(repr(tuple(map(_portable, row))) for row in rows)
    return found


def _hashed(lines: Iterator[str]) -> str:
    rows = list(lines)
    return f"{len(rows)} {hashlib.sha256(chr(10).join(rows).encode()).hexdigest()[:16]}"


def _story_tables() -> dict[str, sa.Select[Any]]:
    """The story tables and each article's story, read through the models' column types (aware
    times, parsed JSON on both engines), in primary key order."""
    article = table_of(Article)
    selects: dict[str, sa.Select[Any]] = {
        "article": sa.select(article.c.id, article.c.story_id).order_by(article.c.id)
    }
    for model in (Story, StoryMerge, StoryFeatureRow, StoryKey):
        table = table_of(model)
        selects[table.name] = sa.select(table).order_by(*table.primary_key.columns)
    return selects


def _portable(value: object) -> object:
    # PostgreSQL's jsonb orders an object's keys its own way.
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


@contextmanager
def database(postgres: bool) -> Iterator[str]:
    if postgres:
        admin = os.environ.get("NEWSMON_TEST_POSTGRES_URL") or default_postgres_url()
        with scratch_database(admin, f"newsmon_bench_replay_{uuid.uuid4().hex[:8]}") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/replay.db"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path, help="a run.py work folder (bench.db, config/)")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    parser.add_argument("--no-alerts", action="store_true", help="the bench run's config as is")
    parser.add_argument("--dump", type=Path, help="write the stored tables' digest here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(replay_config(args.bench, Path(folder) / "config", not args.no_alerts))
    rules = Rules(config)
    notify_urls = {alert.name: alert.notify for alert in config.alerts}
    story_alerts = {a.name: a.updates for a in config.alerts if a.once_per == "story"}
    drafts = read_drafts(args.bench)
    batches: list[list[ReadyArticle]] = [
        prepare_articles(drafts[start : start + args.batch], rules)
        for start in range(0, len(drafts), args.batch)
    ]
    profile = cProfile.Profile() if args.profile else None
    with database(args.postgres) as url:
        engine = make_engine(url)
        upgrade(engine)
        cpu = 0.0
        per_batch = []
        for batch in batches:
            now = max(r.draft.fetched_at for r in batch) + timedelta(seconds=1)
            started = time.process_time()
            if profile:
                profile.enable()
            with Session(engine) as session, session.begin():
                store_articles(
                    session,
                    batch,
                    notify_urls=notify_urls,
                    now=now,
                    story_alerts=story_alerts,
                )
                release_pages(session, [r.draft.url for r in batch])
            if profile:
                profile.disable()
            spent = time.process_time() - started
            cpu += spent
            per_batch.append(spent / len(batch) * 1000)
        found = digest(engine)
        engine.dispose()
    stored = sum(len(b) for b in batches)
    engine_name = "postgresql" if args.postgres else "sqlite"
    tenth = max(1, len(per_batch) // 10)
    print(
        f"{engine_name}: {stored} articles in batches of {args.batch}: store CPU "
        f"{cpu / stored * 1000:.2f} ms/article (first tenth of batches "
        f"{sum(per_batch[:tenth]) / tenth:.2f}, last tenth {sum(per_batch[-tenth:]) / tenth:.2f})"
    )
    if args.dump:
        args.dump.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    for table, value in found.items():
        print(f"  {table:16} {value}")
    if profile and os.environ.get("REPLAY_PROFILE_OUT"):
        profile.dump_stats(os.environ["REPLAY_PROFILE_OUT"])
    if profile:
        pstats.Stats(profile, stream=sys.stdout).sort_stats(
            os.environ.get("REPLAY_SORT", "tottime")
        ).print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
