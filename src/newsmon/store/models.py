"""SQLModel tables. Uniqueness lives here, in the database, not in read-then-write code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite has no time zones: store naive UTC, read aware)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


class Source(SQLModel, table=True):
    """Per-source polling state and health (the config file is the source of truth for settings)."""

    __tablename__ = "source"

    name: str = Field(primary_key=True, max_length=100)
    url: str
    status: str = Field(default="new", max_length=20)  # new, ok, failing, parked
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = Field(default=None, max_length=64)
    last_polled_at: datetime | None = _ts()
    last_success_at: datetime | None = _ts()
    last_new_entry_at: datetime | None = _ts()
    next_poll_at: datetime | None = _ts(index=True)
    consecutive_failures: int = 0
    last_error: str | None = None
    entries_total: int = 0
    # Adaptive polling (newsmon.fetch.schedule): the median gap between the feed's recent entries,
    # in seconds (None until the feed showed three dated entries).
    entry_interval_s: float | None = None
    # The last full answer (a 200 with a body, not a 304): validators older than
    # NEWSMON_UNCONDITIONAL_AFTER_S are not sent, so a stale ETag cannot hide entries for long.
    last_full_fetch_at: datetime | None = _ts()
    # sha256 of the source's entry in sources.yaml: any edit to it un-parks the source.
    config_hash: str | None = Field(default=None, max_length=64)


class Article(SQLModel, table=True):
    """One article per canonical URL; `duplicate_of` points at its story cluster's earliest article."""

    __tablename__ = "article"
    # A story's languages and outlets, read for each article joining a story alerted on with
    # updates (store/stories.py story_carriers), come from this index alone: in the table they
    # sit after the text, on its overflow pages. It serves every other story_id lookup too.
    # Each story candidate's story (store/story_candidates.py, ~100 per lookup) is read from
    # ix_article_story_of alone, for the same reason.
    __table_args__ = (
        sa.Index("ix_article_story_carriers", "story_id", "language", "source"),
        sa.Index("ix_article_story_of", "id", "story_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(index=True)  # as linked from the feed
    canonical_url: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    final_url: str
    source: str = Field(index=True, max_length=100)
    title: str | None = None
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    published_at: datetime | None = _ts(index=True)
    author: str | None = None
    language: str | None = Field(default=None, max_length=8)
    exact_hash: str = Field(index=True, max_length=64)
    signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    duplicate_of: int | None = Field(default=None, foreign_key="article.id", index=True)
    fetched_at: datetime = _ts(nullable=False, index=True)
    # The story (newsmon.stories) the article belongs to: the id of the story's first article.
    # Null only for articles stored before stories existed.
    story_id: int | None = None  # indexed by ix_article_story_carriers


class ArticleTopic(SQLModel, table=True):
    """Topic tags of an article (one row per topic name)."""

    __tablename__ = "article_topic"

    article_id: int = Field(foreign_key="article.id", primary_key=True)
    topic: str = Field(primary_key=True, max_length=100, index=True)


class ArticleBand(SQLModel, table=True):
    """LSH band keys of an article's MinHash: a near-duplicate shares at least one key."""

    __tablename__ = "article_band"

    band_key: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    article_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("article.id"), primary_key=True)
    )


class Alert(SQLModel, table=True):
    """An alert rule's match on a story cluster: raised once per (rule, cluster), ever."""

    __tablename__ = "alert"
    __table_args__ = (sa.UniqueConstraint("rule", "cluster_id", name="uq_alert_rule_cluster"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=100, index=True)
    cluster_id: int = Field(foreign_key="article.id", index=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    matched: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)
    delivered_at: datetime | None = _ts()
    attempts: int = 0
    # For a rule with `once_per: story`, cluster_id holds the story id; an update message about
    # such a story (it gained a language, an outlet, articles) is an alert row of its own, keyed
    # by the article that brought the change, with the reason here ("language:ar", ...).
    story_update: str | None = Field(default=None, max_length=100)


class AlertDelivery(SQLModel, table=True):
    """Delivery state of one alert to one notify URL (the outbox): retried until delivered."""

    __tablename__ = "alert_delivery"
    __table_args__ = (sa.UniqueConstraint("alert_id", "channel", name="uq_delivery_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    # sha256 of the notify URL as written in alerts.yaml (secrets unresolved): the URL itself is
    # never stored, so tokens stay out of the database.
    channel: str = Field(max_length=64)
    channel_label: str  # the redacted URL, for people
    attempts: int = 0
    delivered_at: datetime | None = _ts(index=True)
    last_error: str | None = None
    next_attempt_at: datetime | None = _ts()


class AlertMessage(SQLModel, table=True):
    """One message sent to one channel for one rule (a single alert or a digest of several).

    Digests (at most one per interval) and rate caps (`max_per_hour`) are decided from these rows.
    """

    __tablename__ = "alert_message"
    __table_args__ = (sa.Index("ix_alert_message_rule_channel", "rule", "channel", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=100)
    channel: str = Field(max_length=64)  # as AlertDelivery.channel
    kind: str = Field(max_length=20)  # alert, digest
    alerts: int  # how many alerts it carried
    sent_at: datetime = _ts(nullable=False)


class QueuedEntry(SQLModel, table=True):
    """A feed entry whose page is not stored yet: the durable queue between polling and storing.

    Entries are queued in the same transaction that saves the poll's new validators (ETag, body
    hash), so a run that dies half-way loses nothing: the next run works through the queue. A
    stored page's row is deleted; a page that keeps failing is retried on later runs until
    `attempts` reaches NEWSMON_MAX_PAGE_ATTEMPTS, and then kept as the record of the failure; a
    permanent failure (`failure`) counts as all its attempts at once.
    """

    __tablename__ = "entry_queue"

    url: str = Field(primary_key=True)  # as linked from the feed
    source: str = Field(max_length=100, index=True)
    guid: str | None = None
    title: str | None = None
    published_at: datetime | None = _ts()
    author: str | None = None
    summary: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    attempts: int = 0
    stage: str | None = Field(default=None, max_length=20)  # of the last failure: fetch, extract
    # Of the last failure: "permanent" (given up at once: 404/410, too large, redirect loop, not
    # HTML, disallowed) or "transient" (retried on later runs: timeouts, 5xx, 429).
    failure: str | None = Field(default=None, max_length=10)
    error: str | None = None
    queued_at: datetime = _ts(nullable=False)
    last_attempt_at: datetime | None = _ts()


class BackfillProgress(SQLModel, table=True):
    """One unit of a backfill's work (a feed page, a robots.txt, a sitemap, the re-tagging
    cursor) and whether it is done: a backfill run again resumes instead of redoing."""

    __tablename__ = "backfill_progress"
    __table_args__ = (sa.UniqueConstraint("backfill", "unit", name="uq_backfill_unit"),)

    id: int | None = Field(default=None, primary_key=True)  # order of discovery
    # sha256 of mode, window, sources (and, for reprocess, the rules): newsmon.backfill.plan.backfill_key
    backfill: str = Field(max_length=64)
    unit: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # "sitemap:<url>", ...
    kind: str = Field(max_length=20)  # backfill, feed, robots, sitemap, articles
    done: bool = False
    cursor: int | None = None  # reprocess: the last article id finished
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    updated_at: datetime = _ts(nullable=False)


class Lease(SQLModel, table=True):
    """A named lease held by one run at a time (e.g. alert delivery), expiring if its holder dies."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=100)
    holder: str = Field(max_length=64)
    expires_at: datetime = _ts(nullable=False)


class Story(SQLModel, table=True):
    """A story: copy clusters about one event, across outlets, days and languages.

    Its id is the id of its first article, so it never changes; a story merged into an older one
    keeps its row, with `merged_into` set (and a StoryMerge row saying why).
    """

    __tablename__ = "story"

    id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("article.id"), primary_key=True))
    created_at: datetime = _ts(nullable=False)
    merged_into: int | None = Field(default=None, foreign_key="story.id", index=True)


class StoryMerge(SQLModel, table=True):
    """A story merged into an older one, when an article linked the two."""

    __tablename__ = "story_merge"

    story_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("story.id"), primary_key=True)
    )
    into_story_id: int = Field(foreign_key="story.id", index=True)
    article_id: int = Field(foreign_key="article.id")  # the article that linked them
    score: float
    merged_at: datetime = _ts(nullable=False)


class StoryFeatureRow(SQLModel, table=True):
    """An article's story features (newsmon.stories.features), for later articles to compare with."""

    __tablename__ = "story_features"

    article_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("article.id"), primary_key=True)
    )
    seen_at: datetime = _ts(nullable=False)
    features: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))


class StoryKey(SQLModel, table=True):
    """An article's story index keys (actors, places, else terms), ordered by time for a window scan."""

    __tablename__ = "story_key"

    key: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    seen_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    article_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("article.id"), primary_key=True)
    )


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core `Table` of a table model, for statements written against its columns (`.c`)."""
    # SQLModel sets `__table__` on every `table=True` class but does not declare it.
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return table
