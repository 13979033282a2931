"""Many named queries matched against one article at once (topics and alerts).

An inverted index from the words, prefixes and fields of each query's atoms to the queries they
can wake, so an article is tested only against the few rules it could match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

from newsmon.rules.matching import (
    Field,
    MatchDocument,
    Node,
    Op,
    Term,
    prefix_starts,
    walk_terms,
    word_matches,
)
from newsmon.rules.query import Query, QueryMatch


def _cover(node: Node) -> tuple[Term | Field, ...] | None:
    """Atoms one of which a document must contain for `node` to match; None if there is none."""
    if not isinstance(node, Op):
        return (node,)
    if node.name == "NOT":
        return None
    covers = [_cover(child) for child in node.children]
    known = [cover for cover in covers if cover is not None]
    if node.name == "OR":
        return tuple(chain(*known)) if len(known) == len(covers) else None

    # An AND needs all its children, so one child's cover will do: the one waking fewest documents
    # by a rough guess (a language is in half of them, a prefix in more than a word).
    def cost(atom: Term | Field) -> int:
        return 20 if isinstance(atom, Field) else 3 if atom.prefixes[atom.anchor] else 1

    return min(known, key=lambda atoms: sum(map(cost, atoms))) if known else None


_Memory = tuple[set[str], set[str], dict[str, tuple[tuple[int, ...], tuple[str, ...]]]]


class RuleSet:
    """Many named queries matched together: an inverted index picks the few worth evaluating."""

    # Words remembered with what they wake. News vocabulary is Zipfian, so once warm nearly every
    # word of an article is known; the bound keeps typos and names from growing it forever. The
    # flow process keeps a config's rule sets for its life (newsmon.rules.prepare): 100,000 words
    # are ~15 MB for topics and alerts together (measured: 200,000 random English and Arabic
    # words, 29.5 MB), and relearning them all costs less than a second.
    MAX_REMEMBERED_WORDS = 100_000

    def __init__(self, queries: Mapping[str, Query]) -> None:
        self._names, self._queries = list(queries), list(queries.values())
        self._by_word: dict[str, list[int]] = {}  # document word -> rules
        self._by_prefix: dict[str, list[int]] = {}  # query prefix -> rules
        self._by_field: dict[tuple[str, str], list[int]] = {}
        self._always: list[int] = []  # rules that can match with none of their atoms present
        for rule, query in enumerate(self._queries):
            cover = _cover(query.root)
            if cover is None:
                self._always.append(rule)
            for atom in cover or ():
                if isinstance(atom, Field):
                    self._file(rule, self._by_field, [(atom.name, atom.value)])
                elif atom.prefixes[atom.anchor]:  # a phrase needs all its words: one will do
                    self._file(rule, self._by_prefix, [atom.words[atom.anchor]])
                else:
                    self._file(rule, self._by_word, atom.surfaces[atom.anchor])
        # Every prefix of every rule, filed or not, so match_all can tell documents which they have.
        self._prefixes = frozenset(
            word
            for query in self._queries
            for term, _ in walk_terms(query.root)
            for word, prefix in zip(term.words, term.prefixes, strict=True)
            if prefix
        )
        self._by_start: dict[str, list[str]] = {}  # beginning of a document word -> prefixes
        for prefix in sorted(self._prefixes):
            for start in prefix_starts(prefix):
                self._by_start.setdefault(start, []).append(prefix)
        self._start_lengths = sorted({len(start) for start in self._by_start})
        self._forget()

    @staticmethod
    def _file(rule: int, index: dict[Any, list[int]], keys: Iterable[Any]) -> None:
        for key in keys:
            rules = index.setdefault(key, [])
            if not rules or rules[-1] != rule:
                rules.append(rule)

    def _forget(self) -> None:
        # (words seen, those waking something, word -> (rules, prefixes it matches)): one
        # attribute, replaced and never cleared, so a concurrent match_all keeps a consistent copy.
        self._memory: _Memory = (set(), set(), {})

    def _learn(self, words: Iterable[str], memory: _Memory) -> None:
        """Remember, for each word, the rules it wakes and the rule prefixes it matches."""
        seen, waking, wakes = memory
        for word in words:
            matched = tuple(
                dict.fromkeys(
                    prefix
                    for n in self._start_lengths
                    if n <= len(word)
                    for prefix in self._by_start.get(word[:n], ())
                    if word_matches(word, prefix, True)
                )
            )
            rules = [*self._by_word.get(word, ())]
            for prefix in matched:
                rules += self._by_prefix.get(prefix, ())
            if rules or matched:
                wakes[word] = (tuple(rules), matched)
                waking.add(word)
            # Last: match_all in another thread (Rules are shared) skips a seen word, so it must
            # find the word's wakes already there.
            seen.add(word)

    def __len__(self) -> int:
        return len(self._queries)

    def match_all(self, doc: MatchDocument) -> dict[str, QueryMatch]:
        """The rules that match `doc`, by name, in the order they were given."""
        if len(self._memory[0]) > self.MAX_REMEMBERED_WORDS:
            self._forget()
        memory = seen, waking, wakes = self._memory
        if new := doc.vocab.difference(seen):
            self._learn(new, memory)
        candidates, present = set(self._always), set[str]()
        for word in doc.vocab.intersection(waking):
            rules, prefixes = wakes[word]
            candidates.update(rules)
            present.update(prefixes)
        # Tell the document which of our prefixes it has, so matching need not sort its words.
        doc._cache["prefixes"] = (self._prefixes, present)
        if self._by_field:
            keys = [("source", doc.source), ("lang", doc.language_code)]
            for key in chain(keys, (("topic", topic) for topic in doc.topics)):
                candidates.update(self._by_field.get(key, ()))
        found: dict[str, QueryMatch] = {}
        for rule in sorted(candidates):
            if (match := self._queries[rule].match(doc)) is not None:
                found[self._names[rule]] = match
        return found
