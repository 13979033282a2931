"""Matching a parsed query against an article: the tokenised document, and the query's atoms.

A query parses (newsmon.rules.query) into a tree of `Node`s: `Term`s (a word, `word*`, a phrase),
`Field`s (`topic:`, `source:`, `lang:`) and `Op`s (NOT, AND, OR). `compile_node` turns the tree
into the test a `Query` runs on a `MatchDocument`; `newsmon.rules.ruleset` indexes the atoms.

Words compare after `textnorm.normalize`. A query word also matches a document word that
`textnorm.arabic_variants` strips to it ("داعش" matches "لداعش"); the query side is not stripped,
so "والموصل" matches only that spelling.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import chain
from typing import Any, TypeGuard, Union

# The proclitic list is private to textnorm, but matching must invert arabic_variants exactly;
# tests/unit/test_query_properties.py checks the inversion against arabic_variants itself.
from newsmon.textnorm import ARABIC_PROCLITICS, arabic_variants, tokenize

_ARTICLE = "\u0627\u0644"  # ال


# than tokenising Arabic text): a query word matches the document words that strip to it, e.g.
# "داعش" -> "لداعش", and "cnn" -> "لcnn" ("لـCNN" is common). The candidates are each proclitic +
# the word, and + the word without "ال" ("وال" + stem yields "ال" + stem); arabic_variants decides.
def word_surfaces(word: str) -> frozenset[str]:
    """The document words matching query word `word`: itself, and those stripping to it."""
    stems = (word, word[2:]) if word.startswith(_ARTICLE) else (word,)
    found = {clitic + stem for clitic in ARABIC_PROCLITICS for stem in stems}
    return frozenset([word, *(w for w in found if word in arabic_variants(w))])


@lru_cache(maxsize=1 << 14)
def prefix_starts(prefix: str) -> tuple[str, ...]:
    """Beginnings of the document words that may match `prefix*` (each is checked after)."""
    rests = {prefix}
    if prefix.startswith(_ARTICLE) or _ARTICLE.startswith(prefix):  # "ال" + stem, stem = rest
        rests.add(prefix[2:])
    return (prefix, *sorted({clitic + rest for clitic in ARABIC_PROCLITICS for rest in rests}))


@lru_cache(maxsize=1 << 16)
def _variants(word: str) -> tuple[str, ...]:
    return arabic_variants(word)


def word_matches(token: str, word: str, prefix: bool) -> bool:
    """Whether document word `token` matches query word `word` (`word*` if `prefix`)."""
    if prefix:
        return token.startswith(word) or any(v.startswith(word) for v in _variants(token))
    return token == word or word in _variants(token)


@dataclass(frozen=True, eq=False)
class MatchDocument:
    """An article tokenised once for matching: its normalised words, per field and as a set."""

    fields: tuple[tuple[str, ...], tuple[str, ...]]  # (title words, text words)
    vocab: frozenset[str]  # the words of all fields
    source: str
    language: str | None
    topics: frozenset[str] = frozenset()
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def language_code(self) -> str:
        """The ISO 639-1 part of `language` ("en" for "en-GB"), or "" when unknown."""
        return self.language.replace("_", "-").split("-")[0] if self.language else ""

    def with_topics(self, names: Iterable[str]) -> MatchDocument:
        """This document with `names` added to its topics; shares the token data."""
        return replace(self, topics=self.topics | frozenset(names))

    def has_prefix(self, prefix: str) -> bool:
        """Whether some word, or an Arabic variant of it, starts with `prefix`."""
        hint = self._cache.get("prefixes")  # left by RuleSet.match_all
        if hint is not None and prefix in hint[0]:
            return prefix in hint[1]
        ordered = self._cache.get("sorted")
        if ordered is None:
            ordered = self._cache["sorted"] = sorted(self.vocab)
        for start in prefix_starts(prefix):
            for i in range(bisect_left(ordered, start), len(ordered)):
                if not ordered[i].startswith(start):
                    break
                if word_matches(ordered[i], prefix, True):
                    return True
        return False

    def positions(self, index: int, surfaces: frozenset[str]) -> list[int]:
        """Where any of `surfaces` stands in field `index` (0 title, 1 text)."""
        found: list[int] | None = self._cache.get((index, surfaces))
        if found is None:
            tokens, found = self.fields[index], []
            for surface in surfaces & self.vocab:
                pos = -1
                try:  # tuple.index scans in C, far faster than enumerate() for a few hits
                    while True:
                        pos = tokens.index(surface, pos + 1)
                        found.append(pos)
                except ValueError:
                    pass
            found.sort()
            self._cache[(index, surfaces)] = found
        return found


def prepare_document(
    *,
    title: str | None,
    text: str,
    source: str,
    language: str | None,
    topics: Iterable[str] = (),
) -> MatchDocument:
    """Tokenise an article once so that any number of queries can be matched against it."""
    fields = (tuple(tokenize(title)) if title else (), tuple(tokenize(text)))
    return MatchDocument(
        fields=fields,
        vocab=frozenset(fields[1]).union(fields[0]),
        source=source,
        language=language.lower() if language else None,
        topics=frozenset(topics),
    )


@dataclass(frozen=True, slots=True)
class Term:
    """A word, `word*` or a phrase of them, normalised; `written` is how the query spelt it."""

    written: str  # as in the query, without quotes
    words: tuple[str, ...]
    prefixes: tuple[bool, ...]  # per word: whether it ended with '*'
    anchor: int  # the word to look up first: the longest exact one (likely the rarest), else 0
    surfaces: tuple[frozenset[str], ...]  # per exact word, the document words matching it

    def present(self, doc: MatchDocument) -> bool:
        for word, prefix, surfaces in zip(self.words, self.prefixes, self.surfaces, strict=True):
            if not (doc.has_prefix(word) if prefix else not surfaces.isdisjoint(doc.vocab)):
                return False
        return len(self.words) == 1 or any(
            self.at(tokens, start)
            for index, tokens in enumerate(doc.fields)  # never across the title/text boundary
            for start in self._candidates(doc, index)
        )

    def _candidates(self, doc: MatchDocument, index: int) -> Iterable[int]:
        """Where in field `index` the term may start."""
        if self.prefixes[self.anchor]:  # prefixes only: nothing exact to look up
            return range(len(doc.fields[index]))
        positions = doc.positions(index, self.surfaces[self.anchor])
        return (pos - self.anchor for pos in positions if pos >= self.anchor)

    def at(self, tokens: Any, start: int) -> bool:
        """Whether the term's words stand at `start` in `tokens`."""
        return start + len(self.words) <= len(tokens) and all(
            word_matches(tokens[start + i], word, prefix)
            for i, (word, prefix) in enumerate(zip(self.words, self.prefixes, strict=True))
        )


@dataclass(frozen=True, slots=True)
class Field:
    """`topic:NAME`, `source:NAME` or `lang:xx`: a fact about the article, not its words."""

    name: str
    value: str

    def present(self, doc: MatchDocument) -> bool:
        if self.name == "topic":
            return self.value in doc.topics
        if self.name == "source":
            return self.value == doc.source
        return self.value == doc.language_code


@dataclass(frozen=True, slots=True)
class Op:
    """NOT, AND or OR over child nodes."""

    name: str  # "NOT" (one child), "AND", "OR"
    children: tuple[Node, ...]


Node = Union[Term, Field, Op]  # noqa: UP007 (evaluated at runtime)
DocumentTest = Callable[[MatchDocument], bool]


def is_single_word(node: Node) -> TypeGuard[Term]:
    return isinstance(node, Term) and len(node.words) == 1 and not node.prefixes[0]


def compile_node(node: Node) -> DocumentTest:
    """Turn the tree into nested closures, cheaper to call than re-dispatching on node types."""
    if isinstance(node, Term | Field) and not is_single_word(node):
        return node.present
    if isinstance(node, Op) and node.name == "NOT":
        inner = compile_node(node.children[0])
        return lambda doc: not inner(doc)
    if isinstance(node, Op) and node.name == "AND":
        tests = tuple(compile_node(child) for child in node.children)
        return lambda doc: all(test(doc) for test in tests)
    # A single word, or an OR: its single words are tested together by one set operation in C.
    children = node.children if isinstance(node, Op) else (node,)
    words = frozenset(chain(*(child.surfaces[0] for child in children if is_single_word(child))))
    rest = tuple(compile_node(child) for child in children if not is_single_word(child))
    if not rest:
        return lambda doc: not words.isdisjoint(doc.vocab)
    return lambda doc: not words.isdisjoint(doc.vocab) or any(test(doc) for test in rest)


def walk_terms(node: Node, positive: bool = True) -> Iterable[tuple[Term, bool]]:
    """The terms under `node`, each with whether it is positive (under an even number of NOTs)."""
    if isinstance(node, Term):
        yield node, positive
    elif isinstance(node, Op):
        for child in node.children:
            yield from walk_terms(child, positive != (node.name == "NOT"))
