"""Hanging pages in one extraction batch: how long the batch takes, and, side by side in the same
run, how long an earlier pool implementation took (optional).

Run:  .venv/bin/python benchmarks/hostile_extraction.py [--hanging 20] [--good 5] [--timeout 2]
                                                        [--workers 2] [--before OLD_EXTRACT.py]

Each hanging page never returns (what a parser stuck in C code does); good pages return at once.
`--before` takes a copy of an older src/newsmon/extract/page.py that still held `PageExtractor`, e.g.
    git show 0d7113f:src/newsmon/extract/page.py > /tmp/old_extract.py
and times its pool on the same pages after ours. Printed: seconds per batch, pages failed, ratio.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsmon.extract.pool import Job, PageExtractor
from newsmon.records import Extracted, FeedEntry, Page


def hang_or_echo(job: Job) -> Extracted | str:
    html, url = job[:2]
    if "HANG" in html:
        threading.Event().wait()
    return Extracted(title=url, text="ok")


def pages(hanging: int, good: int) -> list[Page]:
    entry = FeedEntry(source="s", url="https://example.org/a")
    now = datetime.now(UTC)
    htmls = ["HANG"] * hanging + ["ok"] * good
    return [
        Page(entry=entry, final_url=f"https://example.org/{i}", status=200, html=h, fetched_at=now)
        for i, h in enumerate(htmls)
    ]


def timed(extractor: Any, batch: list[Page]) -> tuple[float, int]:
    started = time.monotonic()
    try:
        results = extractor.extract(batch)
    except Exception as err:  # an earlier pool could fail the whole batch
        print(f"  the batch raised {type(err).__name__}: {err}")
        return time.monotonic() - started, len(batch)
    return time.monotonic() - started, sum(not isinstance(r, Extracted) for _p, r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hanging", type=int, default=20)
    parser.add_argument("--good", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before", type=Path)
    args = parser.parse_args()
    batch = pages(args.hanging, args.good)
    before: Any = None
    if args.before:
        # Importable by name, in this process and in the worker processes (before they start).
        directory = str(args.before.resolve().parent)
        sys.path.insert(0, directory)
        os.environ["PYTHONPATH"] = os.pathsep.join([directory, os.environ.get("PYTHONPATH", "")])
        before = importlib.import_module(args.before.stem)
    with PageExtractor(args.workers, page_timeout_s=args.timeout, extract_fn=hang_or_echo) as ours:
        ours.start()  # started apart: a run keeps its workers
        after_s, after_failed = timed(ours, batch)
    print(f"after:  {after_s:.1f} s, {after_failed} pages failed")
    if before is not None:
        theirs = before.PageExtractor(
            args.workers, page_timeout_s=args.timeout, extract_fn=hang_or_echo
        )
        theirs._executor()  # started apart, as ours
        before_s, before_failed = timed(theirs, batch)
        theirs.close()
        print(f"before: {before_s:.1f} s, {before_failed} pages failed")
        print(f"ratio before/after: {before_s / after_s:.1f}")


if __name__ == "__main__":
    main()
