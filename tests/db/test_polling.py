"""Polling policy through real HTTP (loopback) and the store, on SQLite and PostgreSQL: server
hints, stale ETags, adaptive intervals, parking and un-parking, and the cost of recording polls.

Time is passed in (`now`), so hours of polling history are simulated without waiting.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.config.models import SourceConfig
from newsmon.fetch.feeds import poll_feed
from newsmon.fetch.http import Fetcher, HttpPolicy
from newsmon.fetch.schedule import PollPolicy, due_sources, poll_states
from newsmon.records import FeedPoll, FeedState
from newsmon.store.models import QueuedEntry, Source
from newsmon.store.queue import enqueue_entries, new_entries
from newsmon.store.sources import (
    PollOutcome,
    source_health,
    store_polls,
    sync_sources,
    unpark_source,
)
from tests.factories import NOW
from tests.localserver import LocalServer, RecordedRequest
from tests.pages import rss_feed

POLICY = PollPolicy(
    max_interval=timedelta(hours=2), park_after=3, unconditional_after=timedelta(hours=6)
)


def source(server: LocalServer, path: str = "/feed", **keys: object) -> SourceConfig:
    return SourceConfig(name="wire", url=server.url(path), **keys)  # type: ignore[arg-type]


def feed_body(server: LocalServer, count: int, gap: timedelta = timedelta(hours=2)) -> bytes:
    items = [(f"Story {n}", server.url(f"/story/{n}"), NOW - n * gap) for n in range(count)]
    return rss_feed("Wire", items).encode()


def poll(engine: Engine, config: SourceConfig, now: object = NOW) -> tuple[FeedPoll, Source]:
    """One poll as the ingest flow makes it: state from the store, GET, record (queue + health)."""
    with Session(engine) as session, session.begin():
        states = sync_sources(session, [config])
        state = poll_states([config], states, now, policy=POLICY)[config.name]  # type: ignore[arg-type]

    async def get() -> FeedPoll:
        async with Fetcher(HttpPolicy(user_agent="newsmon-test", allow_private_hosts=True)) as f:
            return await poll_feed(f, source=config.name, url=config.url, state=state)

    result = asyncio.run(get())
    with Session(engine) as session, session.begin():
        entries = new_entries(session, result.entries) if result.status == "ok" else []
        enqueue_entries(session, entries, now=now)  # type: ignore[arg-type]
        store_polls(session, [PollOutcome(result, config, len(entries))], now=now, policy=POLICY)  # type: ignore[arg-type]
    with Session(engine) as session:
        row = session.get(Source, config.name)
        assert row is not None
        session.expunge(row)
    return result, row


def queued(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(sa.select(QueuedEntry.url)))


class StaleEtagFeed:
    """A server stuck on one ETag: 304 to any If-None-Match, whatever the feed holds now."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __call__(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        headers = {"ETag": '"stuck"'}
        if "if-none-match" in request.headers:
            return 304, headers, b""
        return 200, {**headers, "Content-Type": "application/rss+xml"}, self.body


def test_429_retry_after_sets_the_next_poll(engine: Engine, server: LocalServer) -> None:
    server.route("/feed", "slow down", status=429, headers={"Retry-After": "5400"})
    config = source(server)
    result, row = poll(engine, config)
    assert (result.status, result.http_status, result.retry_after_s) == ("error", 429, 5400.0)
    assert row.status == "failing" and row.consecutive_failures == 1
    assert row.last_error is not None and "HTTP 429 Too Many Requests" in row.last_error
    assert row.next_poll_at == NOW + timedelta(seconds=5400)  # not the 15 min backoff
    states = {row.name: row}
    assert due_sources([config], states, NOW + timedelta(hours=1), force=False) == []
    assert due_sources([config], states, NOW + timedelta(minutes=90), force=False) == [config]


def test_503_with_an_http_date_retry_after(engine: Engine, server: LocalServer) -> None:
    # An HTTP-date is read against the real clock (the moment the answer came), so the date must
    # be three hours after the real now, not after the test's fixed NOW.
    when = format_datetime(datetime.now(UTC) + timedelta(hours=3), usegmt=True)
    server.route("/feed", status=503, headers={"Retry-After": when})
    _result, row = poll(engine, source(server), now=NOW)
    assert row.next_poll_at is not None
    assert NOW + timedelta(hours=2, minutes=55) < row.next_poll_at <= NOW + timedelta(hours=3)


def test_a_stale_etag_cannot_hide_new_entries_beyond_the_bound(
    engine: Engine, server: LocalServer
) -> None:
    feed = StaleEtagFeed(feed_body(server, 2))
    server.route_handler("/feed", feed)
    config = source(server)
    first, row = poll(engine, config, NOW)
    assert first.status == "ok" and row.etag == '"stuck"'
    assert len(queued(engine)) == 2

    feed.body = feed_body(server, 3)  # a new story; the server keeps answering 304
    hidden, _ = poll(engine, config, NOW + timedelta(hours=1))
    assert hidden.status == "not_modified"
    assert server.requests[-1].headers["if-none-match"] == '"stuck"'
    assert len(queued(engine)) == 2

    found, row = poll(engine, config, NOW + timedelta(hours=6, minutes=1))
    assert "if-none-match" not in server.requests[-1].headers  # unconditional, once
    assert found.status == "ok"
    assert len(queued(engine)) == 3
    assert row.last_full_fetch_at == NOW + timedelta(hours=6, minutes=1)

    again, _ = poll(engine, config, NOW + timedelta(hours=7))
    assert server.requests[-1].headers["if-none-match"] == '"stuck"'  # conditional again
    assert again.status == "not_modified"


def test_a_changed_body_under_the_same_etag_is_noticed(engine: Engine, server: LocalServer) -> None:
    body = {"now": feed_body(server, 2)}

    def ignores_validators(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        return 200, {"ETag": '"same"', "Content-Type": "application/rss+xml"}, body["now"]

    server.route_handler("/feed", ignores_validators)
    config = source(server)
    assert poll(engine, config, NOW)[0].status == "ok"
    unchanged, _ = poll(engine, config, NOW + timedelta(minutes=15))
    assert unchanged.status == "unchanged"
    body["now"] = feed_body(server, 4)
    changed, row = poll(engine, config, NOW + timedelta(minutes=30))
    assert changed.status == "ok" and row.etag == '"same"'
    assert len(queued(engine)) == 4
    assert row.last_new_entry_at == NOW + timedelta(minutes=30)


def test_next_poll_adapts_to_the_feed_pace(engine: Engine, server: LocalServer) -> None:
    server.route(
        "/slow", feed_body(server, 10, gap=timedelta(hours=2)), content_type="application/rss+xml"
    )
    server.route(
        "/busy", feed_body(server, 10, gap=timedelta(minutes=3)), content_type="application/rss+xml"
    )
    _, slow = poll(engine, SourceConfig(name="slow", url=server.url("/slow")), NOW)
    _, busy = poll(engine, SourceConfig(name="busy", url=server.url("/busy")), NOW)
    assert slow.entry_interval_s == 7200 and busy.entry_interval_s == 180
    assert slow.next_poll_at == NOW + timedelta(hours=1)  # half the gap
    assert busy.next_poll_at == NOW + timedelta(minutes=15)  # poll_every is the floor


def test_failing_source_is_parked_and_unparked_by_command_or_by_an_edit(
    engine: Engine, server: LocalServer
) -> None:
    config = source(server, "/gone")  # 404
    for n in range(1, 4):
        _, row = poll(engine, config, NOW + timedelta(hours=n))
    assert (row.status, row.consecutive_failures) == ("parked", 3)
    later = NOW + timedelta(days=30)
    assert due_sources([config], {row.name: row}, later, force=False) == []
    assert due_sources([config], {row.name: row}, later, force=True) == [config]

    with Session(engine) as session, session.begin():
        assert unpark_source(session, "wire") == "parked"
        assert unpark_source(session, "nope") is None
    with Session(engine) as session:
        row = session.get(Source, "wire")
        assert row is not None and (row.status, row.consecutive_failures) == ("new", 0)
        assert due_sources([config], {row.name: row}, NOW, force=False) == [config]

    for n in range(3):
        _, row = poll(engine, config, later + timedelta(hours=n))
    assert row.status == "parked"
    edited = source(server, "/gone", poll_every="30m")  # any edit to the entry un-parks it
    with Session(engine) as session, session.begin():
        row = sync_sources(session, [edited])["wire"]
        assert (row.status, row.consecutive_failures, row.next_poll_at) == ("new", 0, None)
        unchanged = sync_sources(session, [edited])["wire"]
        assert unchanged.status == "new"


def test_a_new_url_drops_the_validators(engine: Engine, server: LocalServer) -> None:
    feed = StaleEtagFeed(feed_body(server, 2))
    server.route_handler("/feed", feed)
    server.route_handler("/v2/feed", feed)
    poll(engine, source(server), NOW)
    moved = source(server, "/v2/feed")
    with Session(engine) as session, session.begin():
        row = sync_sources(session, [moved])["wire"]
        assert (row.etag, row.body_hash, row.last_full_fetch_at) == (None, None, None)
    result, _ = poll(engine, moved, NOW + timedelta(minutes=1))
    assert "if-none-match" not in server.requests[-1].headers
    assert result.status == "ok"


def test_recording_many_polls_is_a_few_statements(engine: Engine) -> None:
    configs = [
        SourceConfig(name=f"feed-{n}", url=f"https://h{n % 7}.example/{n}") for n in range(300)
    ]
    with Session(engine) as session, session.begin():
        sync_sources(session, configs)
    outcomes = [
        PollOutcome(FeedPoll(source=c.name, status="not_modified", state=FeedState(etag='"e"')), c)
        for c in configs
    ]
    statements: list[str] = []
    lock = threading.Lock()

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        with lock:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with Session(engine) as session, session.begin():
            store_polls(session, outcomes, now=NOW, policy=POLICY)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    work = [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
    assert len(work) <= 3, work  # one SELECT, one batched UPDATE (not 300 of each)
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).where(Source.etag == '"e"')) == 300


def test_source_health_reports_parked_pace_and_interval(
    engine: Engine, server: LocalServer
) -> None:
    server.route(
        "/feed", feed_body(server, 10, gap=timedelta(hours=2)), content_type="application/rss+xml"
    )
    ok = SourceConfig(name="wire", url=server.url("/feed"))
    dead = SourceConfig(name="dead", url=server.url("/gone"))
    off = SourceConfig(name="off", url=server.url("/off"), enabled=False)
    poll(engine, ok, NOW)
    for n in range(3):
        poll(engine, dead, NOW + timedelta(minutes=n))
    with Session(engine) as session, session.begin():
        sync_sources(session, [ok, dead, off])
        rows = {
            r["name"]: r
            for r in source_health(
                session, [ok, dead, off], now=NOW + timedelta(minutes=5), policy=POLICY
            )
        }
    assert rows["wire"]["status"] == "ok"
    assert rows["wire"]["entries_per_day"] == 12  # one entry every two hours
    assert rows["wire"]["interval_s"] == 3600
    assert rows["wire"]["next_poll_at"] == NOW + timedelta(hours=1)
    assert rows["dead"]["status"] == "parked" and rows["dead"]["next_poll_at"] is None
    assert rows["dead"]["consecutive_failures"] == 3
    assert "HTTP 404" in rows["dead"]["last_error"]
    assert rows["off"]["status"] == "disabled" and rows["off"]["next_poll_at"] is None
