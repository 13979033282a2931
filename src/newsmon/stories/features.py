"""What a story is recognised by: the actors, places and numbers an article names, and its key terms.

Only the headline and the lead are read (LEAD_WORDS after the headline): that is where a news
article says what happened, and it keeps out the background paragraphs and the "earlier this
week..." recaps that unrelated stories share. Entities come from the gazetteer, so an Arabic and
an English article about one event share their keys; terms are compared within one language.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from newsmon.stories.copies import strip_dateline
from newsmon.stories.gazetteer import Gazetteer
from newsmon.textnorm import arabic_variants, tokenize

LEAD_WORDS = 60
MAX_TERMS = 40
# Entity weights: a place pins an event down more than the actor (most stories here name ISIS),
# a country hardly at all; the larger place a town lies in counts as a weaker shared place.
PLACE_WEIGHT = 3.0
PARENT_PLACE_WEIGHT = 1.0
ACTOR_WEIGHT = 1.5
EVENT_WEIGHT = 1.0
NUMBER_WEIGHT = 1.0
_NUMBER = re.compile(r"^[0-9]{1,5}$")
# Casualty counts are written as words as often as digits, in both languages ("four soldiers",
# "أربعة جنود"): the same number links a report to its translation.
_NUMBER_WORDS = {
    word: value
    for value, names in {
        3: "three ثلاثة ثلاث",
        4: "four أربعة أربع",
        5: "five خمسة خمس",
        6: "six ستة ست",
        7: "seven سبعة سبع",
        8: "eight ثمانية ثماني",
        9: "nine تسعة تسع",
        10: "ten عشرة عشر",
        11: "eleven",
        12: "twelve",
        20: "twenty عشرين عشرون",
        100: "hundred مئة مائة",
    }.items()
    for name in names.split()
    for word in tokenize(name)
}

_STOPWORDS_EN = frozenset(
    """a about after against all also an and any are as at be been before but by can could did do
    does during for from had has have he her his how if in into is it its last more most new no not
    of on or other our over said says say she since so some than that the their them then there
    these they this those through to under up was we were what when where which while who will
    with would year years day days week today yesterday monday tuesday wednesday thursday friday
    saturday sunday according told statement""".split()  # noqa: SIM905 (a word list reads better)
)
_STOPWORDS_AR = frozenset(
    tokenize(
        """في من على الى إلى عن مع أن ان إن كان كانت التي الذي الذين هذا هذه ذلك تلك بعد قبل خلال
        حيث كما وقد قد لا لم لن ما هو هي هم وفي ومن وعلى يوم اليوم امس أمس الأحد الاثنين الثلاثاء
        الأربعاء الخميس الجمعة السبت وقال قال قالت وأضاف أضاف بيان مصدر مصادر حسب وفقا أكثر عدد"""
    )
)


def entry_key(entry_id: str) -> str:
    return f"e:{entry_id}"


@dataclass(frozen=True, slots=True)
class StoryFeatures:
    """An article's story keys: weighted entities (gazetteer entries, numbers) and terms."""

    entities: dict[str, float] = field(default_factory=dict)
    terms: frozenset[str] = frozenset()
    places: frozenset[str] = frozenset()  # gazetteer places named (for the conflict rule)
    regions: frozenset[str] = frozenset()  # the larger places those lie in
    headline: frozenset[str] = frozenset()  # entity keys and terms of the headline alone
    language: str | None = None
    # Derived once here, not per comparison: `decide_story` compares an article's features with
    # ~100 candidates per lookup, each a candidate of ~100 lookups (not stored, not compared).
    entity_weight: float = field(init=False, repr=False, compare=False)  # sum of the weights
    located: frozenset[str] = field(init=False, repr=False, compare=False)  # places | regions
    settings: frozenset[str] = field(init=False, repr=False, compare=False)  # their entity keys

    def __post_init__(self) -> None:
        located = self.places | self.regions
        object.__setattr__(self, "entity_weight", sum(self.entities.values()))
        object.__setattr__(self, "located", located)
        object.__setattr__(self, "settings", frozenset(entry_key(p) for p in located))

    def index_keys(self) -> list[int]:
        """Keys a later article finds this one by: its actors and places, else its terms."""
        # What happened (an event kind) is shared by too many articles to find candidates by.
        named = [k for k, w in self.entities.items() if k.startswith("e:") and w != EVENT_WEIGHT]
        return [key_hash(k) for k in (named or sorted(self.terms)[:MAX_TERMS])]

    def to_json(self) -> dict[str, Any]:
        return {
            "e": self.entities,
            "t": sorted(self.terms),
            "p": sorted(self.places),
            "r": sorted(self.regions),
            "h": sorted(self.headline),
            "l": self.language,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StoryFeatures:
        """Features as `to_json` wrote them (read for every candidate of every lookup: kept lean)."""
        try:
            return cls(
                raw["e"],
                frozenset(raw["t"]),
                frozenset(raw["p"]),
                frozenset(raw["r"]),
                frozenset(raw["h"]),
                raw["l"],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not stored story features: {raw!r:.200}") from exc


def key_hash(key: str) -> int:
    """A signed 63-bit hash of a key (fits a BIGINT on every engine, same in every process)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1


def _stem(token: str) -> str:
    variants = arabic_variants(token)
    return min(variants, key=len) if variants else token


def story_features(
    *, title: str | None, text: str, language: str | None, gazetteer: Gazetteer
) -> StoryFeatures:
    """The features of an article's headline and lead."""
    headline = tokenize(title or "")
    # "BAGHDAD (Levant Wire) —" names where the bureau is, not where the story happened.
    lead = tokenize(strip_dateline(" ".join(text.split()[: LEAD_WORDS + 20])))[:LEAD_WORDS]
    tokens = [*headline, "\n", *lead]  # a separator no name can span
    entities: dict[str, float] = {}
    places: set[str] = set()
    regions: set[str] = set()
    covered: set[int] = set()
    in_headline: set[str] = set()
    for mention in gazetteer.find(tokens):
        covered.update(range(mention.start, mention.start + mention.length))
        entry = gazetteer.entries[mention.entry]
        if mention.start < len(headline):
            in_headline.add(entry_key(entry.id))
        if entry.kind == "place":
            places.add(entry.id)
            entities[entry_key(entry.id)] = PLACE_WEIGHT
            for parent in gazetteer.ancestors(entry.id):
                if gazetteer.entries[parent].kind == "place":
                    regions.add(parent)
                    entities.setdefault(entry_key(parent), PARENT_PLACE_WEIGHT)
        elif entry.kind == "actor":
            entities[entry_key(entry.id)] = ACTOR_WEIGHT
        elif entry.kind == "event":
            entities[entry_key(entry.id)] = EVENT_WEIGHT
        # Countries are matched (so "Iraqi" is not a key term) but not kept: nearly every article
        # here names Iraq or Syria, and two articles sharing only that are not one story.
    terms: list[str] = []
    for i, token in enumerate(tokens):
        if i in covered or token == "\n":
            continue
        if _NUMBER.match(token) or token in _NUMBER_WORDS:
            value = int(token) if token.isdigit() else _NUMBER_WORDS[token]
            # Years and small counts ("1", "2") say little about which event it is.
            if 2 < value < 1900 or value > 2100:
                entities.setdefault(f"n:{value}", NUMBER_WEIGHT)
                if i < len(headline):
                    in_headline.add(f"n:{value}")
            continue
        if len(token) < 3 or token in _STOPWORDS_EN or token in _STOPWORDS_AR:
            continue
        stem = _stem(token)
        if stem in _STOPWORDS_AR:
            continue
        terms.append(stem)
        if i < len(headline):
            in_headline.add(stem)
    return StoryFeatures(
        entities=entities,
        terms=frozenset(list(dict.fromkeys(terms))[:MAX_TERMS]),
        places=frozenset(places),
        regions=frozenset(regions - places),
        headline=frozenset(in_headline),
        language=language,
    )
