"""What story assignment adds to storing an article: `store_articles` on the stories evaluation
set (62 articles), with and without the story step, side by side in one run, SQLite and (if
NEWSMON_TEST_POSTGRES_URL is set) PostgreSQL; each variant repeated, best round reported.

    .venv/bin/python benchmarks/stories_store_cost.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import newsmon.store.articles
from harness import scratch_database
from newsmon.config.models import Config, SourceConfig
from newsmon.records import ArticleDraft
from newsmon.rules.prepare import ReadyArticle, Rules, prepare_articles
from newsmon.store.db import make_engine, upgrade
from newsmon.store.stories import StoryAssignment, StoryPlan
from stories_eval import Item, load_items


def _ready(items: list[Item], run: int) -> list[ReadyArticle]:
    sources = sorted({i.source for i in items})
    config = Config(
        Path("config"),
        tuple(SourceConfig(name=s, url=f"https://{s}.example/") for s in sources),
        (),
        (),
    )
    drafts = [
        ArticleDraft(
            source=i.source,
            url=f"https://{i.source}.example/{run}/{i.id}",
            final_url=f"https://{i.source}.example/{run}/{i.id}",
            canonical_url=f"https://{i.source}.example/{run}/{i.id}",
            title=i.title,
            text=i.text,
            published_at=i.at + timedelta(days=30 * run),
            author=None,
            language=i.lang,
            fetched_at=i.at + timedelta(days=30 * run),
        )
        for i in items
    ]
    return prepare_articles(drafts, Rules(config))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    items = load_items()
    real = newsmon.store.articles.assign_story, newsmon.store.articles.plan_story

    def no_plan(session: Session, **kw: Any) -> StoryPlan:
        return StoryPlan(None, None, True, None)

    def no_story(session: Session, plan: StoryPlan, **kw: Any) -> StoryAssignment:
        return StoryAssignment(kw["article_id"], True)

    for engine_name, url in _engines():
        engine = make_engine(url)
        upgrade(engine)
        best = {"with stories": float("inf"), "without": float("inf")}
        run = 0
        for _ in range(args.rounds):
            for variant in best:
                run += 1
                ready = _ready(items, run)
                (newsmon.store.articles.assign_story, newsmon.store.articles.plan_story) = (
                    real if variant == "with stories" else (no_story, no_plan)
                )  # type: ignore[assignment]
                started = time.perf_counter()
                with Session(engine) as session, session.begin():
                    newsmon.store.articles.store_articles(
                        session, ready, notify_urls={}, now=ready[0].draft.fetched_at
                    )
                per = 1000 * (time.perf_counter() - started) / len(ready)
                best[variant] = min(best[variant], per)
        newsmon.store.articles.assign_story, newsmon.store.articles.plan_story = real
        engine.dispose()
        extra = best["with stories"] - best["without"]
        print(
            f"{engine_name}: store per article {best['without']:.2f} ms without stories, "
            f"{best['with stories']:.2f} ms with (+{extra:.2f} ms, x{best['with stories'] / best['without']:.2f})"
        )
    return 0


def _engines() -> Iterator[tuple[str, str]]:
    """SQLite in a temporary folder, then PostgreSQL in a database of its own when configured."""
    with tempfile.TemporaryDirectory() as folder:
        yield "sqlite", f"sqlite:///{folder}/cost.db"
    admin = os.environ.get("NEWSMON_TEST_POSTGRES_URL")
    if admin:
        with scratch_database(admin, f"newsmon_bench_cost_{uuid.uuid4().hex[:8]}") as url:
            yield "postgresql", url


if __name__ == "__main__":
    sys.exit(main())
