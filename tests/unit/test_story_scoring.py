"""The story score as `decide_story` computes it (rules written out in one body, entity weights
summed once per features) against the rules as plainly written before: the same float for every
pair of the stories evaluation set, in both orders and at several distances in time."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from newsmon.stories import assign
from newsmon.stories.assign import StoryCandidate, decide_story, similarity
from newsmon.stories.features import StoryFeatures, story_features
from newsmon.stories.gazetteer import packaged_gazetteer

STORIES = Path(__file__).resolve().parents[1] / "fixtures" / "stories_eval" / "stories.yaml"


def plain_similarity(a: StoryFeatures, b: StoryFeatures, days_apart: float) -> float:
    """The score as first written: every rule a set expression, every sum taken again."""
    located = a.places & (b.places | b.regions) or b.places & (a.places | a.regions)
    if a.places and b.places and not located:
        return 0.0
    same = a.language is None or b.language is None or a.language == b.language
    for x, y in ((a, b), (b, a)):
        names = set(y.entities) | (y.terms if same else frozenset())
        if not x.headline & names:
            return 0.0
    settings = {f"e:{p}" for p in a.places | a.regions | b.places | b.regions}
    if not same and not (a.entities.keys() & b.entities.keys()) - settings:
        return 0.0
    total = sum(a.entities.values()) + sum(b.entities.values())
    shared = sum(min(w, b.entities[k]) for k, w in a.entities.items() if k in b.entities)
    entities = 2 * shared / total if total else 0.0
    both = same and a.terms and b.terms
    terms = 2 * len(a.terms & b.terms) / (len(a.terms) + len(b.terms)) if both else 0.0
    base = (entities + terms) / 2 if same else assign.CROSS_LINGUAL_FACTOR * entities
    decay = math.exp(-max(0.0, abs(days_apart) - assign.GRACE_DAYS) / assign.DECAY_DAYS)
    return base * decay


@pytest.fixture(scope="module")
def articles() -> list[tuple[StoryFeatures, datetime]]:
    raw = yaml.safe_load(STORIES.read_text(encoding="utf-8"))
    gazetteer = packaged_gazetteer()
    return [
        (
            story_features(
                title=a["title"], text=a["text"], language=a["lang"], gazetteer=gazetteer
            ),
            datetime.fromisoformat(a["at"]),
        )
        for s in raw["stories"]
        for a in s["articles"]
    ]


def test_every_pair_scores_the_same_float(articles: list[tuple[StoryFeatures, datetime]]) -> None:
    scored = 0
    for a, _ in articles:
        for b, _ in articles:
            for days in (0.0, 0.5, -2.25, 6.0):
                assert similarity(a, b, days_apart=days) == plain_similarity(a, b, days)
                scored += similarity(a, b, days_apart=days) > 0
    assert scored > 100  # the set has linked pairs, not only zeros


def test_stored_features_read_back_carry_the_same_derived_sums(
    articles: list[tuple[StoryFeatures, datetime]],
) -> None:
    for features, _ in articles:
        again = StoryFeatures.from_json(features.to_json())
        assert again == features
        assert again.entity_weight == sum(features.entities.values())
        assert again.located == features.places | features.regions


def test_decisions_match_the_plain_scores(articles: list[tuple[StoryFeatures, datetime]]) -> None:
    for i, (features, seen) in enumerate(articles):
        candidates = [
            StoryCandidate(j, j % 7, other, when)
            for j, (other, when) in enumerate(articles)
            if j != i and abs((seen - when).total_seconds()) <= assign.WINDOW.total_seconds()
        ]
        best: dict[int, float] = {}
        for c in candidates:
            days = (seen - c.seen_at).total_seconds() / 86400
            best[c.story_id] = max(
                best.get(c.story_id, -1.0), plain_similarity(features, c.features, days)
            )
        decision = decide_story(features, seen, candidates)
        if best:
            assert decision.score == max(best.values())
