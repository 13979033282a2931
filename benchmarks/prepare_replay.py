"""CPU of the prepare step per article, another version's code against this checkout's, side by
side in one run, on the same drafts; and whether both prepared exactly the same articles.

What is timed is what `tasks/store.py::store_batch` does before the database: `make_draft` for
each page (canonical URL), then the batch's `Rules` and `prepare_articles` (fingerprint, topics,
alert matches, story features), batch after batch as one flow process would (cold caches at the
first batch), then the same drafts a second time (warm). Each version runs in a process of its
own (`--base`'s `src/newsmon` from `git archive`, this checkout's `src/newsmon`), alternately,
`--rounds` times each; the median CPU per article is reported. Every ReadyArticle (draft,
fingerprint, topics, alert matches in order, story features) must be equal between the versions.

Inputs: the articles of an archive `run.py` left (`/tmp/newsmon-bench-*`), read back as drafts
with its config and the demo's alert rules (as `store_replay.py` does); with `--corpora`, also
the real pages' gold texts of ../shared/corpora/extraction (English) and the labelled English and
Arabic items of tests/fixtures/dedup_eval, as drafts.

    .venv/bin/python benchmarks/prepare_replay.py /tmp/newsmon-bench-XXXX [--corpora]
        [--base main] [--rounds 3] [--batch 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
FETCHED = datetime(2026, 12, 1, tzinfo=UTC)


# --- the worker: runs in a process whose `newsmon` is the version measured -----------------------


def _plain(value: Any) -> Any:
    """A ReadyArticle (or part of one) as plain, comparable data, whichever version made it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(_plain(getattr(value, f.name)) for f in dataclasses.fields(value)),
        )
    if isinstance(value, dict):
        # Order matters: alerts in rule order.
        return tuple((k, _plain(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, frozenset | set):
        return tuple(sorted(_plain(v) for v in value))
    return value


def _pages(drafts: list[Any]) -> list[tuple[Any, Any]]:
    """(Page, Extracted) pairs that `make_draft` turns back into the drafts."""
    from newsmon.records import Extracted, FeedEntry, Page

    pairs = []
    for d in drafts:
        entry = FeedEntry(source=d.source, url=d.url, published_at=d.published_at)
        page = Page(
            entry=entry, final_url=d.final_url, status=200, html="", fetched_at=d.fetched_at
        )
        extracted = Extracted(
            title=d.title,
            text=d.text,
            author=d.author,
            language=d.language,
            canonical_url=d.canonical_url,
        )
        pairs.append((page, extracted))
    return pairs


def worker(inputs: Path, config_dir: Path, batch: int, out: Path) -> None:
    from newsmon.config.loading import load_config
    from newsmon.rules import prepare

    # What tasks/store.py calls per batch: a cached factory where there is one, else Rules().
    make_rules = getattr(prepare, "rules_for", prepare.Rules)
    config = load_config(config_dir)
    sets: dict[str, list[Any]] = pickle.loads(inputs.read_bytes())
    report: dict[str, Any] = {"__file__": prepare.__file__}
    for name, drafts in sets.items():
        pages = _pages(drafts)
        passes = []
        for _ in range(2):  # cold, then warm
            results = []
            started = time.process_time()
            for start in range(0, len(pages), batch):
                made = [prepare.make_draft(p, e) for p, e in pages[start : start + batch]]
                results.extend(prepare.prepare_articles(made, make_rules(config)))
            passes.append((time.process_time() - started) / len(pages) * 1000)
        report[name] = {"cold_ms": passes[0], "warm_ms": passes[1], "ready": _plain(results)}
    out.write_bytes(pickle.dumps(report))


# --- the parent: inputs, the two versions, the comparison ----------------------------------------


def _corpora_drafts() -> dict[str, list[Any]]:
    from newsmon.records import ArticleDraft

    sets: dict[str, list[Any]] = {}
    manifest = CORPORA / "extraction" / "MANIFEST.tsv"
    if manifest.is_file():
        lines = manifest.read_text(encoding="utf-8").splitlines()[1:]
        drafts = []
        for line in lines:
            page_id, source, url, title = line.split("\t")[:4]
            text = (CORPORA / "extraction" / "truth" / f"{page_id}.txt").read_text(encoding="utf-8")
            drafts.append(
                ArticleDraft(source, url, url, url, title, text, None, None, "en", FETCHED)
            )
        sets["corpora-extraction-en"] = drafts
    items = ROOT / "tests" / "fixtures" / "dedup_eval" / "items.jsonl"
    for lang in ("en", "ar"):
        drafts = []
        for line in items.read_text(encoding="utf-8").splitlines():
            raw = json.loads(line)
            if raw["lang"] != lang:
                continue
            url = f"https://{raw['source'] or 'x'}.example/{raw['id']}"
            published = datetime.fromisoformat(raw["published_at"].replace("Z", "+00:00"))
            drafts.append(
                ArticleDraft(
                    raw["source"] or "x",
                    url,
                    url,
                    url,
                    raw["title"],
                    raw["text"],
                    published,
                    None,
                    lang,
                    FETCHED,
                )
            )
        sets[f"dedup-eval-{lang}"] = drafts
    return sets


def _export(base: str, into: Path) -> Path:
    """`base`'s src/newsmon, unpacked under `into`; the folder to put on PYTHONPATH."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", base, "src/newsmon"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _run(src: Path, inputs: Path, config: Path, batch: int, out: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker", str(inputs), str(config), str(batch), str(out)]
    subprocess.run(command, check=True, env=env, cwd=src)
    report: dict[str, Any] = pickle.loads(out.read_bytes())
    if not Path(report.pop("__file__")).is_relative_to(src):
        raise RuntimeError(f"the worker did not import newsmon from {src}")
    return report


def main() -> int:
    if sys.argv[1:2] == ["--worker"]:
        inputs, config, batch, out = sys.argv[2:6]
        worker(Path(inputs), Path(config), int(batch), Path(out))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "bench", type=Path, nargs="?", help="a run.py work folder (bench.db, config/)"
    )
    parser.add_argument("--corpora", action="store_true", help="also the real pages and dedup_eval")
    parser.add_argument("--base", default="main", help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from store_replay import read_drafts, replay_config

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        sets: dict[str, list[Any]] = {}
        if args.bench is not None:
            config = replay_config(args.bench, work / "config", True)
            sets["archive"] = read_drafts(args.bench)
        else:
            config = replay_config(ROOT / "src" / "newsmon" / "app" / "demo", work / "config", True)
        if args.corpora:
            sets.update(_corpora_drafts())
        inputs = work / "inputs.pkl"
        inputs.write_bytes(pickle.dumps(sets))
        (work / "base").mkdir()
        versions = {args.base: _export(args.base, work / "base"), "this checkout": ROOT / "src"}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in versions}
        for _ in range(args.rounds):
            for name, src in versions.items():
                runs[name].append(_run(src, inputs, config, args.batch, work / "out.pkl"))
    base, new = runs[args.base][0], runs["this checkout"][0]
    same = True
    for name, drafts in sets.items():
        print(f"{name}: {len(drafts)} articles, batches of {args.batch}, CPU ms per article "
              f"(median of {args.rounds})")  # fmt: skip
        for version in versions:
            cold = statistics.median(r[name]["cold_ms"] for r in runs[version])
            warm = statistics.median(r[name]["warm_ms"] for r in runs[version])
            print(f"  {version:14} cold {cold:6.3f}   warm {warm:6.3f}")
        differ = [
            i
            for i, (a, b) in enumerate(zip(base[name]["ready"], new[name]["ready"], strict=True))
            if a != b
        ]
        same = same and not differ
        verdict = f"{len(differ)} DIFFER, first {differ[:5]}" if differ else "identical"
        print(f"  ReadyArticles: {verdict}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
