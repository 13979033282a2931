"""Properties of the query language over generated queries and documents (hypothesis)."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsmon.rules.highlight import highlight_spans, snippet
from newsmon.rules.matching import (
    Field,
    MatchDocument,
    Node,
    Op,
    Term,
    prefix_starts,
    prepare_document,
    word_surfaces,
)
from newsmon.rules.query import Query, QueryMatch, QuerySyntaxError, parse_query
from newsmon.rules.ruleset import RuleSet
from newsmon.textnorm import arabic_variants, tokenize

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = ["isis", "ISIS", "state", "islamic", "anbar", "anbari", "al-qaeda", "2024", "٢٠٢٤",
         "داعش", "لداعش", "الموصل", "والموصل", "حماة", "مصطفى", "دَاعِش"]  # fmt: skip
# Pieces of query syntax, valid and not, so that generated strings reach the parser's corners.
PIECES = [*WORDS, "AND", "OR", "NOT", "(", ")", '"', "*", ":", "lang:en", "lang:", "topic:t",
          "source:s", "foo:bar", "and", "-", "“", "”", "\u0651", "ﬁ"]  # fmt: skip

query_like = st.lists(st.sampled_from(PIECES), max_size=12).flatmap(
    lambda parts: st.lists(
        st.sampled_from(["", " ", "  "]), min_size=len(parts), max_size=len(parts)
    ).map(lambda gaps: "".join(g + p for g, p in zip(gaps, parts, strict=True)))
)


def _atom() -> st.SearchStrategy[str]:
    word = st.sampled_from(WORDS)
    return st.one_of(
        word,
        word.map(lambda w: w[: max(1, len(w) // 2)] + "*"),
        st.lists(word, min_size=1, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
        st.sampled_from(["lang:en", "lang:ar", "source:s", "source:x", "topic:t"]),
    )


valid_query = st.recursive(
    _atom(),
    lambda inner: st.one_of(
        inner.map(lambda q: f"NOT {q}"),
        st.lists(inner, min_size=2, max_size=3).map(lambda qs: "(" + " AND ".join(qs) + ")"),
        st.lists(inner, min_size=2, max_size=3).map(lambda qs: "(" + " OR ".join(qs) + ")"),
        st.lists(inner, min_size=2, max_size=3).map(lambda qs: " ".join(qs)),
    ),
    max_leaves=8,
)

text_of_words = st.lists(st.sampled_from([*WORDS, "said", "the", ",", "."]), max_size=12).map(
    " ".join
)


@st.composite
def documents(draw: st.DrawFn) -> MatchDocument:
    document = prepare_document(
        title=draw(st.one_of(st.none(), text_of_words)),
        text=draw(text_of_words),
        source=draw(st.sampled_from(["s", "x"])),
        language=draw(st.sampled_from(["en", "ar", "EN-gb", None])),
    )
    return document.with_topics(draw(st.sets(st.sampled_from(["t", "u"]))))


def _parse_or_error(text: str) -> Query | None:
    try:
        return parse_query(text)
    except QuerySyntaxError as error:
        assert 0 <= error.position <= len(text)
        assert f"at position {error.position}" in str(error)
        return None


@SETTINGS
@given(st.text(max_size=60))
def test_parse_arbitrary_text_returns_a_query_or_a_syntax_error(text: str) -> None:
    _parse_or_error(text)


@SETTINGS
@given(query_like)
def test_parse_query_like_text_returns_a_query_or_a_syntax_error(text: str) -> None:
    query = _parse_or_error(text)
    if query is not None:
        assert query.text == text


@SETTINGS
@given(st.integers(min_value=0, max_value=20_000), st.sampled_from(["(", "NOT ", "(NOT ", "( "]))
def test_deep_nesting_never_raises_recursion_error(depth: int, opener: str) -> None:
    _parse_or_error(opener * depth + "x" + ")" * depth)


@SETTINGS
@given(query_like, documents())
def test_matching_never_raises(text: str, document: MatchDocument) -> None:
    query = _parse_or_error(text)
    if query is not None:
        found = query.match(document)
        if found is not None:
            assert set(found.terms) <= set(query.terms())


@SETTINGS
@given(valid_query)
def test_generated_queries_parse(text: str) -> None:
    parse_query(text)


@SETTINGS
@given(st.lists(valid_query, min_size=1, max_size=4), st.lists(documents(), min_size=1, max_size=4))
def test_matched_terms_are_the_positive_terms_present_in_query_order(
    texts: list[str], docs: list[MatchDocument]
) -> None:
    """Query.match lists its single words by one set intersection: the same terms, in the same
    order, as asking each positive term whether it is present (with and without a RuleSet's
    prefix hint left in the document)."""
    queries = {f"q{i}": parse_query(text) for i, text in enumerate(texts)}
    for document in docs:
        for _ in range(2):
            for query in queries.values():
                found = query.match(document)
                if found is not None:
                    terms = query.positive_terms
                    assert found.terms == tuple(t.written for t in terms if t.present(document))
            RuleSet(queries).match_all(document)


def _evaluate(node: Node, doc: MatchDocument) -> bool:
    """The query tree read literally: what the compiled test must answer."""
    if isinstance(node, Term | Field):
        return node.present(doc)
    results = [_evaluate(child, doc) for child in node.children]
    return (
        not results[0]
        if node.name == "NOT"
        else all(results)
        if node.name == "AND"
        else any(results)
    )


@SETTINGS
@given(st.lists(valid_query, min_size=1, max_size=4), st.lists(documents(), min_size=1, max_size=4))
def test_compiled_queries_answer_as_the_tree_reads(
    texts: list[str], docs: list[MatchDocument]
) -> None:
    queries = [parse_query(text) for text in texts]
    for document in docs:
        for query in queries:
            assert (query.match(document) is not None) == _evaluate(query.root, document)


def _each(queries: dict[str, Query], document: MatchDocument) -> dict[str, QueryMatch]:
    """What RuleSet.match_all must return: each query matched on its own."""
    return {name: m for name, q in queries.items() if (m := q.match(document)) is not None}


@SETTINGS
@given(st.lists(valid_query, min_size=1, max_size=8), st.lists(documents(), min_size=1, max_size=4))
def test_ruleset_agrees_with_matching_each_query(
    texts: list[str], docs: list[MatchDocument]
) -> None:
    queries = {f"q{i}": parse_query(text) for i, text in enumerate(texts)}
    ruleset = RuleSet(queries)
    for document in docs:
        expected = _each(queries, document)
        assert ruleset.match_all(document) == expected
        # After the RuleSet left its prefix hint in the document, single matches still agree.
        assert _each(queries, document) == expected


@SETTINGS
@given(valid_query, text_of_words)
def test_highlight_spans_and_snippet_never_raise(text: str, body: str) -> None:
    query = parse_query(text)
    spans = highlight_spans(body, query)
    assert spans == sorted(spans)
    assert all(0 <= start < end <= len(body) for start, end in spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))
    snippet(body, query, width=30)


# --- the contract, literally: each position carries its word and clitic-stripped variants ------

ARABIC_LETTERS = "ابتثجحخدسشعفقكلمنهويء"
mixed_word = st.tuples(
    st.sampled_from(["", "و", "ف", "ب", "ل", "ك", "ال", "وال", "بال", "لل", "فال", "كال"]),
    st.text(alphabet=ARABIC_LETTERS + "abc", min_size=1, max_size=6),
).map("".join)


@SETTINGS
@given(mixed_word)
def test_surfaces_invert_arabic_variants(word: str) -> None:
    for variant in arabic_variants(word):
        assert word in word_surfaces(variant)
    for surface in word_surfaces(word):
        assert surface == word or word in arabic_variants(surface)


@SETTINGS
@given(mixed_word, mixed_word)
def test_prefix_starts_cover_every_matching_word(word: str, prefix: str) -> None:
    for end in range(1, len(prefix) + 1):
        forms = (word, *arabic_variants(word))
        if any(form.startswith(prefix[:end]) for form in forms):
            assert any(word.startswith(start) for start in prefix_starts(prefix[:end]))


def _forms(word: str) -> tuple[str, ...]:
    return (word, *arabic_variants(word))


def _reference(node: object, fields: list[list[str]], document: MatchDocument) -> bool:
    """The contract read literally, slow and simple, over prepare_document's own fields."""
    if isinstance(node, Op):
        results = [_reference(child, fields, document) for child in node.children]
        if node.name == "NOT":
            return not results[0]
        return all(results) if node.name == "AND" else any(results)
    if isinstance(node, Field):
        if node.name == "topic":
            return node.value in document.topics
        if node.name == "source":
            return node.value == document.source
        return (document.language or "").replace("_", "-").split("-")[0] == node.value
    assert isinstance(node, Term)

    def at(tokens: list[str], i: int) -> bool:
        return all(
            any(f.startswith(w) if p else f == w for f in _forms(tokens[i + k]))
            for k, (w, p) in enumerate(zip(node.words, node.prefixes, strict=True))
        )

    n = len(node.words)
    return any(at(tokens, i) for tokens in fields for i in range(len(tokens) - n + 1))


mixed_text = st.lists(st.one_of(mixed_word, st.sampled_from(WORDS)), max_size=10).map(" ".join)
mixed_query = st.recursive(
    st.one_of(
        mixed_word,
        mixed_word.map(lambda w: w[: max(1, len(w) // 2)] + "*"),
        st.lists(mixed_word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
        _atom(),
    ),
    lambda inner: st.one_of(
        inner.map(lambda q: f"NOT {q}"),
        st.lists(inner, min_size=2, max_size=3).map(lambda qs: "(" + " OR ".join(qs) + ")"),
        st.lists(inner, min_size=2, max_size=3).map(" ".join),
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mixed_query, min_size=1, max_size=4), mixed_text, st.one_of(st.none(), mixed_text))
def test_matching_follows_the_contract(texts: list[str], text: str, title: str | None) -> None:
    document = prepare_document(title=title, text=text, source="s", language="ar")
    fields = [tokenize(title or ""), tokenize(text)]
    queries = {str(i): parse_query(q) for i, q in enumerate(texts)}
    expected = {n: q for n, q in queries.items() if _reference(q.root, fields, document)}
    assert {n for n, q in queries.items() if q.match(document)} == set(expected)
    assert set(RuleSet(queries).match_all(document)) == set(expected)
