"""Pages that would stall extraction: each fails alone, within its time limit, in any batch size."""

from __future__ import annotations

import os
import threading
import time

import pytest

from newsmon.extract.pool import Job, PageExtractor, precheck
from newsmon.records import Extracted, PageFailure
from tests.factories import pages_of
from tests.pages import WIRE_PARAGRAPHS, article_page


def hang_or_echo(job: Job) -> Extracted | str:
    """Runs in a worker: never returns on a HANG page; otherwise says which process it ran in."""
    html, url = job[:2]
    if "HANG" in html:
        threading.Event().wait()
    return Extracted(title=url, text=str(os.getpid()))


@pytest.mark.timeout(120)
def test_one_hanging_page_alone_with_one_worker_is_stopped() -> None:
    # Issue 12, item 1: a batch under 8 pages (or one worker) was extracted in the caller's own
    # process with no limit, so one page stalled the run for ever.
    with PageExtractor(workers=1, page_timeout_s=2, extract_fn=hang_or_echo) as extractor:
        started = time.monotonic()
        results = extractor.extract(pages_of(["HANG", "ok"]))
        elapsed = time.monotonic() - started
    first, second = results[0][1], results[1][1]
    assert isinstance(first, PageFailure) and "longer than 2 s" in first.error
    assert isinstance(second, Extracted) and second.text != str(os.getpid())  # never in-process
    assert elapsed < 60, elapsed


@pytest.mark.timeout(240)
def test_many_hanging_pages_cost_one_timeout_each_shared_by_the_workers() -> None:
    # Issue 12: 20 hanging pages with a 2 s timeout took 82 s (each re-run alone after the batch
    # deadline, with a pool restart). Now each page gets one timeout and the workers share them:
    # about 20 x 2 s / 2 workers = 20 s plus worker restarts.
    htmls = ["HANG"] * 20 + ["ok"] * 5
    with PageExtractor(workers=2, page_timeout_s=2, extract_fn=hang_or_echo) as extractor:
        extractor.start()
        started = time.monotonic()
        results = extractor.extract(pages_of(htmls))
        elapsed = time.monotonic() - started
    failed = [r for _p, r in results if isinstance(r, PageFailure)]
    assert len(failed) == 20 and all("longer than 2 s" in f.error for f in failed)
    assert sum(isinstance(r, Extracted) for _p, r in results) == 5
    assert elapsed < 60, elapsed


def test_a_page_of_a_million_siblings_is_refused_before_parsing() -> None:
    # The 5 MB page of <p> siblings that held a run at 85 % CPU and 851 MB for 14 minutes.
    bomb = "<html><body>" + "<p>x</p>" * 600_000 + "</body></html>"
    good = article_page("Title", WIRE_PARAGRAPHS)
    assert precheck(good) is None
    # Tags are counted only on a page longer than the tag limit (a shorter one cannot exceed it).
    assert precheck("<b>" * 5, max_tags=15) is None
    assert precheck("<b>" * 6, max_tags=5) == (
        "page refused before extraction: 6 tags, more than 5"
    )
    with PageExtractor(workers=1) as extractor:
        started = time.monotonic()
        results = extractor.extract(pages_of([bomb, good]))
        elapsed = time.monotonic() - started
    refused, kept = results[0][1], results[1][1]
    assert isinstance(refused, PageFailure) and "tags, more than 200,000" in refused.error
    assert isinstance(kept, Extracted) and kept.title == "Title"
    assert elapsed < 60, elapsed


def hog_or_echo(job: Job) -> Extracted | str:
    """Runs in a worker: a HOG page asks for 3 GB, as a parser building a huge tree would."""
    html, url = job[:2]
    if "HOG" in html:
        hoard = bytearray(3 * 2**30)
        return Extracted(title=url, text=str(len(hoard)))
    return Extracted(title=url, text=str(os.getpid()))


@pytest.mark.timeout(120)
def test_a_page_that_needs_too_much_memory_fails_alone() -> None:
    with PageExtractor(workers=1, max_memory_mb=1024, extract_fn=hog_or_echo) as extractor:
        results = extractor.extract(pages_of(["HOG", "ok"]))
    hog, ok = results[0][1], results[1][1]
    assert isinstance(hog, PageFailure) and "crashed its worker" in hog.error, hog
    assert isinstance(ok, Extracted)
