"""Evaluate story assignment on the labelled set in tests/fixtures/stories_eval.

Runs the procedure the store runs, in memory: each article in publication order finds the
earlier articles sharing one of its index keys within the window, `decide_story` picks (or
merges) its story. Prints pairwise and BCubed precision, recall and F1, cross-lingual pair
recall, follow-up recall, the hard-negative pairs merged (must be none), per-article CPU time,
and then one JSON line with the headline figures.

    .venv/bin/python benchmarks/stories_eval.py [--join 0.45] [--merge 0.6] [--errors]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from newsmon.stories import assign
from newsmon.stories.assign import StoryCandidate, decide_story
from newsmon.stories.features import StoryFeatures, story_features
from newsmon.stories.gazetteer import packaged_gazetteer

ROOT = Path(__file__).resolve().parents[1]
STORIES = ROOT / "tests" / "fixtures" / "stories_eval" / "stories.yaml"


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled article."""

    id: str
    story: str
    groups: tuple[str, ...]
    lang: str
    source: str
    at: datetime
    title: str
    text: str
    followup: bool


def load_items(path: Path = STORIES) -> list[Item]:
    """The labelled articles in publication order."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = [
        Item(
            a["id"],
            s["id"],
            tuple(s.get("groups", ())),
            a["lang"],
            a["source"],
            datetime.fromisoformat(a["at"]),
            a["title"],
            a["text"],
            bool(a.get("followup", False)),
        )
        for s in raw["stories"]
        for a in s["articles"]
    ]
    return sorted(items, key=lambda item: (item.at, item.id))


def assign_stories(
    features: Sequence[StoryFeatures],
    seen: Sequence[datetime],
    *,
    join: float = assign.JOIN_THRESHOLD,
    merge: float = assign.MERGE_THRESHOLD,
) -> list[int]:
    """Story (index of its first article) of each article, assigned online as the store does."""
    by_key: dict[int, list[int]] = defaultdict(list)
    story: list[int] = []
    for i, feats in enumerate(features):
        found: set[int] = set()
        for key in feats.index_keys():
            found.update(by_key.get(key, ()))
        candidates = [
            StoryCandidate(j, story[j], features[j], seen[j])
            for j in sorted(found)
            if abs(seen[i] - seen[j]) <= assign.WINDOW
        ]
        decision = decide_story(
            feats, seen[i], candidates, join_threshold=join, merge_threshold=merge
        )
        if decision.story_id is None:
            story.append(i)
        else:
            story.append(decision.story_id)
            for loser in decision.merge:
                story[:] = [decision.story_id if s == loser else s for s in story]
        for key in feats.index_keys():
            by_key[key].append(i)
    return story


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
    }


def bcubed(labels: Sequence[str], predicted: Sequence[int]) -> dict[str, float]:
    """BCubed precision and recall (Amigó et al. 2009): per item, averaged."""
    n = len(labels)
    p_sum = r_sum = 0.0
    for i in range(n):
        same_pred = [j for j in range(n) if predicted[j] == predicted[i]]
        same_label = [j for j in range(n) if labels[j] == labels[i]]
        both = sum(1 for j in same_pred if labels[j] == labels[i])
        p_sum += both / len(same_pred)
        r_sum += both / len(same_label)
    p, r = p_sum / n, r_sum / n
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4)}


def evaluate(
    items: Sequence[Item] | None = None,
    *,
    join: float = assign.JOIN_THRESHOLD,
    merge: float = assign.MERGE_THRESHOLD,
) -> dict[str, Any]:
    """Assign stories to the labelled set and score them."""
    items = list(items) if items is not None else load_items()
    gazetteer = packaged_gazetteer()
    started = time.process_time()
    features = [
        story_features(title=i.title, text=i.text, language=i.lang, gazetteer=gazetteer)
        for i in items
    ]
    features_cpu = time.process_time() - started
    started = time.process_time()
    predicted = assign_stories(features, [i.at for i in items], join=join, merge=merge)
    assign_cpu = time.process_time() - started
    tp = fp = fn = 0
    cross = cross_found = 0
    follow = follow_found = 0
    negatives: list[tuple[str, str]] = []
    for a, b in itertools.combinations(range(len(items)), 2):
        x, y = items[a], items[b]
        same_label, same_pred = x.story == y.story, predicted[a] == predicted[b]
        tp += same_label and same_pred
        fp += not same_label and same_pred
        fn += same_label and not same_pred
        if same_label and x.lang != y.lang:
            cross += 1
            cross_found += same_pred
        if same_label and x.followup != y.followup:
            follow += 1
            follow_found += same_pred
        if not same_label and same_pred and set(x.groups) & set(y.groups):
            negatives.append((x.id, y.id))
    stories = defaultdict(list)
    for item, story in zip(items, predicted, strict=True):
        stories[story].append(item.id)
    return {
        "items": len(items),
        "stories": len({i.story for i in items}),
        "predicted_stories": len(stories),
        "pairwise": _prf(tp, fp, fn),
        "bcubed": bcubed([i.story for i in items], predicted),
        "cross_lingual_pairs": cross,
        "cross_lingual_recall": round(cross_found / cross, 4) if cross else 1.0,
        "followup_pairs": follow,
        "followup_recall": round(follow_found / follow, 4) if follow else 1.0,
        "hard_negatives_merged": negatives,
        "cpu_ms_per_article": {
            "features": round(1000 * features_cpu / len(items), 3),
            "decision": round(1000 * assign_cpu / len(items), 3),
        },
        "predicted": {str(k): v for k, v in sorted(stories.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--join", type=float, default=assign.JOIN_THRESHOLD)
    parser.add_argument("--merge", type=float, default=None, help="default: --join")
    parser.add_argument("--errors", action="store_true", help="print the predicted stories")
    parser.add_argument("--sweep", action="store_true", help="re-score over decays and thresholds")
    args = parser.parse_args(argv)
    if args.sweep:
        chosen = assign.DECAY_DAYS
        print("decay_days join  bcubed_f1  cross_recall  followup_recall  hard_negatives_merged")
        for decay in (5.0, 7.0, 10.0):
            assign.DECAY_DAYS = decay
            for join in (0.35, 0.4, 0.45, 0.5, 0.55):
                r = evaluate(join=join, merge=join)
                print(
                    f"{decay:10.1f} {join:4.2f}  {r['bcubed']['f1']:9.4f}  "
                    f"{r['cross_lingual_recall']:12.4f}  {r['followup_recall']:15.4f}  "
                    f"{len(r['hard_negatives_merged']):21d}"
                )
        assign.DECAY_DAYS = chosen
    report = evaluate(join=args.join, merge=args.merge if args.merge is not None else args.join)
    print(
        f"{report['items']} articles, {report['stories']} labelled stories, "
        f"{report['predicted_stories']} predicted"
    )
    for name in ("pairwise", "bcubed"):
        s = report[name]
        print(f"{name:9} P {s['precision']:.4f}  R {s['recall']:.4f}  F1 {s['f1']:.4f}")
    print(
        f"cross-lingual pair recall {report['cross_lingual_recall']:.4f} "
        f"({report['cross_lingual_pairs']} pairs)"
    )
    print(
        f"follow-up pair recall     {report['followup_recall']:.4f} "
        f"({report['followup_pairs']} pairs)"
    )
    print(
        f"hard negatives merged     {len(report['hard_negatives_merged'])} "
        f"{report['hard_negatives_merged']}"
    )
    cpu = report["cpu_ms_per_article"]
    print(f"CPU per article: features {cpu['features']} ms, decision {cpu['decision']} ms")
    if args.errors:
        for story, ids in report["predicted"].items():
            print(f"  {story}: {' '.join(ids)}")
    headline = {k: report[k] for k in ("pairwise", "bcubed", "cross_lingual_recall")}
    headline["hard_negatives_merged"] = len(report["hard_negatives_merged"])
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
