"""newsmon's extraction against plain trafilatura on the extraction dev set, side by side.

For each of the 500 pages with human gold text in ../shared/corpora/extraction (or
$NEWSMON_CORPORA/extraction), in one run and one process, page by page in turn:

- newsmon: `extract_page(html, url)`, with nothing known from a feed (a refused page counts as
  empty);
- newsmon+feed: the same, as ingest calls it when the feed entry gives the publication date (RSS
  pubDate, Atom updated: nearly every entry): the page is not searched for a date. The dev set has
  no feeds, so a fixed date stands in; the text does not depend on it;
- plain trafilatura: `trafilatura.extract(html, favor_precision=True, include_comments=False)`.

Prints F1, precision and recall (the corpus's own scorer: 4-token shingles, score.py), overall and
per part, the pages newsmon refuses that have gold text, and median/p90 ms per page of both.

    .venv/bin/python benchmarks/extraction.py [--limit N] [--source l3s|wcxb] [--worst N]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import ROOT, load_module

TRAFILATURA_BASELINE: dict[str, Any] = {"favor_precision": True, "include_comments": False}


def corpus_folder() -> Path:
    configured = os.environ.get("NEWSMON_CORPORA")
    base = Path(configured) if configured else ROOT.parent / "shared" / "corpora"
    folder = base / "extraction"
    if not (folder / "score.py").is_file():
        sys.exit(f"extraction corpus not found at {folder} (set NEWSMON_CORPORA)")
    return folder


def page_urls(folder: Path) -> dict[str, str]:
    with (folder / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        return {row["id"]: row["url"] for row in csv.DictReader(handle, delimiter="\t")}


FEED_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def newsmon_text(
    html: str, url: str | None, feed_date: datetime | None = None
) -> tuple[str, str | None]:
    """(text, refusal reason or None)."""
    from newsmon.extract.page import ExtractionError, extract_page

    try:
        return extract_page(html, url, published_at=feed_date).text, None
    except ExtractionError as err:
        return "", str(err)


def trafilatura_text(html: str) -> str:
    """Plain trafilatura as it ships: without the fast selectors newsmon puts in its lists."""
    import trafilatura

    from newsmon.extract.selectors import trafilatura_own_selectors

    with trafilatura_own_selectors():
        return trafilatura.extract(html, **TRAFILATURA_BASELINE) or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N pages (quick check)")
    parser.add_argument("--source", choices=["l3s", "wcxb"], help="one part of the set only")
    parser.add_argument("--worst", type=int, default=0, help="list the N pages newsmon loses most")
    args = parser.parse_args()

    folder = corpus_folder()
    # The corpus's own score.py, so the metric is exactly the one its README documents.
    scorer: Any = load_module(folder / "score.py", "extraction_score")
    html_paths, truth = scorer.load_corpus(folder, args.source)
    ids = list(truth)[: args.limit] if args.limit else list(truth)
    urls = page_urls(folder)
    warnings.simplefilter("ignore", FutureWarning)  # lxml truth-testing, inside trafilatura

    # Warm both up (imports, language model) so the first page is not charged for them.
    newsmon_text(html_paths[ids[0]].read_text(encoding="utf-8"), None)
    trafilatura_text("<html><body><p>warm up</p></body></html>")

    predictions: dict[str, dict[str, str]] = {"newsmon": {}, "newsmon+feed": {}, "trafilatura": {}}
    times: dict[str, list[float]] = {name: [] for name in predictions}
    refused: dict[str, str] = {}
    for index, key in enumerate(ids, 1):
        html = html_paths[key].read_text(encoding="utf-8")
        start = time.perf_counter()
        text, reason = newsmon_text(html, urls.get(key) or None)
        times["newsmon"].append(time.perf_counter() - start)
        predictions["newsmon"][key] = text
        if reason is not None and truth[key].strip():
            refused[key] = reason
        start = time.perf_counter()
        predictions["newsmon+feed"][key] = newsmon_text(html, urls.get(key) or None, FEED_DATE)[0]
        times["newsmon+feed"].append(time.perf_counter() - start)
        start = time.perf_counter()
        predictions["trafilatura"][key] = trafilatura_text(html)
        times["trafilatura"].append(time.perf_counter() - start)
        if index % 100 == 0:
            print(f"  .. {index}/{len(ids)}", file=sys.stderr)

    gold = {key: truth[key] for key in ids}
    figures: dict[str, Any] = {"pages": len(ids), "refused_with_gold": len(refused)}
    print(f"{len(ids)} pages; newsmon refused {len(refused)} with non-empty gold text")
    print(
        f"{'':12} {'F1':>6} {'P':>6} {'R':>6} {'l3s F1':>7} {'wcxb F1':>8} {'med ms':>7} {'p90 ms':>7}"
    )
    for name, preds in predictions.items():
        metrics = scorer.evaluate(gold, preds, bootstrap=0)
        parts = {}
        for part in ("l3s", "wcxb"):
            rows = [metrics["pages"][k][0] for k in ids if k.startswith(part + "-")]
            parts[part] = scorer.aggregate(rows)["f1"] if rows else float("nan")
        ms = sorted(t * 1000 for t in times[name])
        median, p90 = statistics.median(ms), scorer.pct(ms, 0.9)
        print(
            f"{name:12} {metrics['f1']:6.3f} {metrics['precision']:6.3f} {metrics['recall']:6.3f}"
            f" {parts['l3s']:7.3f} {parts['wcxb']:8.3f} {median:7.1f} {p90:7.1f}"
        )
        figures[name] = {
            "f1": round(metrics["f1"], 4),
            "precision": round(metrics["precision"], 4),
            "recall": round(metrics["recall"], 4),
            "l3s_f1": round(parts["l3s"], 4),
            "wcxb_f1": round(parts["wcxb"], 4),
            "ms_median": round(median, 2),
            "ms_p90": round(p90, 2),
        }
    for name, label in (("newsmon", "ms_median_ratio"), ("newsmon+feed", "ms_median_ratio_feed")):
        figures[label] = round(figures[name]["ms_median"] / figures["trafilatura"]["ms_median"], 3)
        print(f"{name}/trafilatura median time per page: {figures[label]:.2f}")
    for key, reason in list(refused.items())[:20]:
        print(f"  refused {key}: {reason}")
    if args.worst:
        ours = scorer.evaluate(gold, predictions["newsmon"], bootstrap=0)["pages"]
        theirs = scorer.evaluate(gold, predictions["trafilatura"], bootstrap=0)["pages"]

        def f1(row: tuple[float, float, float]) -> float:
            p, r = scorer.page_precision(*row), scorer.page_recall(*row)
            return 2 * p * r / (p + r) if p + r else 0.0

        loss = sorted(ids, key=lambda k: f1(ours[k][0]) - f1(theirs[k][0]))[: args.worst]
        print("pages where newsmon loses most against trafilatura (F1 newsmon / trafilatura):")
        for key in loss:
            print(f"  {key:<24} {f1(ours[key][0]):.3f} / {f1(theirs[key][0]):.3f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
