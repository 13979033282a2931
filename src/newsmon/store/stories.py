"""Stories in the database: assignment, merges, update messages (the decision is pure:
newsmon.stories.assign; the candidate lookup is store/story_candidates.py).

Called from the store's batch path (`store.articles.store_articles`) for each article it
inserts (`plan_story` before the insert, which writes the story, `assign_story` after it),
inside the same transaction and, on PostgreSQL, under the same advisory lock as cluster
assignment, so ingest and backfill assign stories the same way, concurrent runs one at a time,
and an article already stored (re-run, retry) is never assigned again.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from newsmon.config.models import StoryUpdates
from newsmon.records import ArticleDraft
from newsmon.store.dialect import iso
from newsmon.store.models import (
    Alert,
    Article,
    Story,
    StoryMerge,
    table_of,
)

# Re-exported (`as`): benchmarks/story_lookup.py knows the lookup by this module.
from newsmon.store.story_candidates import PER_KEY_EACH_SIDE as PER_KEY_EACH_SIDE
from newsmon.store.story_candidates import story_candidates as story_candidates
from newsmon.store.story_candidates import story_keys, write_story_index
from newsmon.stories.assign import StoryDecision, decide_story
from newsmon.stories.features import StoryFeatures
from newsmon.stories.updates import update_reason


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """The story an article was put in, whether it started it, and stories merged into it."""

    story_id: int
    new: bool
    merged: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StoryPlan:
    """The story an article goes in, decided before its insert (`plan_story`, read-only), so the
    insert writes its `story_id`: None when it starts a story, whose id is its own (known once
    inserted). `assign_story` carries the plan out once the article is stored."""

    story_id: int | None
    cluster_id: int | None  # a copy's cluster (a copy's story is its cluster's)
    new: bool  # it starts a story (or, a copy, its cluster becomes one)
    decision: StoryDecision | None  # not a copy: scored against its candidates
    keys: list[int] = field(default_factory=list)  # not a copy: its index keys (`story_keys`)


def plan_story(
    session: Session, *, cluster_id: int | None, features: StoryFeatures, seen_at: datetime
) -> StoryPlan:
    """The story an article will be put in: its copy cluster's, or one its features link it to.

    Reads only: an article found already stored after all (its insert does nothing) leaves no
    trace of its plan."""
    if cluster_id is not None:
        # A copy belongs where its cluster is; it adds no features (its text is the original's).
        story_id = (
            session.connection()
            .execute(_statements().story_of, {"article_id": cluster_id})
            .scalar_one_or_none()
        )
        # The cluster began before stories existed: it becomes one, with the cluster's id.
        new = story_id is None
        return StoryPlan(cluster_id if new else story_id, cluster_id, new, None)
    keys = story_keys(features)
    decision = decide_story(features, seen_at, story_candidates(session, features, seen_at, keys))
    return StoryPlan(decision.story_id, None, decision.story_id is None, decision, keys)


def assign_story(
    session: Session,
    plan: StoryPlan,
    *,
    article_id: int,
    features: StoryFeatures,
    seen_at: datetime,
    now: datetime,
) -> StoryAssignment:
    """Carry out `plan` for a just-inserted article, which the insert put in `plan.story_id`."""
    connection = session.connection()
    if plan.cluster_id is not None:
        assert plan.story_id is not None  # a copy's story is known before its insert
        if plan.new:
            connection.execute(_statements().new_story, {"id": plan.story_id, "created_at": now})
            _set_story(session, plan.cluster_id, plan.story_id)
        return StoryAssignment(plan.story_id, plan.new)
    assert plan.decision is not None  # not a copy: scored
    story_id = article_id if plan.story_id is None else plan.story_id
    if plan.new:
        connection.execute(_statements().new_story, {"id": story_id, "created_at": now})
        _set_story(session, article_id, story_id)
    for loser in plan.decision.merge:
        merge_story(
            session, loser, into=story_id, article_id=article_id, score=plan.decision.score, now=now
        )
    write_story_index(session, article_id, seen_at, features, plan.keys)
    return StoryAssignment(story_id, plan.new, plan.decision.merge)


def _set_story(session: Session, article_id: int, story_id: int) -> None:
    session.connection().execute(
        _statements().set_story, {"article": article_id, "story": story_id}
    )


@dataclass(frozen=True, slots=True)
class _Statements:
    """assign_story's statements, built once: building one per article (and its cache key) cost
    more than SQLite took to run it (benchmarks/store_replay.py --profile)."""

    story_of: sa.Select[Any]
    new_story: sa.Insert
    set_story: sa.Update


@functools.cache
def _statements() -> _Statements:
    article = table_of(Article)
    return _Statements(
        story_of=sa.select(article.c.story_id).where(article.c.id == sa.bindparam("article_id")),
        new_story=sa.insert(table_of(Story)),
        set_story=sa.update(article)
        .where(article.c.id == sa.bindparam("article"))
        .values(story_id=sa.bindparam("story")),
    )


def merge_story(
    session: Session, story_id: int, *, into: int, article_id: int, score: float, now: datetime
) -> None:
    """Move a story's articles into an older story and record the merge."""
    connection = session.connection()
    statements = _merge_statements()
    ids = {"story": story_id, "into": into}
    connection.execute(statements.move_articles, ids)
    connection.execute(statements.mark_merged, ids)
    connection.execute(statements.follow_merged, ids)
    connection.execute(
        statements.record,
        {
            "story_id": story_id,
            "into_story_id": into,
            "article_id": article_id,
            "score": score,
            "merged_at": now,
        },
    )


@dataclass(frozen=True, slots=True)
class _MergeStatements:
    """merge_story's statements, built once (with their cache keys, ~0.4 ms a merge)."""

    move_articles: sa.Update
    mark_merged: sa.Update
    follow_merged: sa.Update
    record: sa.Insert


@functools.cache
def _merge_statements() -> _MergeStatements:
    article, story = table_of(Article), table_of(Story)
    loser: sa.BindParameter[Any] = sa.bindparam("story")
    into: sa.BindParameter[Any] = sa.bindparam("into")
    return _MergeStatements(
        move_articles=sa.update(article).where(article.c.story_id == loser).values(story_id=into),
        mark_merged=sa.update(story).where(story.c.id == loser).values(merged_into=into),
        follow_merged=sa.update(story).where(story.c.merged_into == loser).values(merged_into=into),
        record=sa.insert(table_of(StoryMerge)),
    )


def story_carriers(
    session: Session, story_id: int, *, excluding: int
) -> tuple[set[str], set[str], int]:
    """(languages, outlets, article count) of a story's articles other than `excluding`."""
    rows = session.connection().execute(
        _update_statements().carriers, {"story": story_id, "excluding": excluding}
    )
    languages: set[str] = set()
    outlets: set[str] = set()
    count = 0
    for language, source, articles in rows:
        count += int(articles)
        outlets.add(source)
        if language:
            languages.add(language)
    return languages, outlets, count


@dataclass(frozen=True, slots=True)
class _UpdateStatements:
    """The story update checks' statements, built once: building them for each article joining
    a story cost more than running them (three per rule and article)."""

    carriers: sa.Select[Any]
    alerted: sa.Select[Any]
    updates_sent: sa.Select[Any]


@functools.cache
def _update_statements() -> _UpdateStatements:
    alert, article = table_of(Alert), table_of(Article)
    story: sa.BindParameter[Any] = sa.bindparam("story")
    rule: sa.BindParameter[Any] = sa.bindparam("rule")
    return _UpdateStatements(
        # Grouped in the database: a story can hold thousands of articles, and reading each row
        # into Python for every article joining it made update checks most of the store's time.
        carriers=sa.select(article.c.language, article.c.source, sa.func.count())
        .where(article.c.story_id == story, article.c.id != sa.bindparam("excluding"))
        .group_by(article.c.language, article.c.source),
        alerted=sa.select(alert.c.id).where(
            alert.c.rule == rule, alert.c.cluster_id == story, alert.c.story_update.is_(None)
        ),
        updates_sent=sa.select(sa.func.count())
        .select_from(alert.join(article, article.c.id == alert.c.article_id))
        .where(
            alert.c.rule == rule,
            alert.c.story_update.is_not(None),
            article.c.story_id == story,
        ),
    )


def iter_stories(session: Session) -> Iterator[dict[str, Any]]:
    """Every story, oldest first, in one streamed scan: what `newsmon export stories` writes.

    A story merged into another has no articles left, so it is not listed (story_merge keeps it).
    """
    article = table_of(Article)
    rows = (
        session.connection()
        .execution_options(yield_per=1000)
        .execute(_story_rows().where(article.c.story_id.is_not(None)))
    )
    group: list[Any] = []
    for row in rows:
        if group and row.story_id != group[0].story_id:
            yield _story_record(group)
            group = []
        group.append(row)
    if group:
        yield _story_record(group)


def _story_rows() -> sa.Select[Any]:
    """The columns of a story's articles that `_story_record` reads, by story, then id."""
    article = table_of(Article)
    return sa.select(
        article.c.story_id,
        article.c.id,
        article.c.title,
        article.c.source,
        article.c.language,
        article.c.published_at,
        article.c.fetched_at,
    ).order_by(article.c.story_id, article.c.id)


def _story_record(rows: Sequence[Any]) -> dict[str, Any]:
    seen = [row.published_at or row.fetched_at for row in rows]
    story_id = rows[0].story_id
    head = next((row for row in rows if row.id == story_id), rows[0])
    return {
        "id": story_id,
        "headline": head.title,
        "first_seen": iso(min(seen)),
        "last_seen": iso(max(seen)),
        "articles": [row.id for row in rows],
        "outlets": sorted({row.source for row in rows}),
        "languages": sorted({row.language for row in rows if row.language}),
    }


def story_alert_state(session: Session, rule: str, story_id: int) -> tuple[bool, int]:
    """(whether the rule has its alert on the story, how many update messages it raised since)."""
    connection = session.connection()
    statements, ids = _update_statements(), {"rule": rule, "story": story_id}
    if connection.execute(statements.alerted, ids).first() is None:
        return False, 0
    return True, int(connection.execute(statements.updates_sent, ids).scalar_one())


def story_updates(
    session: Session,
    story: StoryAssignment,
    article_id: int,
    draft: ArticleDraft,
    policies: Mapping[str, StoryUpdates | None],
) -> list[tuple[str, str]]:
    """(rule, reason) of each update message the article brings to a story already alerted on."""
    wanted = {rule: policy for rule, policy in policies.items() if policy is not None}
    if not wanted:
        return []
    # The alert state first (two indexed reads per rule): the carriers read the story's every
    # article, and most stories an article joins have no alert of these rules to update.
    states = {rule: story_alert_state(session, rule, story.story_id) for rule in sorted(wanted)}
    if not any(alerted for alerted, _ in states.values()):
        return []
    languages, outlets, count = story_carriers(session, story.story_id, excluding=article_id)
    found = []
    for rule, (alerted, sent) in states.items():
        if not alerted:
            continue
        reason = update_reason(
            wanted[rule],
            languages=languages,
            outlets=outlets,
            articles=count,
            language=draft.language,
            source=draft.source,
            updates_sent=sent,
        )
        if reason is not None:
            found.append((rule, reason))
    return found


def touched_stories(
    session: Session, article_ids: Sequence[int], *, limit: int = 10
) -> list[dict[str, Any]]:
    """The stories these articles joined or began, as export records with `new_articles` added,
    most languages, then most outlets and articles first (top `limit`): a run's digest."""
    article = table_of(Article)
    connection = session.connection()
    new: dict[int, int] = {}
    ids = list(article_ids)
    for start in range(0, len(ids), 500):
        for story_id, count in connection.execute(
            sa.select(article.c.story_id, sa.func.count())
            .where(article.c.id.in_(ids[start : start + 500]), article.c.story_id.is_not(None))
            .group_by(article.c.story_id)
        ):
            new[story_id] = int(count)
    # Ranked by counts the database takes from ix_article_story_carriers, and only the top
    # `limit` read whole: a run touching a thousand stories read each one's rows (the end of a
    # run's digest took ~0.3 s after the last store on run.py's full archive).
    ranks: list[tuple[int, int, int, int]] = []
    story_ids = list(new)
    for start in range(0, len(story_ids), 500):
        for story_id, languages, outlets, articles in connection.execute(
            sa.select(
                article.c.story_id,
                sa.func.count(sa.distinct(sa.func.nullif(article.c.language, ""))),
                sa.func.count(sa.distinct(article.c.source)),
                sa.func.count(),
            )
            .where(article.c.story_id.in_(story_ids[start : start + 500]))
            .group_by(article.c.story_id)
        ):
            ranks.append((-int(languages), -int(outlets), -int(articles), int(story_id)))
    records: list[dict[str, Any]] = []
    for *_, story_id in sorted(ranks):
        if len(records) == limit:
            break
        rows = connection.execute(_story_rows().where(article.c.story_id == story_id)).all()
        if rows:  # empty: merged into another story by a run storing at the same time
            records.append({**_story_record(rows), "new_articles": new[story_id]})
    return records
