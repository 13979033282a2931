"""Alert delivery through real channels on loopback, over several runs, on SQLite and PostgreSQL.

Runs are simulated with an injected clock: each "run" stores what a pass of ingest would store
(`store_articles`) and then works through the outbox (`deliver_pending`) at that time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.alerts.notify import DeliveryOutcome, deliver_pending, deliveries_due
from newsmon.app.demo.server import AlertReceiver
from newsmon.config.models import AlertConfig, Config
from newsmon.records import ArticleDraft
from newsmon.store.archive import iter_alerts
from newsmon.store.articles import store_articles
from newsmon.store.models import Alert, AlertDelivery, AlertMessage
from tests.factories import NOW, draft, make_config, ready
from tests.localserver import LocalServer, RecordedRequest
from tests.smtpserver import LocalSMTPServer, parts

# The SMTP server here requires a password over plain SMTP: on loopback, that is the point.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

QUERY = '("Islamic State" OR Daesh) AND Anbar'
# Distinct stories (not near-duplicates of each other) that all match QUERY.
STORIES = [
    (
        "Gunmen attack army post near Rutba",
        "Gunmen believed to belong to Islamic State attacked an army post near Rutba in Anbar late "
        "on Sunday, wounding two soldiers before fleeing towards the desert, police sources said. "
        "Reinforcements sealed off the highway to Jordan for several hours while helicopters "
        "searched the valleys north of the town.",
    ),
    (
        "Police defuse roadside bombs outside Ramadi",
        "Bomb disposal teams defused three roadside bombs planted on the road between Ramadi and "
        "Hit in Anbar province on Monday. A provincial council member blamed Daesh sleeper cells "
        "and called for more checkpoints on rural roads used by farmers and lorry drivers.",
    ),
    (
        "Tribal leaders meet governor over missing shepherds",
        "Tribal leaders from western Anbar met the provincial governor to demand news of six "
        "shepherds missing since last week in the Wadi Horan area. Relatives fear they were "
        "abducted by Islamic State militants who still move through the remote valleys.",
    ),
    (
        "Curfew lifted in Qaim after security sweep",
        "Authorities in Qaim lifted a two-day curfew after a sweep of farmland along the Euphrates "
        "found no trace of the Daesh cell reported by residents. Shops reopened on Tuesday and "
        "the Anbar operations command said patrols would continue at night.",
    ),
]


def story(n: int, source: str = "wire") -> ArticleDraft:
    title, text = STORIES[n]
    return draft(source, f"https://{source}.example/story-{n}", text, title=title)


def config_with(**rule: object) -> Config:
    base = make_config()
    return Config(
        directory=base.directory,
        sources=base.sources,
        topics=base.topics,
        alerts=(AlertConfig(name="isis-anbar", query=QUERY, **rule),),  # type: ignore[arg-type]
    )


def run(engine: Engine, config: Config, *drafts: ArticleDraft, at: datetime) -> DeliveryOutcome:
    """One ingest pass at time `at`: store `drafts` (alerts + outbox), then deliver."""
    if drafts:
        with Session(engine) as session, session.begin():
            store_articles(
                session,
                ready(config, *drafts),
                notify_urls={a.name: a.notify for a in config.alerts},
                now=at,
            )
    return deliver_pending(engine, config, now=at, timeout_s=5)


def rows(engine: Engine, model: type) -> list:  # type: ignore[type-arg]
    with Session(engine) as session:
        return list(session.scalars(sa.select(model).order_by(model.id)))  # type: ignore[attr-defined]


class FlakyWebhook:
    """A JSON webhook on loopback that answers 503 while `down`, and records every request."""

    def __init__(self, server: LocalServer) -> None:
        self.down = True
        self.accepted: list[dict] = []  # type: ignore[type-arg]
        self.refused = 0
        self._lock = threading.Lock()
        server.route_handler("/hook", self._handle)
        self.url = server.url("/hook").replace("http://", "json://")

    def _handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if self.down:
                self.refused += 1
                return 503, {"Content-Type": "text/plain"}, b"down for maintenance"
            self.accepted.append(json.loads(request.body))
            return 200, {"Content-Type": "application/json"}, b"{}"


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver() as server:
        yield server


def test_a_failing_channel_is_tried_once_per_round_and_reported_once(
    engine: Engine, receiver: AlertReceiver, local_server: LocalServer
) -> None:
    """Issue 15: one unreachable webhook and 11 alerts gave a warning per alert (each waiting
    its timeout). Now: one request, one error line naming how many alerts wait; the good channel
    gets every alert; the held-up ones go out on a later run."""
    flaky = FlakyWebhook(local_server)
    good = f"json://127.0.0.1:{receiver.port}/alerts"
    config = config_with(notify=(good, flaky.url))

    first = run(engine, config, *(story(n) for n in range(4)), at=NOW)

    assert (first.delivered, first.failed) == (4, 4)
    assert flaky.refused == 1 and len(receiver.received) == 4
    assert len(first.errors) == 1, first.errors
    assert "503" in first.errors[0] and "4 alerts not delivered, retried later" in first.errors[0]
    flaky.down = False
    later = run(engine, config, at=NOW + timedelta(hours=2))
    assert (later.delivered, later.failed) == (4, 0) and len(flaky.accepted) == 4


def test_messages_not_tried_after_their_channel_failed_count_no_attempt(
    engine: Engine, receiver: AlertReceiver, local_server: LocalServer
) -> None:
    """Issue 15: once a channel failed in a round, its other messages were recorded as attempts
    though never sent. Only what was sent counts; the rest wait for the failed one's retry."""
    flaky = FlakyWebhook(local_server)
    config = config_with(notify=(f"json://127.0.0.1:{receiver.port}/alerts", flaky.url))

    def flaky_attempts() -> list[int]:
        return sorted(
            d.attempts for d in rows(engine, AlertDelivery) if d.channel_label == flaky.url
        )

    run(engine, config, *(story(n) for n in range(4)), at=NOW)
    assert flaky.refused == 1 and flaky_attempts() == [0, 0, 0, 1]
    waiting = [d for d in rows(engine, AlertDelivery) if d.channel_label == flaky.url]
    assert all("503" in (d.last_error or "") for d in waiting)
    # Not tried before the failed message's retry time, untried ones included.
    assert {d.next_attempt_at for d in waiting} == {NOW + timedelta(minutes=1)}
    # `newsmon ingest` asks this before starting Prefect: nothing to send until the retry time.
    assert not deliveries_due(engine, config, now=NOW + timedelta(seconds=30))
    assert deliveries_due(engine, config, now=NOW + timedelta(minutes=2))
    assert run(engine, config, at=NOW + timedelta(seconds=30)).failed == 0 and flaky.refused == 1

    run(engine, config, at=NOW + timedelta(minutes=2))  # still down: one request, one attempt
    assert flaky.refused == 2 and flaky_attempts() == [0, 0, 0, 2]
    flaky.down = False
    later = run(engine, config, at=NOW + timedelta(hours=1))
    assert later.delivered == 4 and flaky_attempts() == [1, 1, 1, 3]
    exported = [a["attempts"] for a in _exported_alerts(engine)]
    assert sorted(exported) == [1, 1, 1, 3]


def _exported_alerts(engine: Engine) -> list[dict]:  # type: ignore[type-arg]
    with Session(engine) as session:
        return list(iter_alerts(session))


def test_failing_channel_is_retried_until_delivered_and_the_other_gets_it_once(
    engine: Engine, receiver: AlertReceiver, local_server: LocalServer
) -> None:
    flaky = FlakyWebhook(local_server)
    good = f"json://127.0.0.1:{receiver.port}/alerts"
    config = config_with(notify=(good, flaky.url))
    runs = [NOW + timedelta(minutes=15 * n) for n in range(6)]

    first = run(engine, config, draft("wire", "https://wire.example/a1"), at=runs[0])
    assert (first.delivered, first.failed) == (1, 1)
    assert "json://127.0.0.1" in first.errors[0] and "503" in first.errors[0]
    # The same story on other outlets in later runs: no new alert, only retries.
    second = run(engine, config, draft("herald", "https://herald.example/b", minutes=5), at=runs[1])
    third = run(
        engine, config, draft("monitor", "https://monitor.example/c", minutes=9), at=runs[2]
    )
    assert (second.delivered, second.failed, third.delivered, third.failed) == (0, 1, 0, 1)
    assert flaky.refused == 3 and flaky.accepted == []

    flaky.down = False
    fourth = run(engine, config, at=runs[3])
    assert (fourth.delivered, fourth.failed) == (1, 0)
    for later in runs[4:]:
        assert run(engine, config, at=later).delivered == 0

    assert len(receiver.received) == 1  # the good channel: once, on the first run
    assert len(flaky.accepted) == 1 and flaky.refused == 3  # the flaky one: once, when back
    # Rendered when sent: the late message already knows the story is on three outlets.
    assert "on 3 outlets: wire, herald, monitor" in flaky.accepted[0]["message"]
    assert "on 3 outlets" not in receiver.received[0]["message"]
    [alert] = rows(engine, Alert)
    deliveries = {d.channel_label: d for d in rows(engine, AlertDelivery)}
    assert deliveries[good].attempts == 1 and deliveries[good].delivered_at == runs[0]
    flaky_row = deliveries[flaky.url]
    assert flaky_row.attempts == 4 and flaky_row.delivered_at == runs[3]
    assert flaky_row.last_error is None
    assert alert.delivered_at == runs[3] and alert.attempts == 4
    assert [m.kind for m in rows(engine, AlertMessage)] == ["alert", "alert"]


def test_one_alert_per_rule_per_story_across_runs_and_outlets(
    engine: Engine, receiver: AlertReceiver
) -> None:
    config = config_with(notify=(f"json://127.0.0.1:{receiver.port}/alerts",))
    run(engine, config, story(0, "wire"), at=NOW)
    run(engine, config, story(0, "herald"), story(1, "herald"), at=NOW + timedelta(minutes=15))
    run(engine, config, story(1, "wire"), story(0, "monitor"), at=NOW + timedelta(minutes=30))
    run(engine, config, story(0, "wire"), at=NOW + timedelta(minutes=45))  # already stored
    assert len(rows(engine, Alert)) == 2
    titles = sorted(m["title"] for m in receiver.received)
    assert titles == [f"[isis-anbar] {STORIES[0][0]}", f"[isis-anbar] {STORIES[1][0]}"]


def test_digest_sends_one_message_per_interval_with_every_match(
    engine: Engine, receiver: AlertReceiver
) -> None:
    config = config_with(
        notify=(f"json://127.0.0.1:{receiver.port}/alerts",),
        mode="digest",
        every=timedelta(hours=1),
    )
    assert run(engine, config, story(0), at=NOW).held == 1
    held = run(engine, config, story(1), at=NOW + timedelta(minutes=20))
    assert held.messages == 0 and held.held == 2
    assert held.holds[0].until == NOW + timedelta(hours=1)
    assert receiver.received == []

    sent = run(engine, config, at=NOW + timedelta(hours=1))
    assert (sent.messages, sent.delivered) == (1, 2)
    [digest] = receiver.received
    assert digest["title"] == "[isis-anbar] 2 new matches since 2026-11-21 12:00 UTC"
    for n in (0, 1):
        assert STORIES[n][0] in digest["message"]
        assert f"https://wire.example/story-{n}" in digest["message"]
    assert "(every 1h)" in digest["message"] and "**Anbar**" in digest["message"]

    # A match soon after a digest waits a full interval from that digest.
    run(engine, config, story(2), at=NOW + timedelta(minutes=70))
    assert run(engine, config, at=NOW + timedelta(minutes=125)).messages == 0
    assert run(engine, config, at=NOW + timedelta(minutes=130)).messages == 1
    assert len(receiver.received) == 2 and STORIES[2][0] in receiver.received[1]["message"]
    assert [(m.kind, m.alerts) for m in rows(engine, AlertMessage)] == [
        ("digest", 2),
        ("digest", 1),
    ]


def test_quiet_hours_hold_alerts_and_send_them_after_as_one_digest(
    engine: Engine, receiver: AlertReceiver
) -> None:
    config = config_with(
        notify=(f"json://127.0.0.1:{receiver.port}/alerts",),
        quiet_hours="22:00-07:00",
        timezone="Asia/Baghdad",  # UTC+3: quiet from 19:00 to 04:00 UTC
    )
    night = datetime(2026, 11, 21, 20, 0, tzinfo=NOW.tzinfo)
    first = run(engine, config, story(0), at=night)
    run(engine, config, story(1), at=night + timedelta(hours=2))
    assert receiver.received == [] and first.holds[0].reason.startswith("quiet hours 22:00-07:00")
    assert first.holds[0].until == datetime(2026, 11, 22, 4, 0, tzinfo=NOW.tzinfo)
    assert run(engine, config, at=datetime(2026, 11, 22, 3, 59, tzinfo=NOW.tzinfo)).messages == 0

    morning = run(engine, config, at=datetime(2026, 11, 22, 4, 0, tzinfo=NOW.tzinfo))
    assert (morning.messages, morning.delivered) == (1, 2)
    [digest] = receiver.received
    assert digest["title"].startswith(
        "[isis-anbar] 2 new matches since 2026-11-21 23:00 Asia/Baghdad"
    )
    assert "held during quiet hours 22:00-07:00 Asia/Baghdad" in digest["message"]
    # Outside quiet hours an alert goes out at once, on its own.
    run(engine, config, story(2), at=datetime(2026, 11, 22, 9, 0, tzinfo=NOW.tzinfo))
    assert receiver.received[-1]["title"] == f"[isis-anbar] {STORIES[2][0]}"


def test_rate_cap_folds_the_excess_and_holds_when_full(
    engine: Engine, receiver: AlertReceiver
) -> None:
    config = config_with(notify=(f"json://127.0.0.1:{receiver.port}/alerts",), max_per_hour=2)
    burst = run(engine, config, story(0), story(1), story(2), at=NOW)
    assert (burst.messages, burst.delivered) == (2, 3)
    single, folded = receiver.received
    assert single["title"] == f"[isis-anbar] {STORIES[0][0]}"
    assert folded["title"].startswith("[isis-anbar] 2 new matches")
    assert "over the cap of 2 messages per hour" in folded["message"]

    full = run(engine, config, story(3), at=NOW + timedelta(minutes=30))
    assert full.messages == 0 and full.holds[0].until == NOW + timedelta(hours=1)
    assert run(engine, config, at=NOW + timedelta(hours=1)).messages == 1
    assert receiver.received[-1]["title"] == f"[isis-anbar] {STORIES[3][0]}"


def test_webhook_payload_has_every_field(engine: Engine, receiver: AlertReceiver) -> None:
    config = config_with(notify=(f"json://127.0.0.1:{receiver.port}/alerts",))
    run(
        engine,
        config,
        draft("wire", "https://wire.example/a1?id=9"),
        draft("herald", "https://herald.example/b"),
        at=NOW,
    )
    [payload] = receiver.received
    assert payload["path"] == "/alerts" and payload["type"] == "info"
    assert (
        payload["title"] == "[isis-anbar] Four Islamic State militants killed in Anbar air strike"
    )
    body = payload["message"]
    assert body.startswith(
        "**[Four Islamic State militants killed in Anbar air strike](https://wire.example/a1?id=9)**"
    )
    assert "Outlet: wire, on 2 outlets: wire, herald" in body
    assert "Published: 2026-11-21 11:00 UTC" in body
    assert "Matched: **Islamic State**, **Daesh**, **Anbar** (rule `isis-anbar`)" in body
    assert "Link: <https://wire.example/a1?id=9>" in body
    assert (
        "> Iraqi security forces said on Tuesday that they had killed four **Islamic State**"
        in body
    )


def test_email_is_html_with_every_field_and_its_password_from_the_environment(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSMON_TEST_SMTP_PASSWORD", "correct horse")
    with LocalSMTPServer(password="correct horse") as smtp:
        url = (
            "mailto://desk:${NEWSMON_TEST_SMTP_PASSWORD}@example.org"
            f"?smtp=127.0.0.1&port={smtp.port}&from=newsmon@example.org&to=analyst@example.org"
        )
        config = config_with(notify=(url,))
        outcome = run(
            engine,
            config,
            draft("wire", "https://wire.example/a1"),
            draft("herald", "https://herald.example/b"),
            at=NOW,
        )
        assert outcome.delivered == 1, outcome.errors
    assert smtp.logins == [("desk", "correct horse")]
    assert smtp.envelopes == [("newsmon@example.org", ["analyst@example.org"])]
    [message] = smtp.messages
    assert (
        message["Subject"] == "[isis-anbar] Four Islamic State militants killed in Anbar air strike"
    )
    html = parts(message)["text/html"]
    assert '<a href="https://wire.example/a1" dir="auto"><strong>Four Islamic State' in html
    assert "wire, on 2 outlets: wire, herald" in html
    assert "<b>Published:</b> 2026-11-21 11:00 UTC" in html
    assert "<mark><strong>Islamic State</strong></mark>" in html
    assert "<code>isis-anbar</code>" in html
    assert "text/plain" in parts(message)  # Apprise adds a plain-text alternative
    [delivery] = rows(engine, AlertDelivery)
    assert "correct horse" not in delivery.channel_label  # the label keeps the reference


def test_missing_secret_is_an_error_retried_later_and_never_shown(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, receiver: AlertReceiver
) -> None:
    monkeypatch.delenv("NEWSMON_TEST_HOOK", raising=False)
    url = f"json://127.0.0.1:{receiver.port}/${{NEWSMON_TEST_HOOK}}"
    config = config_with(notify=(url,))
    first = run(engine, config, draft("wire", "https://wire.example/a1"), at=NOW)
    assert (
        first.failed == 1 and "environment variable NEWSMON_TEST_HOOK is not set" in first.errors[0]
    )
    monkeypatch.setenv("NEWSMON_TEST_HOOK", "secret-path-1234")
    assert run(engine, config, at=NOW + timedelta(seconds=30)).delivered == 0  # backoff: 1 min
    assert run(engine, config, at=NOW + timedelta(minutes=1)).delivered == 1
    assert [m["path"] for m in receiver.received] == ["/secret-path-1234"]
    with Session(engine) as session:
        [alert] = list(iter_alerts(session))
    assert alert["delivered_at"] == "2026-11-21T12:01:00Z" and alert["attempts"] == 2


def test_bad_password_error_does_not_leak_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSMON_TEST_SMTP_PASSWORD", "wrong-password")
    with LocalSMTPServer(password="right-password") as smtp:
        url = (
            "mailto://desk:${NEWSMON_TEST_SMTP_PASSWORD}@example.org"
            f"?smtp=127.0.0.1&port={smtp.port}&from=newsmon@example.org&to=analyst@example.org"
        )
        outcome = run(
            engine, config_with(notify=(url,)), draft("wire", "https://wire.example/a1"), at=NOW
        )
    assert outcome.failed == 1 and smtp.messages == []
    assert "wrong-password" not in " ".join(outcome.errors)
    [delivery] = rows(engine, AlertDelivery)
    assert delivery.last_error and "wrong-password" not in delivery.last_error


def test_backfill_records_alerts_without_messages(engine: Engine, receiver: AlertReceiver) -> None:
    config = config_with(notify=(f"json://127.0.0.1:{receiver.port}/alerts",))
    with Session(engine) as session, session.begin():
        store_articles(
            session,
            ready(config, story(0)),
            notify_urls={"isis-anbar": config.alerts[0].notify},
            deliver_alerts=False,
            now=NOW,
        )
    assert run(engine, config, at=NOW).delivered == 0
    assert receiver.received == [] and len(rows(engine, Alert)) == 1


def test_a_url_removed_from_the_rule_is_no_longer_sent_to(
    engine: Engine, receiver: AlertReceiver
) -> None:
    kept = f"json://127.0.0.1:{receiver.port}/kept"
    removed = "json://127.0.0.1:9/removed"  # nothing listens on the discard port
    run(engine, config_with(notify=(kept, removed)), story(0), at=NOW)
    later = run(engine, config_with(notify=(kept,)), story(1), at=NOW + timedelta(hours=2))
    assert (later.delivered, later.failed, later.errors) == (1, 0, [])
    attempts = {d.channel_label: d.attempts for d in rows(engine, AlertDelivery)}
    assert attempts == {kept: 1, removed: 1}  # only the first run's attempt
    assert [m["path"] for m in receiver.received] == ["/kept", "/kept"]
