"""The extraction pool hands a worker its next page before it finishes the current one, without
ever blocking on a worker's socket (a stuck worker must still be stopped at its deadline)."""

from __future__ import annotations

import hashlib
import os
import select
import threading
from unittest import mock

import pytest

from newsmon.extract.pool import Job, PageExtractor
from newsmon.records import Extracted, PageFailure
from tests.factories import pages_of


def _sockets() -> list[int]:
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                fds.append(int(name))
        except OSError:
            continue
    return fds


def next_page_waiting(job: Job) -> Extracted | str:
    """Runs in a worker: whether its next page is already in its socket while it works on this
    one (waits up to 20 s for it: without pipelining it can never come before this returns)."""
    poller = select.poll()
    for fd in _sockets():
        poller.register(fd, select.POLLIN)
    waiting = bool(poller.poll(20_000))
    return Extracted(title=job[1], text="waiting" if waiting else "not waiting")


def test_a_worker_has_its_next_page_while_it_extracts_one() -> None:
    with PageExtractor(workers=1, extract_fn=next_page_waiting) as extractor:
        results = extractor.extract(pages_of(["a", "b", "c", "d"]))
    texts = [r.text for _p, r in results if isinstance(r, Extracted)]
    # The last page has none after it; the others found theirs queued.
    assert texts[:3] == ["waiting"] * 3


def digest_or_hang(job: Job) -> Extracted | str:
    """Runs in a worker: never returns on a HANG page; otherwise the page's length and digest."""
    html, url = job[:2]
    if html.startswith("HANG"):
        threading.Event().wait()
    return Extracted(title=url, text=f"{len(html)} {hashlib.sha256(html.encode()).hexdigest()}")


def big_page(i: int) -> str:
    # 3 MB: more than a socket's buffer, so a queued page is written in parts as the worker reads.
    return f"<p>page {i} " + f"word{i} " * 400_000


def test_pages_larger_than_the_socket_buffer_arrive_whole_and_in_order() -> None:
    htmls = [big_page(i) for i in range(5)]
    with PageExtractor(workers=1, extract_fn=digest_or_hang) as extractor:
        results = extractor.extract(pages_of(htmls))
    assert [r.text for _p, r in results if isinstance(r, Extracted)] == [
        f"{len(h)} {hashlib.sha256(h.encode()).hexdigest()}" for h in htmls
    ]


@pytest.mark.timeout(120)
def test_a_stuck_worker_with_a_large_page_queued_is_still_stopped() -> None:
    # The page queued behind the stuck one does not fit the socket: writing it in one blocking
    # call would wait for ever, and the stuck page's deadline would never be enforced.
    htmls = ["HANG" + big_page(0), big_page(1), big_page(2)]
    with PageExtractor(workers=1, page_timeout_s=2, extract_fn=digest_or_hang) as extractor:
        results = extractor.extract(pages_of(htmls))
    stuck, *rest = (r for _p, r in results)
    assert isinstance(stuck, PageFailure) and "longer than 2 s" in stuck.error
    assert [r.text for r in rest if isinstance(r, Extracted)] == [
        f"{len(h)} {hashlib.sha256(h.encode()).hexdigest()}" for h in htmls[1:]
    ]


@pytest.mark.timeout(120)
def test_an_interrupted_batch_leaves_no_pages_behind_for_the_next_or_for_close() -> None:
    # Interrupted while the stuck worker's socket holds a queued page larger than its buffer:
    # a stop message sent after it would wait for ever, and a later batch would get old results.
    extractor = PageExtractor(workers=1, page_timeout_s=60, extract_fn=digest_or_hang)
    try:
        extractor.start()  # ready, so the pages are written at once
        with (
            mock.patch.object(extractor, "_wait", side_effect=RuntimeError("interrupted")),
            pytest.raises(RuntimeError),
        ):
            extractor.extract(pages_of(["HANG" + big_page(0), big_page(1)]))
        [(_page, result)] = extractor.extract(pages_of([big_page(2)]))
        assert isinstance(result, Extracted)
        assert result.text.startswith(f"{len(big_page(2))} ")
    finally:
        extractor.close()
