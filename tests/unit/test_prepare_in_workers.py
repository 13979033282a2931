"""Articles are prepared for the store in the extraction workers (`PrepareForStore` as the pool's
`then` step): the same ReadyArticle as preparing in the caller's process, the step sent to each
worker once a batch, and a step that fails costs its page only."""

from __future__ import annotations

import os
import pickle
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newsmon.extract.pool import ExtractionAborted, Job, PageExtractor, ThenStepError
from newsmon.records import Extracted, FeedEntry, Page, PageFailure
from newsmon.rules.prepare import (
    PrepareForStore,
    ReadyArticle,
    Rules,
    RulesSource,
    make_draft,
    prepare_articles,
)
from tests.factories import WIRE_TEXT, make_config

FETCHED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PICKLES_FILE = "then-pickled.txt"


def pages_of(texts: list[str], source: str = "wire") -> list[Page]:
    return [
        Page(
            entry=FeedEntry(source=source, url=f"https://wire.example/{i}", title=f"Feed {i}"),
            final_url=f"https://wire.example/{i}?utm_source=rss",
            status=200,
            html=text,
            fetched_at=FETCHED,
        )
        for i, text in enumerate(texts)
    ]


def as_article(job: Job) -> Extracted | str:
    """Runs in a worker: the page's HTML is the article's text (no parsing needed here)."""
    html = job[0]
    if html == "EMPTY":
        return "no text"
    return Extracted(title="Anbar", text=html, language="en", canonical_url=None)


class Where:
    """A `then` step saying which process ran it and what it was given; counts its pickling
    (in the caller's process, into a file beside the test)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def __getstate__(self) -> str:
        with open(os.path.join(self.directory, PICKLES_FILE), "a") as log:
            log.write("x")
        return self.directory

    def __setstate__(self, directory: str) -> None:
        self.directory = directory

    def __call__(self, page: Page, extracted: Extracted) -> tuple[int, str, str, int]:
        if extracted.text == "RAISE":
            raise ValueError("a step that fails")
        return os.getpid(), page.final_url, extracted.text, len(page.html)


def test_the_step_runs_in_the_workers_sent_once_a_batch_to_each(tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(12)]
    then = Where(str(tmp_path))
    with PageExtractor(workers=2, extract_fn=as_article) as extractor:
        results = extractor.extract_then(pages_of(texts), None, then)
        pids = extractor.pids()
    ran = [r for _p, r in results]
    assert [r[1:] for r in ran if isinstance(r, tuple)] == [
        (f"https://wire.example/{i}?utm_source=rss", f"text {i}", 0) for i in range(12)
    ]  # in order, each page without its HTML (already extracted: never sent twice)
    assert {r[0] for r in ran if isinstance(r, tuple)} <= set(pids)
    assert os.getpid() not in {r[0] for r in ran if isinstance(r, tuple)}
    # Once per worker that ran it, not once per page (12 pages, 1 or 2 workers).
    workers_used = {r[0] for r in ran if isinstance(r, tuple)}
    assert len((tmp_path / PICKLES_FILE).read_text()) == len(workers_used)


def test_a_failing_step_fails_the_batch_and_plain_extract_skips_it(tmp_path: Path) -> None:
    """An error in the step is the step's (a bug, a config it cannot use), not a page's: the batch
    fails, as it did when the store prepared the articles, so no page's attempts are spent."""
    pages = pages_of(["fine", "RAISE", "EMPTY", "fine too"])
    with PageExtractor(workers=1, extract_fn=as_article) as extractor:
        with pytest.raises(ThenStepError) as raised:
            extractor.extract_then(pages, None, Where(str(tmp_path)))
        # The same worker, next batch without a step: extraction's own result again.
        plain = extractor.extract(pages)
    assert str(raised.value) == (
        "preparing 1 of 4 extracted pages failed, first https://wire.example/1?utm_source=rss:"
        " ValueError: a step that fails"
    )
    assert [type(r) for _p, r in plain] == [Extracted, Extracted, PageFailure, Extracted]
    assert isinstance(plain[2][1], PageFailure) and plain[2][1].error == "no text"


def slow_article(job: Job) -> Extracted | str:
    """Runs in a worker: a page that takes its time (the interrupt test's running batch)."""
    if job[0] == "SLOW":
        threading.Event().wait(60)
    return Extracted(title="t", text=job[0], language="en")


def test_an_aborted_run_stops_its_batches_now_and_later_not_others(tmp_path: Path) -> None:
    """Ctrl-C reaches the flow's thread, not the task threads extracting: `abort` stops the
    batch running there (its workers stopped) and any later batch of the same run's step."""
    interrupted, other = Where(str(tmp_path)), Where(str(tmp_path))
    outcome: list[BaseException | None] = []
    with PageExtractor(workers=1, page_timeout_s=120, extract_fn=slow_article) as extractor:

        def run() -> None:
            try:
                extractor.extract_then(pages_of(["SLOW", "next"]), None, interrupted)
                outcome.append(None)
            except BaseException as err:
                outcome.append(err)

        thread = threading.Thread(target=run)
        thread.start()
        while not extractor.pids():  # the batch has started its worker
            thread.join(0.05)
        extractor.abort(interrupted)
        thread.join(30)  # the bound of a failure; an abort is seen within 0.2 s
        assert not thread.is_alive() and isinstance(outcome[0], ExtractionAborted)
        with pytest.raises(ExtractionAborted):
            extractor.extract_then(pages_of(["fine"]), None, interrupted)
        done = extractor.extract_then(pages_of(["fine"]), None, other)
    assert [r[2] for _p, r in done if isinstance(r, tuple)] == ["fine"]


def test_prepared_in_a_worker_is_what_the_store_got_before() -> None:
    """The same ReadyArticle, field by field, as make_draft + prepare_articles in this process."""
    config = make_config()
    texts = [
        WIRE_TEXT,
        "Daesh fighters attacked a checkpoint in Anbar. " * 8,
        "قصف في الأنبار " * 10,
    ]
    pages = pages_of(texts)
    with PageExtractor(workers=2, extract_fn=as_article) as extractor:
        results = extractor.extract_then(pages, None, PrepareForStore(RulesSource.of(config)))
    here = prepare_articles(
        [
            make_draft(p, Extracted(title="Anbar", text=t, language="en"))
            for p, t in zip(pages, texts, strict=True)
        ],
        Rules(config),
    )
    there = [r for _p, r in results]
    assert all(isinstance(r, ReadyArticle) for r in there)
    assert there == here
    assert any(r.alert_matches for r in there) and any(r.topics for r in there)


def test_the_step_pickles_as_its_rules_source_alone() -> None:
    prepare = PrepareForStore(RulesSource.of(make_config()))
    prepare(*pages_of(["Anbar"])[:1], Extracted(title="t", text="Daesh in Anbar", language="en"))
    again: Any = pickle.loads(pickle.dumps(prepare))
    assert again.source == prepare.source and again._rules is None
    assert len(pickle.dumps(prepare)) < 2_000  # the parsed rules stay behind
