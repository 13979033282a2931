"""Whether a pass of `newsmon ingest` has anything to do, read from the database before Prefect
starts (which takes ~20 s): with no source due, no page queued and no alert to send, the flow
would poll nothing and do nothing, so `ingest` says when the next poll is and stops there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.config.models import Config
from newsmon.fetch.schedule import NextDue, next_due
from newsmon.fetch.shards import parse_shard
from newsmon.settings import Settings
from newsmon.store.queue import queued_entries
from newsmon.store.sources import sync_sources


def in_scope(config: Config, shard: str | None) -> list[str]:
    """The enabled sources a pass looks at (those of `shard` only, when given)."""
    names = [source.name for source in config.sources if source.enabled]
    return parse_shard(shard).select(names) if shard else names


def schedule(engine: Engine, config: Config, *, shard: str | None, now: datetime) -> NextDue:
    """What a pass at `now` would poll, else when the next poll is; nothing written.

    The sources' rows are read as the flow's own sync would leave them (an edited entry is due at
    once and un-parked), in a transaction that is rolled back.
    """
    scope = set(in_scope(config, shard))
    sources = [source for source in config.sources if source.name in scope]
    with Session(engine) as session:
        states = sync_sources(session, sources)
        polled = [
            (s.name, states[s.name].next_poll_at)
            for s in sources
            if states[s.name].status != "parked"
        ]
        session.rollback()
    return next_due(polled, now)


def nothing_due(config: Config, due: NextDue) -> str:
    """Why a pass polls nothing, when the next poll is, and how to poll now."""
    if not any(source.enabled for source in config.sources):
        why = f"no source is enabled in {config.directory / 'sources.yaml'} (enabled: true)"
    elif due.due:  # due since the pass started
        why = f"no source was due when the pass started; {due.due[0]} is due now"
    elif due.next_at is not None:
        why = (
            f"no source was due: the next poll is at {due.next_at:%Y-%m-%d %H:%M} UTC "
            f"({due.next_source})"
        )
    else:
        why = "no source was due (parked sources: newsmon sources --unpark NAME)"
    return f"{why}; `newsmon ingest --force` polls every enabled source now"


def idle_reason(
    engine: Engine, settings: Settings, config: Config, *, shard: str | None, now: datetime
) -> str | None:
    """The line `ingest` prints instead of running a pass that would do nothing; None when a
    source is due, a page is queued (a retry, a deep queue, a run that died) or an alert is to
    be sent (a retry, a digest whose time came): then the flow runs."""
    due = schedule(engine, config, shard=shard, now=now)
    if due.due:
        return None
    with Session(engine) as session:
        queued = queued_entries(
            session,
            in_scope(config, shard),
            max_attempts=settings.max_page_attempts,
            limit=1,
        )
    if queued:
        return None
    if config.alerts:
        # Only a config with alerts can have one to send: the outbox's modules (numpy with them,
        # ~0.3 s) are imported for it alone.
        from newsmon.alerts.notify import deliveries_due

        if deliveries_due(engine, config, now=now):
            return None
    return nothing_due(config, due)
