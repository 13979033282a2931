"""Builders for records and configs used across tests (real objects, no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsmon.config.models import AlertConfig, Config, SourceConfig, TopicConfig
from newsmon.records import ArticleDraft, FeedEntry, Page
from newsmon.rules.prepare import ReadyArticle, Rules, prepare_articles

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

WIRE_TEXT = (
    "Iraqi security forces said on Tuesday that they had killed four Islamic State militants in "
    "an air strike on a hideout in the desert of western Anbar province, near the border with "
    "Syria. The Joint Operations Command said the strike followed weeks of surveillance of the "
    "cell, which it blamed for attacks on shepherds and army checkpoints around Rutba. A "
    "spokesman said weapons, explosive belts and a motorcycle were found at the site. Daesh "
    "remnants still carry out sporadic attacks in remote areas of Anbar, Salahuddin and Diyala "
    "despite the group's territorial defeat in 2017, officials say."
)
OTHER_TEXT = (
    "The Central Bank of Iraq said on Monday that it would introduce new rules for dollar "
    "auctions next month, aiming to curb currency smuggling and stabilise the dinar, which has "
    "weakened on the parallel market. Traders in Baghdad said prices of imported goods had risen "
    "by about five percent in two weeks. The bank said the measures had been agreed with the "
    "finance ministry and would be reviewed after three months."
)


def make_config(
    directory: Path | None = None, notify: tuple[str, ...] = ("json://127.0.0.1:9/hook",)
) -> Config:
    return Config(
        directory=directory or Path("config"),
        sources=(
            SourceConfig(name="wire", url="https://wire.example/rss", language="en"),
            SourceConfig(name="herald", url="https://herald.example/rss", language="en"),
            SourceConfig(name="monitor", url="https://monitor.example/atom", language="en"),
        ),
        topics=(
            TopicConfig(name="counter-terrorism", query='ISIS OR "Islamic State" OR Daesh OR داعش'),
            TopicConfig(name="economy", query="dinar OR bank* OR economy"),
        ),
        alerts=(
            AlertConfig(
                name="isis-anbar", query='("Islamic State" OR Daesh) AND Anbar', notify=notify
            ),
        ),
    )


def draft(
    source: str,
    url: str,
    text: str = WIRE_TEXT,
    *,
    title: str = "Four Islamic State militants killed in Anbar air strike",
    minutes: int = 0,
    canonical: str | None = None,
) -> ArticleDraft:
    return ArticleDraft(
        source=source,
        url=url,
        final_url=url,
        canonical_url=canonical or url,
        title=title,
        text=text,
        published_at=NOW - timedelta(hours=1),
        author=None,
        language="en",
        fetched_at=NOW + timedelta(minutes=minutes),
    )


def ready(config: Config, *drafts: ArticleDraft) -> list[ReadyArticle]:
    return prepare_articles(list(drafts), Rules(config))


def entry(source: str, url: str) -> FeedEntry:
    return FeedEntry(source=source, url=url, title="t", published_at=NOW)


def pages_of(htmls: list[str]) -> list[Page]:
    """Fetched pages with these HTMLs (one entry, distinct final URLs): an extraction batch."""
    entry = FeedEntry(source="s", url="https://example.org/a")
    now = datetime.now(UTC)
    return [
        Page(entry=entry, final_url=f"https://example.org/{i}", status=200, html=h, fetched_at=now)
        for i, h in enumerate(htmls)
    ]
