"""Which story a new article joins: scored against earlier articles, decayed over days (pure).

The score of two articles (after Miranda et al., "Multilingual Clustering of Streaming News",
EMNLP 2018: entity and term similarities, weighted down by the time between the articles):
- entity similarity: weighted Dice over gazetteer actors and places and the numbers named, the
  same keys in every language;
- term similarity: Dice over the key terms of headline and lead, for two articles in one language;
- base: in one language (entities + terms) / 2, so the wording must agree too (one actor and
  one province are the setting of many stories); across languages 0.8 * entities, and only when
  the two share more than a place (an actor, a kind of event such as a drone strike or an
  ambush, a number);
- two articles naming places, none of them the same or one inside the other (Rutba is in
  Anbar), are different events: a templated bulletin "killed N militants in X" for another X;
- each headline must name something (an entity, a number, or in one language a term) that the
  other article's headline or lead names: a roundup or analysis whose lead recaps an event does
  not name it in its headline ("Week in review: Iraq's security in seven days");
- decay: exp(-max(0, days - GRACE_DAYS) / DECAY_DAYS), and no candidate beyond WINDOW.
An article joins the story of its best-scoring earlier article at JOIN_THRESHOLD or more; when it
scores MERGE_THRESHOLD (the same) or more against articles of several stories, those stories are
merged into the oldest (smallest id): stories are then the connected components of the links,
whatever order the articles arrive in.
Thresholds were chosen on tests/fixtures/stories_eval (benchmarks/stories_eval.py, docs/STORIES.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from newsmon.stories.features import StoryFeatures

JOIN_THRESHOLD = 0.45
# Every link counts (single linkage): the stories an article links are merged, so the partition
# does not depend on which article arrived first (two concurrent runs make the stories one run makes).
MERGE_THRESHOLD = JOIN_THRESHOLD
WINDOW = timedelta(days=7)
GRACE_DAYS = 1.0
DECAY_DAYS = 7.0
CROSS_LINGUAL_FACTOR = 0.8


class StoryCandidate(NamedTuple):
    """An earlier article that shares a key with the new one, and its story (a named tuple: the
    store builds ~100 per lookup, and a frozen dataclass took four times as long to build)."""

    article_id: int
    story_id: int
    features: StoryFeatures
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """The story to join (None: start a new one), stories to merge into it, and the best score."""

    story_id: int | None
    merge: tuple[int, ...] = ()
    score: float = 0.0


def _weighted_dice(a: StoryFeatures, b: StoryFeatures) -> float:
    total = a.entity_weight + b.entity_weight
    if not total:
        return 0.0
    weights = b.entities
    shared = sum(min(w, weights[k]) for k, w in a.entities.items() if k in weights)
    return 2 * shared / total


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def places_conflict(a: StoryFeatures, b: StoryFeatures) -> bool:
    """Both name places, and none is the same as, or lies in, one of the other's."""
    if not a.places or not b.places:
        return False
    return a.places.isdisjoint(b.located) and b.places.isdisjoint(a.located)


def _anchored(a: StoryFeatures, b: StoryFeatures, *, same_language: bool) -> bool:
    """Whether a's headline names something b names (entities, numbers; terms in one language)."""
    # Without building the union of b's names: this runs for every candidate of every lookup.
    if not a.headline.isdisjoint(b.entities):
        return True
    return same_language and not a.headline.isdisjoint(b.terms)


def _corroborated(a: StoryFeatures, b: StoryFeatures) -> bool:
    """Whether two articles share more than a place: an actor, a kind of event or a number."""
    shared = a.entities.keys() & b.entities.keys()
    return bool(shared - a.settings - b.settings)


def similarity(a: StoryFeatures, b: StoryFeatures, *, days_apart: float) -> float:
    """How likely two articles report one story, 0..1."""
    return _similarity(a, b, days_apart)


def _similarity(a: StoryFeatures, b: StoryFeatures, days_apart: float) -> float:
    # The rules of `places_conflict`, `_anchored` and `_corroborated` written out in one body:
    # this runs for every candidate of every lookup (~100 each), and the calls cost as much as
    # the set operations (the helpers say what each rule is; tests compare both).
    if a.places and b.places and a.places.isdisjoint(b.located) and b.places.isdisjoint(a.located):
        return 0.0
    same_language = a.language is None or b.language is None or a.language == b.language
    if a.headline.isdisjoint(b.entities) and (not same_language or a.headline.isdisjoint(b.terms)):
        return 0.0
    if b.headline.isdisjoint(a.entities) and (not same_language or b.headline.isdisjoint(a.terms)):
        return 0.0
    if not same_language and not _corroborated(a, b):
        return 0.0
    entities = _weighted_dice(a, b)
    terms = _dice(a.terms, b.terms) if same_language else 0.0
    base = (entities + terms) / 2 if same_language else CROSS_LINGUAL_FACTOR * entities
    return base * math.exp(-max(0.0, abs(days_apart) - GRACE_DAYS) / DECAY_DAYS)


def decide_story(
    features: StoryFeatures,
    seen_at: datetime,
    candidates: Sequence[StoryCandidate],
    *,
    join_threshold: float = JOIN_THRESHOLD,
    merge_threshold: float = MERGE_THRESHOLD,
) -> StoryDecision:
    """The story a new article joins, given the earlier articles sharing its keys."""
    best: dict[int, float] = {}
    window = WINDOW.total_seconds() / 86400
    for _, story_id, other, other_seen_at in candidates:
        days = (seen_at - other_seen_at).total_seconds() / 86400
        if abs(days) > window:
            continue
        score = _similarity(features, other, days)
        if score > best.get(story_id, -1.0):
            best[story_id] = score
    if not best:
        return StoryDecision(None)
    top_story, top = min(best.items(), key=lambda item: (-item[1], item[0]))
    if top < join_threshold:
        return StoryDecision(None, score=top)
    strong = sorted(s for s, score in best.items() if score >= merge_threshold)
    if len(strong) > 1:
        return StoryDecision(strong[0], merge=tuple(strong[1:]), score=top)
    return StoryDecision(top_story, score=top)
