"""What runs in an extraction worker process: its messages, and its life (`serve`).

The process that owns the pool (`extract.pool`) never parses HTML itself; its workers, forked from
a forkserver that imported trafilatura once (`extract.warmup`), run `serve` until told to stop.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from newsmon.parent_watch import die_with_parent
from newsmon.records import Extracted, Page

# html, URL, language hint, and what the feed entry already gives: its date and author.
Job = tuple[str, str, str | None, datetime | None, str | None]
ExtractFn = Callable[[Job], Extracted | str]
T = TypeVar("T")
# A step a caller has the workers run on each page's Extracted (the page comes without its HTML),
# beside extraction rather than in the caller's process: newsmon's flows prepare the article for
# the store there (`rules.prepare.PrepareForStore`). Picklable; sent to a worker only when it changes.
# What it returns goes back to the caller; a str reads as the reason the page failed.
Then = Callable[[Page, Extracted], T]
# A worker's message: its job, the page (without HTML) when the batch has a `then` step, and that
# step if it changed since this worker's previous message (else `...`).
Message = tuple[Job, Page | None, Any]


class ThenFailed(str):
    """What a worker sends back when the `then` step raised: the error, as text. Not a page's
    failure: such an error (a bug, a config the step cannot use) would hit every page alike."""


def extract_one(job: Job) -> Extracted | str:
    # Imported here, in the worker (preloaded by the forkserver), not by the process that owns
    # the pool: it never parses HTML itself, and lxml and the extraction modules cost it ~5 MB.
    from newsmon.extract.page import ExtractionError, extract_page

    html, url, hint, published_at, author = job
    try:
        return extract_page(html, url, language_hint=hint, published_at=published_at, author=author)
    except ExtractionError as err:
        return str(err)
    except Exception as err:  # a hostile page must not kill the worker
        return f"extraction failed: {type(err).__name__}: {err}"


def warm_up() -> None:
    # A no-op when forked from the warm forkserver (newsmon.extract.warmup); not otherwise.
    import py3langid
    import trafilatura  # noqa: F401

    py3langid.classify("warm up the language model")


def limit_memory(max_bytes: int | None) -> None:
    """Cap this process's address space: a page that needs more fails (MemoryError) alone."""
    if max_bytes is None or not sys.platform.startswith("linux"):
        return
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))


def serve(conn: Connection, extract_fn: ExtractFn, max_bytes: int | None = None) -> None:
    """A worker's life: warm up, say ready, then extract one job at a time until told to stop."""
    die_with_parent()
    limit_memory(max_bytes)
    warm_up()
    conn.send("ready")
    then: Then[object] | None = None
    while True:
        try:
            message: Message | None = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        job, page, update = message
        if update is not ...:
            then = update
        result: object = extract_fn(job)
        if then is not None and page is not None and isinstance(result, Extracted):
            try:
                result = then(page, result)
            except Exception as err:  # not the worker's end: the caller fails the batch
                result = ThenFailed(f"{type(err).__name__}: {err}")
        conn.send(result)
