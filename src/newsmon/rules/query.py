"""The query language of topics and alerts: parse a rule once, match it against many articles.

Grammar (precedence NOT > AND > OR; two operands side by side mean AND)::

    or   := and ("OR" and)*
    and  := not (["AND"] not)*
    not  := "NOT" not | "(" or ")" | atom
    atom := word | word* | "a phrase" | topic:NAME | source:NAME | lang:xx | alias:ID

`alias:ID` stands for any name of a gazetteer entry (newsmon.stories.gazetteer, the packaged
gazetteer.yaml), each name as a phrase: `alias:isis` is ISIS OR Daesh OR داعش OR "الدولة
الإسلامية" OR ...

Words compare after `textnorm.normalize`. A query word also matches a document word that
`textnorm.arabic_variants` strips to it ("داعش" matches "لداعش"); the query side is not stripped,
so "والموصل" matches only that spelling.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import chain
from typing import Any, TypeGuard, Union

# The proclitic list is private to textnorm, but matching must invert arabic_variants exactly;
# tests/unit/test_query_properties.py checks the inversion against arabic_variants itself.
from newsmon.textnorm import (
    ARABIC_PROCLITICS,
    arabic_variants,
    normalize,
    tokenize,
    tokenize_with_offsets,
)

MAX_NESTING = 100  # parentheses and NOTs; keeps parsing and matching far from the recursion limit
FIELDS = ("topic", "source", "lang")

_LEXEME = re.compile(r'\s+|\(|\)|"[^"]*"?|[^\s()"]+')
_TERM_WORD = re.compile(r"([^\W_]+)(\*)?")  # textnorm's word pattern, plus a trailing '*'
_LANG = re.compile(r"[A-Za-z]{2}")
_SPACE, _SPACES = re.compile(r"\s"), re.compile(r"\s+")
_LAST_SPACE = re.compile(r"\s(?!.*\s)", re.DOTALL)
_ARTICLE = "\u0627\u0644"  # ال


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `position` is the 0-based character offset of the fault."""

    def __init__(self, message: str, position: int, hint: str = "") -> None:
        super().__init__(f"{message} at position {position}" + (f" ({hint})" if hint else ""))
        self.message = message
        self.position = position


# Clitics are handled on the query side, so documents need no variants computed (that cost more
# than tokenising Arabic text): a query word matches the document words that strip to it, e.g.
# "داعش" -> "لداعش", and "cnn" -> "لcnn" ("لـCNN" is common). The candidates are each proclitic +
# the word, and + the word without "ال" ("وال" + stem yields "ال" + stem); arabic_variants decides.
def _surfaces(word: str) -> frozenset[str]:
    """The document words matching query word `word`: itself, and those stripping to it."""
    stems = (word, word[2:]) if word.startswith(_ARTICLE) else (word,)
    found = {clitic + stem for clitic in ARABIC_PROCLITICS for stem in stems}
    return frozenset([word, *(w for w in found if word in arabic_variants(w))])


@lru_cache(maxsize=1 << 14)
def _starts(prefix: str) -> tuple[str, ...]:
    """Beginnings of the document words that may match `prefix*` (each is checked after)."""
    rests = {prefix}
    if prefix.startswith(_ARTICLE) or _ARTICLE.startswith(prefix):  # "ال" + stem, stem = rest
        rests.add(prefix[2:])
    return (prefix, *sorted({clitic + rest for clitic in ARABIC_PROCLITICS for rest in rests}))


@lru_cache(maxsize=1 << 16)
def _variants(word: str) -> tuple[str, ...]:
    return arabic_variants(word)


def _word_at(token: str, word: str, prefix: bool) -> bool:
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
        for start in _starts(prefix):
            for i in range(bisect_left(ordered, start), len(ordered)):
                if not ordered[i].startswith(start):
                    break
                if _word_at(ordered[i], prefix, True):
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
class _Term:
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
            _word_at(tokens[start + i], word, prefix)
            for i, (word, prefix) in enumerate(zip(self.words, self.prefixes, strict=True))
        )


def _term(written: str, position: int) -> _Term:
    pairs = _TERM_WORD.findall(normalize(written))
    if not pairs:
        what = "empty phrase" if not written.strip() else f"{written!r} contains no word"
        raise QuerySyntaxError(what, position)
    words, prefixes = tuple(w for w, _ in pairs), tuple(bool(s) for _, s in pairs)
    exact = [i for i, prefix in enumerate(prefixes) if not prefix]
    anchor = max(exact, key=lambda i: len(words[i])) if exact else 0
    surfaces = tuple(
        frozenset() if p else _surfaces(w) for w, p in zip(words, prefixes, strict=True)
    )
    return _Term(written, words, prefixes, anchor, surfaces)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    value: str

    def present(self, doc: MatchDocument) -> bool:
        if self.name == "topic":
            return self.value in doc.topics
        if self.name == "source":
            return self.value == doc.source
        return self.value == doc.language_code


@dataclass(frozen=True, slots=True)
class _Op:
    name: str  # "NOT" (one child), "AND", "OR"
    children: tuple[_Node, ...]


_Node = Union[_Term, _Field, _Op]  # noqa: UP007 (evaluated at runtime)
_Test = Callable[[MatchDocument], bool]


def _simple(node: _Node) -> TypeGuard[_Term]:
    return isinstance(node, _Term) and len(node.words) == 1 and not node.prefixes[0]


def _compile(node: _Node) -> _Test:
    """Turn the tree into nested closures, cheaper to call than re-dispatching on node types."""
    if isinstance(node, _Term | _Field) and not _simple(node):
        return node.present
    if isinstance(node, _Op) and node.name == "NOT":
        inner = _compile(node.children[0])
        return lambda doc: not inner(doc)
    if isinstance(node, _Op) and node.name == "AND":
        tests = tuple(_compile(child) for child in node.children)
        return lambda doc: all(test(doc) for test in tests)
    # A single word, or an OR: its single words are tested together by one set operation in C.
    children = node.children if isinstance(node, _Op) else (node,)
    words = frozenset(chain(*(child.surfaces[0] for child in children if _simple(child))))
    rest = tuple(_compile(child) for child in children if not _simple(child))
    if not rest:
        return lambda doc: not words.isdisjoint(doc.vocab)
    return lambda doc: not words.isdisjoint(doc.vocab) or any(test(doc) for test in rest)


def _walk_terms(node: _Node, positive: bool = True) -> Iterable[tuple[_Term, bool]]:
    """The terms under `node`, each with whether it is positive (under an even number of NOTs)."""
    if isinstance(node, _Term):
        yield node, positive
    elif isinstance(node, _Op):
        for child in node.children:
            yield from _walk_terms(child, positive != (node.name == "NOT"))


def _cover(node: _Node) -> tuple[_Term | _Field, ...] | None:
    """Atoms one of which a document must contain for `node` to match; None if there is none."""
    if not isinstance(node, _Op):
        return (node,)
    if node.name == "NOT":
        return None
    covers = [_cover(child) for child in node.children]
    known = [cover for cover in covers if cover is not None]
    if node.name == "OR":
        return tuple(chain(*known)) if len(known) == len(covers) else None

    # An AND needs all its children, so one child's cover will do: the one waking fewest documents
    # by a rough guess (a language is in half of them, a prefix in more than a word).
    def cost(atom: _Term | _Field) -> int:
        return 20 if isinstance(atom, _Field) else 3 if atom.prefixes[atom.anchor] else 1

    return min(known, key=lambda atoms: sum(map(cost, atoms))) if known else None


@dataclass(frozen=True, slots=True)
class QueryMatch:
    """A successful match: the query's positive terms found in the document, in query order."""

    terms: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    """A parsed query; `text` is the string it was parsed from (equal texts, equal queries)."""

    text: str
    _root: _Node = field(repr=False, compare=False)
    _test: _Test = field(repr=False, compare=False)
    _positive: tuple[_Term, ...] = field(repr=False, compare=False)

    def match(self, doc: MatchDocument) -> QueryMatch | None:
        """The match of this query in `doc`, or None."""
        if not self._test(doc):
            return None
        return QueryMatch(tuple(t.written for t in self._positive if t.present(doc)))

    def terms(self) -> tuple[str, ...]:
        """The terms and phrases not under NOT, as written (phrases without quotes), deduplicated."""
        return tuple(t.written for t in self._positive)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "atom"
    position: int
    node: _Node | None = None


def _lex(text: str) -> list[_Token]:
    # Word processors turn quotes into curly ones; one-for-one, so positions stay right.
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    tokens: list[_Token] = []
    pos = 0
    while m := _LEXEME.match(text, pos):
        lexeme, start, pos = m.group(), m.start(), m.end()
        if lexeme.isspace():
            continue
        if lexeme in ("(", ")", "AND", "OR", "NOT"):
            tokens.append(_Token(lexeme, start))
        elif lexeme.startswith('"'):
            tokens.append(_Token("atom", start, _term(_unquote(lexeme, start), start)))
        elif ":" in lexeme:
            name, _, value = lexeme.partition(":")
            if not value and text.startswith('"', pos):  # topic:"a name"
                quoted = _LEXEME.match(text, pos)
                assert quoted is not None
                value, pos = _unquote(quoted.group(), pos), quoted.end()
            if name.lower() == "alias":
                tokens.append(_Token("atom", start, _alias(value, start)))
            else:
                tokens.append(_Token("atom", start, _field(name, value, start)))
        else:
            tokens.append(_Token("atom", start, _term(lexeme, start)))
    return tokens


def _unquote(lexeme: str, position: int) -> str:
    if len(lexeme) == 1 or not lexeme.endswith('"'):
        raise QuerySyntaxError("unterminated quote", position)
    return lexeme[1:-1].strip()


def _alias(entry_id: str, position: int) -> _Node:
    """Any name of a gazetteer entry, each as a phrase."""
    from newsmon.stories.gazetteer import packaged_gazetteer

    entry = packaged_gazetteer().entries.get(entry_id.lower())
    if entry is None:
        hint = "alias ids are the ids of src/newsmon/stories/gazetteer.yaml (isis, pmf, anbar, ...)"
        raise QuerySyntaxError(f"unknown alias {entry_id!r}", position, hint)
    terms = tuple(_term(name, position) for name in dict.fromkeys(entry.names))
    return terms[0] if len(terms) == 1 else _Op("OR", terms)


def _field(name: str, value: str, position: int) -> _Field:
    if name.lower() not in FIELDS:
        # A URL or a time ("10:30") lands here too; quoting it makes it a phrase.
        hint = "fields are topic:, source:, lang:, alias:; quote text that contains a colon"
        raise QuerySyntaxError(f"unknown field {name!r}", position, hint)
    name = name.lower()
    if not value:
        raise QuerySyntaxError(f"expected a value after '{name}:'", position)
    if name == "lang" and not _LANG.fullmatch(value):
        raise QuerySyntaxError(f"lang: needs a two-letter ISO 639-1 code, not {value!r}", position)
    return _Field(name, value.lower() if name == "lang" else value)


class _Parser:
    """Recursive descent over the tokens; `after` is the token an operand must follow (errors)."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.i, self.depth = tokens, 0, 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> _Node:
        node = self.or_(None)
        if (extra := self.peek()) is not None:  # only an unmatched ")" can be left over
            raise QuerySyntaxError("unbalanced parenthesis", extra.position)
        return node

    def or_(self, after: _Token | None) -> _Node:
        children = [self.and_(after)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.i += 1
            children.append(self.and_(token))
        return children[0] if len(children) == 1 else _Op("OR", tuple(children))

    def and_(self, after: _Token | None) -> _Node:
        children = [self.not_(after)]
        while (token := self.peek()) is not None and token.kind not in (")", "OR"):
            if token.kind == "AND":
                self.i += 1
                children.append(self.not_(token))
            else:  # an implicit AND: the token starts an operand
                children.append(self.not_(None))
        return children[0] if len(children) == 1 else _Op("AND", tuple(children))

    def not_(self, after: _Token | None) -> _Node:
        token = self.peek()
        if token is None or token.kind in (")", "AND", "OR"):
            raise self.missing(after, token)
        self.i += 1
        if token.node is not None:
            return token.node
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise QuerySyntaxError(f"nested deeper than {MAX_NESTING} levels", token.position)
        if token.kind == "NOT":
            node: _Node = _Op("NOT", (self.not_(token),))
        else:
            node = self.or_(token)
            if (close := self.peek()) is None or close.kind != ")":
                raise QuerySyntaxError("unbalanced parenthesis", token.position)
            self.i += 1
        self.depth -= 1
        return node

    def missing(self, after: _Token | None, found: _Token | None) -> QuerySyntaxError:
        """The error for an absent operand: say which operator or parenthesis lacks it."""
        if after is not None and after.kind != "(":
            return QuerySyntaxError(f"expected a term after {after.kind}", after.position)
        if found is None:
            if after is None:
                return QuerySyntaxError("empty query", 0)
            return QuerySyntaxError("unbalanced parenthesis", after.position)
        if found.kind == ")":
            if after is None:
                return QuerySyntaxError("unbalanced parenthesis", found.position)
            return QuerySyntaxError("empty parentheses", after.position)
        return QuerySyntaxError(f"expected a term before {found.kind}", found.position)


def parse_query(text: str) -> Query:
    """Parse `text`; raises QuerySyntaxError saying what is wrong and at which position."""
    root = _Parser(_lex(text)).parse()
    positive: dict[str, _Term] = {}
    for term, is_positive in _walk_terms(root):
        if is_positive:
            positive.setdefault(term.written, term)
    return Query(text, root, _compile(root), tuple(positive.values()))


_Memory = tuple[set[str], set[str], dict[str, tuple[tuple[int, ...], tuple[str, ...]]]]


class RuleSet:
    """Many named queries matched together: an inverted index picks the few worth evaluating."""

    # Words remembered with what they wake. News vocabulary is Zipfian, so once warm nearly every
    # word of an article is known; the bound keeps typos and names from growing it forever.
    MAX_REMEMBERED_WORDS = 500_000

    def __init__(self, queries: Mapping[str, Query]) -> None:
        self._names, self._queries = list(queries), list(queries.values())
        self._by_word: dict[str, list[int]] = {}  # document word -> rules
        self._by_prefix: dict[str, list[int]] = {}  # query prefix -> rules
        self._by_field: dict[tuple[str, str], list[int]] = {}
        self._always: list[int] = []  # rules that can match with none of their atoms present
        for rule, query in enumerate(self._queries):
            cover = _cover(query._root)
            if cover is None:
                self._always.append(rule)
            for atom in cover or ():
                if isinstance(atom, _Field):
                    self._file(rule, self._by_field, [(atom.name, atom.value)])
                elif atom.prefixes[atom.anchor]:  # a phrase needs all its words: one will do
                    self._file(rule, self._by_prefix, [atom.words[atom.anchor]])
                else:
                    self._file(rule, self._by_word, atom.surfaces[atom.anchor])
        # Every prefix of every rule, filed or not, so match_all can tell documents which they have.
        self._prefixes = frozenset(
            word
            for query in self._queries
            for term, _ in _walk_terms(query._root)
            for word, prefix in zip(term.words, term.prefixes, strict=True)
            if prefix
        )
        self._by_start: dict[str, list[str]] = {}  # beginning of a document word -> prefixes
        for prefix in sorted(self._prefixes):
            for start in _starts(prefix):
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
            seen.add(word)
            matched = tuple(
                dict.fromkeys(
                    prefix
                    for n in self._start_lengths
                    if n <= len(word)
                    for prefix in self._by_start.get(word[:n], ())
                    if _word_at(word, prefix, True)
                )
            )
            rules = [*self._by_word.get(word, ())]
            for prefix in matched:
                rules += self._by_prefix.get(prefix, ())
            if rules or matched:
                wakes[word] = (tuple(rules), matched)
                waking.add(word)

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


def highlight_spans(
    text: str, terms_or_query: Query | str | Iterable[str]
) -> list[tuple[int, int]]:
    """Character spans in `text` (as written) of the terms found there, sorted and merged.

    Takes a Query (its positive terms) or terms as in `QueryMatch.terms` ("Islamic State", "Anbar*").
    """
    if isinstance(terms_or_query, Query):
        terms = list(terms_or_query._positive)
    else:
        written = (terms_or_query,) if isinstance(terms_or_query, str) else terms_or_query
        terms = [_term(t, 0) for t in written if _TERM_WORD.search(normalize(t))]
    tokens = tokenize_with_offsets(text)
    words = [t.norm for t in tokens]
    spans = sorted(
        (tokens[start].start, tokens[start + len(term.words) - 1].end)
        for term in terms
        for start in range(len(words))
        if term.at(words, start)
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(
    text: str,
    query: Query,
    *,
    width: int = 240,
    mark: Callable[[str], str] = lambda s: f"**{s}**",
) -> str:
    """About `width` characters of `text` around the first match, matches marked, cuts shown "…".

    Without a match in `text` (it may be in the title), the start of the text.
    """
    spans = highlight_spans(text, query)
    first_start, first_end = spans[0] if spans else (0, 0)
    # The first match sits a third of the way in, so the reader sees what leads up to it.
    start = max(0, min(first_start - width // 3, len(text) - width))
    end = max(first_end, min(len(text), start + width))
    if start > 0 and not text[start - 1].isspace():  # do not start or end mid-word
        space = _SPACE.search(text, start, first_start)
        start = space.end() if space else start
    if end < len(text) and not text[end].isspace():
        space = _LAST_SPACE.search(text, max(first_end, start), end)
        end = space.start() if space else end
    pieces, cursor = ["…"] if start > 0 else [], start
    for span_start, span_end in spans:
        if span_start < end and span_end > start:
            span_start, span_end = max(span_start, start), min(span_end, end)
            marked = mark(_SPACES.sub(" ", text[span_start:span_end]))
            pieces += [_SPACES.sub(" ", text[cursor:span_start]), marked]
            cursor = span_end
    pieces.append(_SPACES.sub(" ", text[cursor:end]))
    result = "".join(pieces).strip()
    return result + "…" if end < len(text) else result
