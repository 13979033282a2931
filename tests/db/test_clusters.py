"""Story clusters through the store, on SQLite and PostgreSQL.

The hard cases of near-duplicate detection go through `store_articles` (band keys in the
database, candidates from SQL), not only through the in-memory evaluation; then what clusters
look like from outside: the export fields, the report listing, and alerts raised once per story.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.alerts.messages import render_alert
from newsmon.alerts.notify import alert_item
from newsmon.records import ArticleDraft
from newsmon.store.archive import iter_articles, iter_clusters
from newsmon.store.articles import StoreOutcome, store_articles
from newsmon.store.clusters import list_clusters, story_clusters
from newsmon.store.models import Alert, AlertDelivery, ArticleBand
from newsmon.store.outbox import pending_deliveries, record_delivery
from tests.factories import NOW, OTHER_TEXT, WIRE_TEXT, draft, make_config, ready

ROOT = Path(__file__).resolve().parents[2]
CONFIG = make_config()
NOTIFY = {a.name: a.notify for a in CONFIG.alerts}
TITLE = "Four Islamic State militants killed in Anbar air strike"


def store(engine: Engine, *drafts: ArticleDraft, **options: Any) -> StoreOutcome:
    with Session(engine) as session, session.begin():
        return store_articles(
            session, ready(CONFIG, *drafts), notify_urls=NOTIFY, now=NOW, **options
        )


def published(d: ArticleDraft, when: datetime) -> ArticleDraft:
    return replace(d, published_at=when)


def articles(engine: Engine) -> dict[str, dict[str, Any]]:
    """Exported articles by URL."""
    with Session(engine) as session:
        return {a["url"]: a for a in iter_articles(session)}


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# --- the labelled evaluation set, through the store ---------------------------------------------


def _evaluation() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dedup_eval_for_store", ROOT / "benchmarks" / "dedup_eval.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_store_clusters_the_evaluation_set_exactly_as_the_evaluation(engine: Engine) -> None:
    """595 labelled items (copies, republications, other write-ups of an event, templated
    bulletins, two-sentence briefs, video pages, English and Arabic) stored in runs of 100: the
    clusters are the ones benchmarks/dedup_eval.py scores (P 0.995, R 0.994)."""
    evaluation = _evaluation()
    items = evaluation.load_items()
    fingerprints = [evaluation.fingerprint(title=i.title, text=i.text) for i in items]
    expected, _ = evaluation.cluster_items(fingerprints)
    drafts = [
        ArticleDraft(
            source=item.source,
            url=f"https://{item.source}.example/{item.id}",
            final_url=f"https://{item.source}.example/{item.id}",
            canonical_url=f"https://{item.source}.example/{item.id}",
            title=item.title,
            text=item.text,
            published_at=datetime.fromisoformat(item.published_at),
            author=None,
            language=item.lang,
            fetched_at=NOW,
        )
        for item in items
    ]
    for start in range(0, len(drafts), 100):
        store(engine, *drafts[start : start + 100])
    stored = articles(engine)
    got = [stored[d.url]["cluster_id"] for d in drafts]
    # The same partition: each stored cluster is exactly one evaluated cluster and vice versa.
    pairs = set(zip(got, expected, strict=True))
    assert len(pairs) == len(set(got)) == len(set(expected))
    labels = [item.cluster for item in items]
    merged_labels: dict[int, set[str]] = defaultdict(set)
    for cluster_id, label in zip(got, labels, strict=True):
        merged_labels[cluster_id].add(label)
    # At most the evaluation's known errors (two pairs of one-sentence rocket bulletins merged).
    mixed = [labels for labels in merged_labels.values() if len(labels) > 1]
    assert len(mixed) <= 2 and all(len(labels) == 2 for labels in mixed), mixed
    same_event = [i for i, item in enumerate(items) if item.category == "same_event"]
    assert same_event
    for i in same_event:
        story_label = labels[i].removesuffix("-se")
        others = {labels[j] for j, c in enumerate(got) if c == got[i]}
        assert story_label not in others, items[i].id


# --- hard cases, one at a time ------------------------------------------------------------------


def test_very_short_pages_are_told_apart_by_their_titles(engine: Engine) -> None:
    text = "Watch the video below."
    store(
        engine,
        draft("wire", "https://wire.example/v1", text, title="Video: car bomb in Manbij market"),
        draft("wire", "https://wire.example/v2", text, title="Video: pipeline fire west of Kirkuk"),
    )
    copy = draft(
        "herald",
        "https://herald.example/v",
        "Herald TV/ Watch the video below.",
        title="Video: car bomb in Manbij market",
    )
    outcome = store(engine, copy)
    stored = articles(engine)
    first, second = stored["https://wire.example/v1"], stored["https://wire.example/v2"]
    assert first["cluster_id"] != second["cluster_id"]
    assert outcome.duplicates == 1
    assert stored["https://herald.example/v"]["duplicate_of"] == first["id"]


SAME_EVENT = (
    "Residents of western Anbar described a night of explosions as aircraft struck a hideout in "
    "the desert near Rutba, close to the border with Syria. Shepherds who graze their flocks in "
    "the area said they had been warned by soldiers to stay away from the valleys for several "
    "days. The Joint Operations Command later said the strike followed weeks of surveillance of "
    "the cell. Tribal leaders in Rutba welcomed the operation but asked for more army patrols on "
    "the highway to Jordan, where trucks have been attacked. Daesh remnants still carry out "
    "sporadic attacks in remote areas of Anbar, Salahuddin and Diyala, officials say."
)


def test_other_write_ups_of_the_same_event_are_separate_stories(engine: Engine) -> None:
    """Same places, organisations and one identical sentence as the wire story: not a copy."""
    outcome = store(
        engine,
        draft("wire", "https://wire.example/a1"),
        draft("herald", "https://herald.example/rutba", SAME_EVENT, title=TITLE),
    )
    assert outcome.duplicates == 0
    assert outcome.alerts == 2  # two stories, each alerted (the alert is per cluster)


def test_story_republished_days_later_joins_its_cluster_and_is_not_alerted_again(
    engine: Engine,
) -> None:
    store(engine, draft("wire", "https://wire.example/a1"))
    later = NOW + timedelta(days=4)
    republished = published(
        draft("monitor", "https://monitor.example/archive/a1", WIRE_TEXT + "\nUpdated on Sunday."),
        later,
    )
    outcome = store(engine, republished)
    assert (outcome.stored, outcome.duplicates, outcome.alerts) == (1, 1, 0)
    stored = articles(engine)
    root = stored["https://wire.example/a1"]
    assert stored["https://monitor.example/archive/a1"]["cluster_id"] == root["id"]
    with Session(engine) as session:
        [cluster] = list_clusters(session)
    assert cluster.last_seen == later and cluster.first_seen == NOW - timedelta(hours=1)
    assert count(engine, Alert) == 1


ARABIC_TITLE = "مقتل ثلاثة جنود بهجوم لداعش على نقطة للجيش في مطيبيجة"
ARABIC_TEXT = (
    "أفاد مصدر أمني، اليوم الأربعاء، بمقتل ثلاثة جنود وإصابة اثنين آخرين بهجوم شنه عناصر من"
    " تنظيم داعش على نقطة للجيش العراقي في منطقة مطيبيجة الواقعة بين محافظتي صلاح الدين وديالى.\n"
    "وقال المصدر إن المهاجمين استخدموا أسلحة قناصة وقذائف هاون، ثم انسحبوا باتجاه المناطق الوعرة"
    " قبل وصول التعزيزات العسكرية إلى المكان.\n"
    "وأضاف أن قوة من الجيش مسنودة بطيران الجيش باشرت عملية تفتيش واسعة في محيط المنطقة بحثاً عن"
    " المنفذين."
)


def test_arabic_copies_join_after_normalisation(engine: Engine) -> None:
    """Hamza, taa marbuta, alef maqsura, tatweel, harakat and joined و/ب/ل differ: same story."""
    spelling = (
        ARABIC_TEXT.replace("أ", "ا")
        .replace("إ", "ا")
        .replace("ة ", "ه ")
        .replace("مصدر", "مَصْدَر")
        .replace("الجيش", "الجـيش")
        .replace("إلى", "الي")
    )
    clitics = "بغداد - شبكة الرافدين: " + ARABIC_TEXT.replace("وقال", "قال").replace(
        "وأضاف", "أضاف"
    )
    other = (
        "قالت وزارة الكهرباء العراقية، اليوم الأربعاء، إن ساعات التجهيز تحسنت في بغداد"
        " والمحافظات الجنوبية بعد دخول وحدات توليد جديدة الخدمة، وإن الوزارة تعمل على صيانة"
        " خطوط النقل المتضررة في ديالى وصلاح الدين قبل حلول فصل الصيف."
    )
    outcome = store(
        engine,
        draft("wire", "https://wire.example/ar1", ARABIC_TEXT, title=ARABIC_TITLE),
        draft("herald", "https://herald.example/ar1", spelling, title="هجوم في مطيبيجة"),
        draft("monitor", "https://monitor.example/ar1", clitics, title=ARABIC_TITLE),
        draft("monitor", "https://monitor.example/ar2", other, title="تحسن الكهرباء"),
    )
    assert outcome.duplicates == 2
    stored = articles(engine)
    root = stored["https://wire.example/ar1"]
    assert root["cluster_size"] == 3
    assert root["cluster_outlets"] == ["wire", "herald", "monitor"]
    assert stored["https://monitor.example/ar2"]["cluster_size"] == 1


def test_copy_stored_before_the_original_heads_the_cluster(engine: Engine) -> None:
    """Out of order across runs: the earliest *stored* article is the root, and stays it."""
    copy = draft("herald", "https://herald.example/b", WIRE_TEXT + "\nFollow us on Telegram.")
    store(engine, published(copy, NOW))
    original = published(draft("wire", "https://wire.example/a1"), NOW - timedelta(hours=3))
    outcome = store(engine, original)
    assert (outcome.duplicates, outcome.alerts) == (1, 0)
    stored = articles(engine)
    head = stored["https://herald.example/b"]
    assert head["duplicate_of"] is None
    assert stored["https://wire.example/a1"]["duplicate_of"] == head["id"]
    assert head["cluster_outlets"] == ["herald", "wire"]  # by stored order, not publication
    with Session(engine) as session:
        [cluster] = list_clusters(session)
    assert cluster.first_seen == NOW - timedelta(hours=3)  # but the dates are the story's own


def test_within_a_batch_the_first_given_heads_the_cluster(engine: Engine) -> None:
    """The store keeps the caller's order: publication order is sorted once, by the caller (the
    store batch task passes a batch earliest-published first), not again here."""
    copy = published(draft("herald", "https://herald.example/b"), NOW)
    original = published(draft("wire", "https://wire.example/a1"), NOW - timedelta(hours=3))
    store(engine, copy, original)  # given in this order
    stored = articles(engine)
    assert stored["https://herald.example/b"]["duplicate_of"] is None
    assert (
        stored["https://wire.example/a1"]["duplicate_of"]
        == stored["https://herald.example/b"]["id"]
    )


def test_within_a_batch_a_near_copy_finds_an_earlier_article_by_its_band_keys(
    engine: Engine,
) -> None:
    """The batch's band keys are written after its last article: a near copy (not the same
    words, so not found by the exact hash) must still find the original stored before it in the
    same batch, and a copy of that copy joins the same cluster."""
    followed = WIRE_TEXT + "\nFollow us on Telegram for breaking news."
    shared = WIRE_TEXT + "\nShare this article with your friends."
    outcome = store(
        engine,
        draft("wire", "https://wire.example/a1"),
        draft("monitor", "https://monitor.example/followed", followed),
        draft("herald", "https://herald.example/shared", shared),
    )
    assert outcome.duplicates == 2
    stored = articles(engine)
    original = stored["https://wire.example/a1"]["id"]
    assert stored["https://monitor.example/followed"]["duplicate_of"] == original
    assert stored["https://herald.example/shared"]["duplicate_of"] == original
    assert count(engine, ArticleBand) == 40 * 3


def test_threshold_setting_decides_what_counts_as_a_copy(engine: Engine) -> None:
    edited = WIRE_TEXT.replace("weapons, explosive belts and a motorcycle", "rifles and a car")
    strict = store(
        engine,
        draft("wire", "https://wire.example/a1"),
        draft("herald", "https://herald.example/edited", edited),
        draft("monitor", "https://monitor.example/exact", WIRE_TEXT, title="Other headline"),
        near_duplicate_threshold=1.0,
    )
    # At 1.0 only an exact copy (same words) joins; the edited one starts its own story.
    assert (strict.duplicates, strict.alerts) == (1, 2)
    # At the default (0.5) a copy with a line added joins the original's story.
    followed = WIRE_TEXT + "\nFollow us on Telegram for breaking news."
    default = store(engine, draft("monitor", "https://monitor.example/followed", followed))
    assert default.duplicates == 1
    stored = articles(engine)
    original = stored["https://wire.example/a1"]["id"]
    assert stored["https://monitor.example/followed"]["duplicate_of"] == original
    assert stored["https://herald.example/edited"]["duplicate_of"] is None


# --- alerts: once per story, outlets counted when delivered ------------------------------------


def test_alert_on_the_first_copy_reports_every_outlet_when_delivered_and_never_fires_again(
    engine: Engine,
) -> None:
    first = store(engine, draft("wire", "https://wire.example/a1"))
    assert first.alerts == 1
    # Later runs: a near copy on another outlet, an exact one on a third, a republication.
    runs = [
        draft("herald", "https://herald.example/b", WIRE_TEXT + "\nRead more on our site."),
        draft("monitor", "https://monitor.example/c", WIRE_TEXT, title="Anbar strike"),
        published(
            draft("herald", "https://herald.example/later", WIRE_TEXT), NOW + timedelta(days=3)
        ),
    ]
    for later in runs:
        assert store(engine, later).alerts == 0
    with Session(engine) as session:
        [pending] = pending_deliveries(session, now=NOW)
    assert pending.cluster_sources == ("wire", "herald", "monitor")
    message = render_alert(alert_item(pending), "text")
    assert "on 3 outlets: wire, herald, monitor" in message.body
    with Session(engine) as session, session.begin():
        record_delivery(session, pending.delivery_id, ok=True, error=None, now=NOW)
    # Delivered; one more copy elsewhere, and the same articles stored again: nothing new.
    store(engine, draft("monitor", "https://monitor.example/d", WIRE_TEXT + "\nShare this."))
    store(engine, draft("wire", "https://wire.example/a1"), *runs)
    with Session(engine) as session:
        assert pending_deliveries(session, now=NOW + timedelta(days=10)) == []
    assert count(engine, Alert) == 1 and count(engine, AlertDelivery) == 1


# --- export and reports -------------------------------------------------------------------------


def test_export_carries_cluster_id_size_and_outlets(engine: Engine) -> None:
    store(
        engine,
        draft("wire", "https://wire.example/a1"),
        draft("herald", "https://herald.example/b"),
        draft("herald", "https://herald.example/c", WIRE_TEXT + "\nShare this."),
        draft("monitor", "https://monitor.example/d"),
        draft("herald", "https://herald.example/dinar", OTHER_TEXT, title="Dinar"),
    )
    stored = articles(engine)
    root = stored["https://wire.example/a1"]
    for url in ("https://wire.example/a1", "https://herald.example/b", "https://monitor.example/d"):
        record = stored[url]
        assert record["cluster_id"] == root["id"]
        assert record["cluster_size"] == 4
        assert record["cluster_outlets"] == ["wire", "herald", "monitor"]
    alone = stored["https://herald.example/dinar"]
    assert (alone["cluster_id"], alone["cluster_size"], alone["cluster_outlets"]) == (
        alone["id"],
        1,
        ["herald"],
    )


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        if not args[2].startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is not a query
            seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_export_reads_clusters_per_batch_not_per_article(engine: Engine) -> None:
    words = (WIRE_TEXT + " " + OTHER_TEXT).split()
    drafts = []
    for story in range(20):
        text = " ".join(random.Random(story).choices(words, k=80))  # 20 distinct stories
        for outlet in ("wire", "herald", "monitor"):
            drafts.append(draft(outlet, f"https://{outlet}.example/{story}", text))
    store(engine, *drafts)
    with Session(engine) as session, statements(engine) as seen:
        exported = list(iter_articles(session, batch=25))
    assert len(exported) == 60
    assert {a["cluster_size"] for a in exported} == {3}
    # Per batch of 25: articles, topics, cluster roots, cluster rows; then the empty last read.
    assert len(seen) <= 3 * 4 + 1


def test_list_clusters_for_reports(engine: Engine) -> None:
    big = [
        draft("wire", "https://wire.example/a1"),
        draft("herald", "https://herald.example/b"),
        published(draft("monitor", "https://monitor.example/c"), NOW + timedelta(days=2)),
    ]
    small = [
        draft("herald", "https://herald.example/dinar", OTHER_TEXT, title="Dinar"),
        draft("herald", "https://herald.example/dinar-2", OTHER_TEXT, title="Dinar again"),
    ]
    alone = [draft("wire", "https://wire.example/other", SAME_EVENT, title="Rutba")]
    store(engine, *big, *small, *alone)
    stored = articles(engine)
    with Session(engine) as session:
        clusters = list_clusters(session)
        assert [(c.size, c.outlets) for c in clusters] == [
            (3, ("wire", "herald", "monitor")),
            (2, ("herald",)),
        ]
        top = clusters[0]
        assert top.cluster_id == stored["https://wire.example/a1"]["id"]
        assert top.title == TITLE and top.url == "https://wire.example/a1"
        assert (top.first_seen, top.last_seen) == (
            NOW - timedelta(hours=1),
            NOW + timedelta(days=2),
        )
        assert len(list_clusters(session, min_size=1)) == 3
        assert [c.size for c in list_clusters(session, limit=1)] == [3]
        # Seen since yesterday: only the story that ran again two days later.
        assert [c.size for c in list_clusters(session, since=NOW + timedelta(days=1))] == [3]
        assert list_clusters(session, since=NOW + timedelta(days=3)) == []
        by_id = story_clusters(session, [top.cluster_id, stored["https://herald.example/b"]["id"]])
        assert list(by_id) == [top.cluster_id]  # only roots name clusters
        records = list(iter_clusters(session))
    assert [r["size"] for r in records] == [3, 2]
    assert records[0]["outlets"] == ["wire", "herald", "monitor"]
    assert records[0]["first_seen"] == "2026-11-21T11:00:00Z"
    assert records[0]["last_seen"] == "2026-11-23T12:00:00Z"
