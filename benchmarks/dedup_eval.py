"""Evaluate near-duplicate clustering on the labelled set in tests/fixtures/dedup_eval.

Runs the procedure the store runs, in memory: fingerprint every item in publication order, take
as candidates the earlier items that share a band key or the exact hash, and let
`choose_cluster` pick the cluster. Prints pairwise precision, recall and F1 (over all pairs of
items: predicted same cluster vs labelled same cluster), per language and per category, the
estimated similarity of true pairs vs hard negatives, a threshold sweep, LSH candidate counts and
fingerprint throughput; then one JSON line with the headline figures.

    .venv/bin/python benchmarks/dedup_eval.py [--no-throughput]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsmon.stories import copies as dedup
from newsmon.stories.copies import Candidate, Fingerprint, choose_cluster, fingerprint

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ROOT / "tests" / "fixtures" / "dedup_eval" / "items.jsonl"
SWEEP = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled evaluation article."""

    id: str
    cluster: str
    lang: str
    category: str
    edits: tuple[str, ...]
    title: str
    text: str
    published_at: str
    source: str = ""  # the outlet


def load_items(path: Path = ITEMS) -> list[Item]:
    """The evaluation items in publication order."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        items.append(
            Item(
                raw["id"],
                raw["cluster"],
                raw["lang"],
                raw["category"],
                tuple(raw["edits"]),
                raw["title"],
                raw["text"],
                raw["published_at"],
                raw.get("source", ""),
            )
        )
    return sorted(items, key=lambda item: (item.published_at, item.id))


def cluster_items(
    fingerprints: Sequence[Fingerprint], *, threshold: float = dedup.NEAR_DUPLICATE_THRESHOLD
) -> tuple[list[int], list[int]]:
    """Predicted cluster (index of its earliest item) and candidate count, item by item."""
    by_band: dict[int, list[int]] = defaultdict(list)
    by_exact: dict[str, list[int]] = defaultdict(list)
    predicted: list[int] = []
    candidate_counts: list[int] = []
    for i, fp in enumerate(fingerprints):
        found: set[int] = set(by_exact.get(fp.exact_hash, ()))
        for key in fp.band_keys:
            found.update(by_band.get(key, ()))
        candidates = [
            Candidate(
                article_id=j,
                cluster_id=predicted[j],
                signature=fingerprints[j].signature,
                exact_hash=fingerprints[j].exact_hash,
            )
            for j in sorted(found)
        ]
        chosen = choose_cluster(fp, candidates, threshold=threshold)
        predicted.append(i if chosen is None else chosen)
        candidate_counts.append(len(candidates))
        by_exact[fp.exact_hash].append(i)
        for key in fp.band_keys:
            by_band[key].append(i)
    return predicted, candidate_counts


@dataclass(frozen=True, slots=True)
class Scores:
    """Pairwise confusion counts and the figures derived from them."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def _scores(same_label: np.ndarray, same_pred: np.ndarray, mask: np.ndarray) -> Scores:
    return Scores(
        tp=int(np.count_nonzero(same_label & same_pred & mask)),
        fp=int(np.count_nonzero(~same_label & same_pred & mask)),
        fn=int(np.count_nonzero(same_label & ~same_pred & mask)),
    )


def _series(item: Item) -> str:
    """Bulletin series ("en-roundup"), or the cluster itself for anything else."""
    return item.cluster.rsplit("-", 1)[0] if item.category == "bulletin" else item.cluster


def _negative_kind(a: Item, b: Item) -> str:
    """Which hard-negative group a pair of different stories belongs to."""
    if {a.cluster, b.cluster} in ({a.cluster, a.cluster + "-se"}, {b.cluster, b.cluster + "-se"}):
        return "same event, other write-up"
    if a.category == b.category == "bulletin" and _series(a) == _series(b):
        return "bulletins, same series"
    if a.category == b.category == "brief" and a.lang == b.lang:
        return "briefs, same language"
    return "unrelated"


def _quantiles(values: np.ndarray, qs: Iterable[float]) -> dict[str, float]:
    if not len(values):
        return {}
    return {f"p{round(q * 100):g}": round(float(np.quantile(values, q)), 3) for q in qs}


def evaluate(items: Sequence[Item] | None = None, *, sweep: Sequence[float] = ()) -> dict[str, Any]:
    """Cluster the evaluation set and score it; `sweep` re-scores at other thresholds."""
    items = list(items) if items is not None else load_items()
    fingerprints = [fingerprint(title=item.title, text=item.text) for item in items]
    predicted, candidate_counts = cluster_items(fingerprints)

    n = len(items)
    ia, ib = np.triu_indices(n, 1)
    label_codes = {c: k for k, c in enumerate(sorted({item.cluster for item in items}))}
    labels = np.array([label_codes[item.cluster] for item in items])
    pred = np.array(predicted)
    same_label = labels[ia] == labels[ib]
    same_pred = pred[ia] == pred[ib]
    everything = np.ones_like(same_label)

    report: dict[str, Any] = {
        "items": n,
        "clusters": len(label_codes),
        "overall": _scores(same_label, same_pred, everything).as_dict(),
        "by_language": {},
        "by_category": {},
        "by_edit": {},
    }
    langs = np.array([item.lang for item in items])
    for lang in sorted(set(langs)):
        mask = (langs[ia] == lang) & (langs[ib] == lang)
        report["by_language"][lang] = _scores(same_label, same_pred, mask).as_dict()
    cats = np.array([item.category for item in items])
    for cat in sorted(set(cats)):
        mask = (cats[ia] == cat) | (cats[ib] == cat)
        report["by_category"][cat] = _scores(same_label, same_pred, mask).as_dict()
    # Recall per edit kind: pairs of a copy carrying that edit with the rest of its story.
    edit_sets = [set(item.edits) for item in items]
    for edit in sorted(set().union(*edit_sets)):
        has = np.array([edit in e for e in edit_sets])
        mask = same_label & (has[ia] | has[ib])
        report["by_edit"][edit] = _scores(same_label, same_pred, mask).as_dict()

    signatures = np.stack([np.frombuffer(fp.signature, dtype="<u4") for fp in fingerprints])
    sims = np.empty(len(ia))
    start = 0
    for i in range(n - 1):
        row = (signatures[i + 1 :] == signatures[i]).mean(axis=1)
        sims[start : start + len(row)] = row
        start += len(row)
    groups: dict[str, list[int]] = defaultdict(list)
    for k, (a, b) in enumerate(zip(ia.tolist(), ib.tolist(), strict=True)):
        if same_label[k]:
            groups["true pairs: " + _group(items[a])].append(k)
        else:
            groups["negatives: " + _negative_kind(items[a], items[b])].append(k)
    threshold = dedup.NEAR_DUPLICATE_THRESHOLD
    report["similarity"] = {
        name: {
            "pairs": len(ks),
            "at_or_above_threshold": int(np.sum(sims[ks] >= threshold)),
            **_quantiles(sims[ks], (0.0, 0.01, 0.05, 0.25, 0.5, 0.95, 0.99, 1.0)),
        }
        for name, ks in sorted(groups.items())
    }
    report["lsh"] = _lsh_report(fingerprints, ia, ib, sims, same_label, groups, candidate_counts)
    report["errors"] = _errors(items, predicted)
    report["sweep"] = {}
    for t in sweep:
        swept = np.array(cluster_items(fingerprints, threshold=t)[0])
        same_swept = swept[ia] == swept[ib]
        report["sweep"][f"{t:.2f}"] = _scores(same_label, same_swept, everything).as_dict()
    return report


def _lsh_report(
    fingerprints: Sequence[Fingerprint],
    ia: np.ndarray,
    ib: np.ndarray,
    sims: np.ndarray,
    same_label: np.ndarray,
    groups: dict[str, list[int]],
    candidate_counts: Sequence[int],
) -> dict[str, Any]:
    """Whether the band keys find the true pairs, and how many other articles they bring."""
    bands, rows = dedup.BANDS, dedup.ROWS
    keysets = [set(fp.band_keys) for fp in fingerprints]

    def share(k: int) -> bool:
        return bool(keysets[ia[k]] & keysets[ib[k]])

    true_above = np.flatnonzero(same_label & (sims >= dedup.NEAR_DUPLICATE_THRESHOLD)).tolist()
    unrelated = groups["negatives: unrelated"]
    # Expected candidates per lookup from unrelated articles, scaled to a 1M-article archive.
    p_unrelated = 1 - (1 - sims[unrelated] ** rows) ** bands
    return {
        "bands": bands,
        "rows": rows,
        "true_pairs_at_threshold": len(true_above),
        "sharing_a_band": sum(1 for k in true_above if share(k)),
        "unrelated_pairs": len(unrelated),
        "unrelated_sharing_a_band": sum(1 for k in unrelated if share(k)),
        "unrelated_candidates_per_1m_archive": round(float(p_unrelated.mean()) * 1e6, 1),
        "candidates_per_item_mean": round(float(np.mean(candidate_counts)), 2),
        "candidates_per_item_max": int(max(candidate_counts)),
        "candidate_probability": {
            f"{s:.1f}": round(1 - (1 - s**rows) ** bands, 4) for s in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
        },
    }


def _group(item: Item) -> str:
    return {"copy": "story", "exact": "story", "republished": "story"}.get(
        item.category, item.category
    )


def _errors(items: Sequence[Item], predicted: Sequence[int]) -> dict[str, list[str]]:
    """Items put in a cluster that mixes labels (merged) and labels split over clusters."""
    by_pred: dict[int, set[str]] = defaultdict(set)
    by_label: dict[str, set[int]] = defaultdict(set)
    for item, p in zip(items, predicted, strict=True):
        by_pred[p].add(item.cluster)
        by_label[item.cluster].add(p)
    merged = sorted(" + ".join(sorted(labels)) for labels in by_pred.values() if len(labels) > 1)
    split = []
    for label, preds in sorted(by_label.items()):
        if len(preds) > 1:
            parts = [
                ",".join(
                    i.id.split("/")[-1]
                    for i, p in zip(items, predicted, strict=True)
                    if i.cluster == label and p == q
                )
                for q in sorted(preds)
            ]
            split.append(f"{label}: " + " | ".join(parts))
    return {"merged": merged, "split": split}


def throughput(items: Sequence[Item], *, words: int = 600, count: int = 500) -> dict[str, float]:
    """Fingerprints per second for texts of about `words` words (built from the eval stories)."""
    stories = [item.text for item in items if item.category == "story"]
    rng = np.random.default_rng(7)
    texts = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            parts.append(stories[int(rng.integers(len(stories)))])
        texts.append("\n".join(parts))
    dedup._word_hash.cache_clear()
    rates = []
    for _ in range(4):  # the first pass starts with an empty word-hash cache, as a new worker does
        start = time.perf_counter()
        for text in texts:
            fingerprint(title=None, text=text)
        rates.append(count / (time.perf_counter() - start))
    return {
        "words_per_text": round(sum(len(t.split()) for t in texts) / count),
        "per_second_first_pass": round(rates[0]),
        "per_second_best_warm": round(max(rates[1:])),
    }


def _table(title: str, rows: dict[str, dict[str, Any]], columns: Sequence[str]) -> str:
    # Imported here: tests load this file by path, without benchmarks/ on sys.path.
    from report import format_table

    cells = [[name, *(str(row.get(c, "")) for c in columns)] for name, row in rows.items()]
    return format_table([title, *columns], cells, first_left=True, min_width=8)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-throughput", action="store_true")
    args = parser.parse_args(argv)

    items = load_items()
    report = evaluate(items, sweep=SWEEP)
    score_cols = ("precision", "recall", "f1", "tp", "fp", "fn")
    print(
        f"items {report['items']}, labelled clusters {report['clusters']}; "
        f"threshold {dedup.NEAR_DUPLICATE_THRESHOLD}, {dedup.NUM_PERM} permutations = "
        f"{dedup.BANDS} bands x {dedup.ROWS} rows, {dedup.SHINGLE_WORDS}-word shingles\n"
    )
    print(_table("pairs", {"all": report["overall"], **report["by_language"]}, score_cols))
    print()
    print(_table("pairs touching category", report["by_category"], score_cols))
    print()
    print(_table("true pairs with a copy edited by", report["by_edit"], ("recall", "tp", "fn")))
    print()
    sim_cols = (
        "pairs",
        "p0",
        "p1",
        "p5",
        "p25",
        "p50",
        "p95",
        "p99",
        "p100",
        "at_or_above_threshold",
    )
    print(_table("estimated similarity", report["similarity"], sim_cols))
    print()
    print(_table("threshold sweep", report["sweep"], score_cols))
    print()
    lsh = report["lsh"]
    print(
        f"LSH: {lsh['sharing_a_band']}/{lsh['true_pairs_at_threshold']} true pairs at or above"
        f" the threshold share a band key; {lsh['unrelated_sharing_a_band']}/"
        f"{lsh['unrelated_pairs']} unrelated pairs do (expected"
        f" {lsh['unrelated_candidates_per_1m_archive']} unrelated candidates per lookup in a"
        f" 1M-article archive); candidates per item here: mean"
        f" {lsh['candidates_per_item_mean']}, max {lsh['candidates_per_item_max']}"
    )
    print(
        "P(candidate | Jaccard): "
        + ", ".join(f"{s}: {p}" for s, p in lsh["candidate_probability"].items())
    )
    for kind in ("merged", "split"):
        for entry in report["errors"][kind]:
            print(f"{kind}: {entry}")
    if not args.no_throughput:
        report["throughput"] = throughput(items)
        t = report["throughput"]
        print(
            f"\nfingerprint throughput ({t['words_per_text']}-word texts, one core): "
            f"{t['per_second_first_pass']}/s first pass, {t['per_second_best_warm']}/s best warm"
        )
    summary = {
        "threshold": dedup.NEAR_DUPLICATE_THRESHOLD,
        "num_perm": dedup.NUM_PERM,
        "bands": dedup.BANDS,
        "rows": dedup.ROWS,
        **{k: report["overall"][k] for k in ("precision", "recall", "f1")},
        "by_language": {
            k: {m: v[m] for m in ("precision", "recall", "f1")}
            for k, v in report["by_language"].items()
        },
        "by_category": {
            k: {m: v[m] for m in ("precision", "recall", "f1")}
            for k, v in report["by_category"].items()
        },
        "throughput_per_second": report.get("throughput", {}).get("per_second_first_pass"),
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
