"""The query language of topics and alerts: parse a rule once into a `Query`, match it many times.

Grammar (precedence NOT > AND > OR; two operands side by side mean AND)::

    or   := and ("OR" and)*
    and  := not (["AND"] not)*
    not  := "NOT" not | "(" or ")" | atom
    atom := word | word* | "a phrase" | topic:NAME | source:NAME | lang:xx | alias:ID

`alias:ID` stands for any name of a gazetteer entry (newsmon.stories.gazetteer, the packaged
gazetteer.yaml), each name as a phrase: `alias:isis` is ISIS OR Daesh OR داعش OR "الدولة
الإسلامية" OR ...

How words match (normalisation, Arabic clitics) is `newsmon.rules.matching`; many queries matched
together is `newsmon.rules.ruleset.RuleSet`; highlights and snippets are `newsmon.rules.highlight`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from newsmon.rules.matching import (
    DocumentTest,
    Field,
    MatchDocument,
    Node,
    Op,
    Term,
    compile_node,
    is_single_word,
    walk_terms,
    word_surfaces,
)
from newsmon.textnorm import normalize

MAX_NESTING = 100  # parentheses and NOTs; keeps parsing and matching far from the recursion limit
FIELDS = ("topic", "source", "lang")

_LEXEME = re.compile(r'\s+|\(|\)|"[^"]*"?|[^\s()"]+')
_TERM_WORD = re.compile(r"([^\W_]+)(\*)?")  # textnorm's word pattern, plus a trailing '*'
_LANG = re.compile(r"[A-Za-z]{2}")


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `position` is the 0-based character offset of the fault."""

    def __init__(self, message: str, position: int, hint: str = "") -> None:
        super().__init__(f"{message} at position {position}" + (f" ({hint})" if hint else ""))
        self.message = message
        self.position = position


def parse_term(written: str, position: int) -> Term:
    """A word, `word*` or phrase as written (quotes removed); QuerySyntaxError if it has no word."""
    pairs = _TERM_WORD.findall(normalize(written))
    if not pairs:
        what = "empty phrase" if not written.strip() else f"{written!r} contains no word"
        raise QuerySyntaxError(what, position)
    words, prefixes = tuple(w for w, _ in pairs), tuple(bool(s) for _, s in pairs)
    exact = [i for i, prefix in enumerate(prefixes) if not prefix]
    anchor = max(exact, key=lambda i: len(words[i])) if exact else 0
    surfaces = tuple(
        frozenset() if p else word_surfaces(w) for w, p in zip(words, prefixes, strict=True)
    )
    return Term(written, words, prefixes, anchor, surfaces)


def written_terms(written: Iterable[str]) -> list[Term]:
    """Terms as `QueryMatch.terms` gives them ("Islamic State", "Anbar*"); those with no word skipped."""
    return [parse_term(t, 0) for t in written if _TERM_WORD.search(normalize(t))]


@dataclass(frozen=True, slots=True)
class QueryMatch:
    """A successful match: the query's positive terms found in the document, in query order."""

    terms: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    """A parsed query; `text` is the string it was parsed from (equal texts, equal queries)."""

    text: str
    root: Node = field(repr=False, compare=False)  # the parse tree
    _test: DocumentTest = field(repr=False, compare=False)
    positive_terms: tuple[Term, ...] = field(repr=False, compare=False)  # not under a NOT
    _present_terms: Callable[[MatchDocument], tuple[str, ...]] = field(repr=False, compare=False)

    def match(self, doc: MatchDocument) -> QueryMatch | None:
        """The match of this query in `doc`, or None."""
        if not self._test(doc):
            return None
        return QueryMatch(self._present_terms(doc))

    def terms(self) -> tuple[str, ...]:
        """The terms and phrases not under NOT, as written (phrases without quotes), deduplicated."""
        return tuple(t.written for t in self.positive_terms)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "atom"
    position: int
    node: Node | None = None


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
            tokens.append(_Token("atom", start, parse_term(_unquote(lexeme, start), start)))
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
            tokens.append(_Token("atom", start, parse_term(lexeme, start)))
    return tokens


def _unquote(lexeme: str, position: int) -> str:
    if len(lexeme) == 1 or not lexeme.endswith('"'):
        raise QuerySyntaxError("unterminated quote", position)
    return lexeme[1:-1].strip()


def _alias(entry_id: str, position: int) -> Node:
    """Any name of a gazetteer entry, each as a phrase."""
    from newsmon.stories.gazetteer import packaged_gazetteer

    entry = packaged_gazetteer().entries.get(entry_id.lower())
    if entry is None:
        hint = "alias ids are the ids of src/newsmon/stories/gazetteer.yaml (isis, pmf, anbar, ...)"
        raise QuerySyntaxError(f"unknown alias {entry_id!r}", position, hint)
    terms = tuple(parse_term(name, position) for name in dict.fromkeys(entry.names))
    return terms[0] if len(terms) == 1 else Op("OR", terms)


def _field(name: str, value: str, position: int) -> Field:
    if name.lower() not in FIELDS:
        # A URL or a time ("10:30") lands here too; quoting it makes it a phrase.
        hint = "fields are topic:, source:, lang:, alias:; quote text that contains a colon"
        raise QuerySyntaxError(f"unknown field {name!r}", position, hint)
    name = name.lower()
    if not value:
        raise QuerySyntaxError(f"expected a value after '{name}:'", position)
    if name == "lang" and not _LANG.fullmatch(value):
        raise QuerySyntaxError(f"lang: needs a two-letter ISO 639-1 code, not {value!r}", position)
    return Field(name, value.lower() if name == "lang" else value)


class _Parser:
    """Recursive descent over the tokens; `after` is the token an operand must follow (errors)."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.i, self.depth = tokens, 0, 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Node:
        node = self.or_(None)
        if (extra := self.peek()) is not None:  # only an unmatched ")" can be left over
            raise QuerySyntaxError("unbalanced parenthesis", extra.position)
        return node

    def or_(self, after: _Token | None) -> Node:
        children = [self.and_(after)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.i += 1
            children.append(self.and_(token))
        return children[0] if len(children) == 1 else Op("OR", tuple(children))

    def and_(self, after: _Token | None) -> Node:
        children = [self.not_(after)]
        while (token := self.peek()) is not None and token.kind not in (")", "OR"):
            if token.kind == "AND":
                self.i += 1
                children.append(self.not_(token))
            else:  # an implicit AND: the token starts an operand
                children.append(self.not_(None))
        return children[0] if len(children) == 1 else Op("AND", tuple(children))

    def not_(self, after: _Token | None) -> Node:
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
            node: Node = Op("NOT", (self.not_(token),))
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
    positive: dict[str, Term] = {}
    for term, is_positive in walk_terms(root):
        if is_positive:
            positive.setdefault(term.written, term)
    terms = tuple(positive.values())
    return Query(text, root, compile_node(root), terms, _present_terms(terms))


def _present_terms(terms: tuple[Term, ...]) -> Callable[[MatchDocument], tuple[str, ...]]:
    """The test listing which of `terms` a document has, as written, in order.

    Most terms are single words: those are found by one set intersection in C for all of them,
    rather than one `Term.present` call each (two thirds of matching's time went there)."""
    by_surface: dict[str, list[int]] = {}
    others = []
    for index, term in enumerate(terms):
        if is_single_word(term):
            for surface in term.surfaces[0]:
                by_surface.setdefault(surface, []).append(index)
        else:
            others.append(index)
    surfaces = frozenset(by_surface)

    def present_terms(doc: MatchDocument) -> tuple[str, ...]:
        found = {index for word in surfaces.intersection(doc.vocab) for index in by_surface[word]}
        found.update(index for index in others if terms[index].present(doc))
        return tuple(terms[index].written for index in sorted(found))

    return present_terms
