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

from newsmon.stories.features import StoryFeatures

JOIN_THRESHOLD = 0.45
# Every link counts (single linkage): the stories an article links are merged, so the partition
# does not depend on which article arrived first (two concurrent runs make the stories one run makes).
MERGE_THRESHOLD = JOIN_THRESHOLD
WINDOW = timedelta(days=7)
GRACE_DAYS = 1.0
DECAY_DAYS = 7.0
CROSS_LINGUAL_FACTOR = 0.8


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """An earlier article that shares a key with the new one, and its story."""

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


def _weighted_dice(a: dict[str, float], b: dict[str, float]) -> float:
    total = sum(a.values()) + sum(b.values())
    if not total:
        return 0.0
    shared = sum(min(w, b[k]) for k, w in a.items() if k in b)
    return 2 * shared / total


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def places_conflict(a: StoryFeatures, b: StoryFeatures) -> bool:
    """Both name places, and none is the same as, or lies in, one of the other's."""
    if not a.places or not b.places:
        return False
    return not (a.places & (b.places | b.regions) or b.places & (a.places | a.regions))


def _anchored(a: StoryFeatures, b: StoryFeatures, *, same_language: bool) -> bool:
    """Whether a's headline names something b names (entities, numbers; terms in one language)."""
    # Without building the union of b's names: this runs for every candidate of every lookup.
    if not a.headline.isdisjoint(b.entities):
        return True
    return same_language and not a.headline.isdisjoint(b.terms)


def _corroborated(a: StoryFeatures, b: StoryFeatures) -> bool:
    """Whether two articles share more than a place: an actor, a kind of event or a number."""
    settings = {f"e:{p}" for p in a.places | a.regions | b.places | b.regions}
    return bool((a.entities.keys() & b.entities.keys()) - settings)


def similarity(a: StoryFeatures, b: StoryFeatures, *, days_apart: float) -> float:
    """How likely two articles report one story, 0..1."""
    if places_conflict(a, b):
        return 0.0
    same_language = a.language is None or b.language is None or a.language == b.language
    if not (
        _anchored(a, b, same_language=same_language)
        and _anchored(b, a, same_language=same_language)
    ):
        return 0.0
    if not same_language and not _corroborated(a, b):
        return 0.0
    entities = _weighted_dice(a.entities, b.entities)
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
    for candidate in candidates:
        days = (seen_at - candidate.seen_at).total_seconds() / 86400
        if abs(days) > WINDOW.total_seconds() / 86400:
            continue
        score = similarity(features, candidate.features, days_apart=days)
        if score > best.get(candidate.story_id, -1.0):
            best[candidate.story_id] = score
    if not best:
        return StoryDecision(None)
    top_story, top = min(best.items(), key=lambda item: (-item[1], item[0]))
    if top < join_threshold:
        return StoryDecision(None, score=top)
    strong = sorted(s for s, score in best.items() if score >= merge_threshold)
    if len(strong) > 1:
        return StoryDecision(strong[0], merge=tuple(strong[1:]), score=top)
    return StoryDecision(top_story, score=top)
