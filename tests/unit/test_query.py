"""The query language of topics and alerts: parsing, matching, RuleSet, highlighting, snippets."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable

import pytest

from newsmon.rules.highlight import highlight_spans, snippet
from newsmon.rules.matching import MatchDocument, prepare_document
from newsmon.rules.query import MAX_NESTING, Query, QueryMatch, QuerySyntaxError, parse_query
from newsmon.rules.ruleset import RuleSet


def doc(
    text: str = "",
    *,
    title: str | None = None,
    source: str = "reuters",
    language: str | None = "en",
    topics: Iterable[str] = (),
) -> MatchDocument:
    return prepare_document(title=title, text=text, source=source, language=language, topics=topics)


def matches(query: str, text: str, **kwargs: object) -> bool:
    return parse_query(query).match(doc(text, **kwargs)) is not None  # type: ignore[arg-type]


# --- terms -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("isis", "ISIS fighters attacked", True),
        ("ISIS", "isis fighters attacked", True),
        ("isis", "the crisis deepened", False),  # whole words only
        ("isis", "isisx", False),
        ("state", "the Islamic State's fighters", True),  # an apostrophe splits words
        ("ramadi", "in Ramadi, Anbar.", True),
        ("2024", "in 2024", True),
    ],
)
def test_bare_term_is_a_whole_word_case_insensitively(
    query: str, text: str, expected: bool
) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("Anbar*", "Anbari tribes", True),
        ("Anbar*", "in Anbar", True),  # the prefix itself is a word that starts with it
        ("Anbar*", "Al-Anbar", True),
        ("Anbar*", "xanbar", False),
        ("terror*", "counter-terrorism", True),
        ("terror*", "terr", False),
        ("t*", "a b c", False),
        ("t*", "a tb c", True),
    ],
)
def test_prefix_term(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ('"Islamic State"', "fighters of the Islamic State said", True),
        ('"Islamic State"', "fighters of the islamic, state said", True),  # punctuation is no word
        ('"Islamic State"', "the State is not Islamic", False),  # order
        ('"Islamic State"', "Islamic fighters of the State", False),  # adjacency
        ('"Islamic State"', "Islamic", False),
        ('"the Islamic State of Iraq"', "said the Islamic State of Iraq.", True),
        ('"Islamic St*"', "the Islamic Statehood", True),  # '*' works inside quotes too
        ('"isl* st*"', "an Islamic State", True),
        ('"isl* st*"', "an Islamic group and a State", False),
        ('"state state"', "state state", True),
        ('"state state"', "state and state", False),
    ],
)
def test_phrase(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


def test_phrase_does_not_cross_the_title_text_boundary() -> None:
    document = doc("State fighters attacked", title="Report on the Islamic")
    assert parse_query('"Islamic State"').match(document) is None
    assert parse_query("Islamic State").match(document) is not None  # both words, no phrase
    assert parse_query('"on the Islamic"').match(document) is not None  # inside the title


def test_phrase_in_title_only() -> None:
    assert matches('"Islamic State"', "nothing here", title="Islamic State claims attack")


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("counter-terrorism", "counter terrorism units", True),
        ("counter-terrorism", "counter-terrorism units", True),
        ("counter-terrorism", "terrorism counter", False),
        ("al-Qaeda", "Al Qaeda in Iraq", True),
        ("al-Qaeda", "al-qaeda", True),
        ("al-Qaeda", "al said Qaeda", False),
        ("al-Qa*", "AL-QAIDA", True),
    ],
)
def test_term_normalising_to_several_words_is_a_phrase(
    query: str, text: str, expected: bool
) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("isis", "ＩＳＩＳ fighters"),  # full-width letters in the text
        ("ＩＳＩＳ", "isis fighters"),  # ... and in the query
        ("fighters", "ﬁghters"),  # ligature
        ("strasse", "Straße"),  # case folding
        ("café", "cafe\u0301"),  # decomposed accent composes under NFKC
        ("cooperate", "co\u00adoperate"),  # soft hyphen
        ("2024", "عام ٢٠٢٤"),  # Arabic-Indic digits
        ("٢٠٢٤", "in 2024"),
        ("2024", "سال ۲۰۲۴"),  # Persian digits
    ],
)
def test_unicode_normalisation(query: str, text: str) -> None:
    assert matches(query, text)


# --- Arabic ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("الأنبار", "في الانبار"),  # hamza on alef
        ("الانبار", "في الأنبار"),
        ("إسرائيل", "اسرائيل"),  # hamza under alef
        ("آمنة", "امنه"),  # madda, taa marbuta
        ("حماة", "حماه"),  # taa marbuta vs haa, both ways
        ("حماه", "حماة"),
        ("مصطفى", "مصطفي"),  # alef maqsura vs yaa, both ways
        ("مصطفي", "مصطفى"),
        ("مسؤول", "مسوول"),  # waw with hamza
        ("رئيس", "رييس"),  # yaa with hamza
        ("داعش", "داعـــش"),  # tatweel
        ("داعش", "دَاعِشُ"),  # harakat
        ("دَاعِش", "داعش"),  # harakat in the query
    ],
)
def test_arabic_foldings(query: str, text: str) -> None:
    assert matches(query, text)


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("داعش", "وقال إن لداعش خلايا", True),  # li-
        ("داعش", "وداعش", True),  # wa-
        ("داعش", "بداعش", True),  # bi-
        ("داعش", "فداعش", True),  # fa-
        ("موصل", "في الموصل", True),  # al-
        ("الموصل", "والموصل", True),  # wal- also stands for al-
        ("الموصل", "بالموصل", True),
        ("الموصل", "للموصل", True),  # lil- (li + al- with the alef elided)
        ("موصل", "والموصل", True),
        ("والموصل", "الموصل", False),  # the query side keeps its clitics
        ("لد", "ولد", False),  # stripping would leave fewer than 3 letters
        ("داع*", "لداعش", True),  # a prefix matches the stripped form too
        ("داعش", "داعشي", False),
    ],
)
def test_arabic_proclitics(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


def test_arabic_phrase_with_clitics_and_variants() -> None:
    assert matches('"الدولة الإسلامية"', "وقالت والدولة الاسلامية إن")
    assert matches('"تنظيم داعش"', "إن تنظيم لداعش")
    assert not matches('"الدولة الإسلامية"', "الإسلامية الدولة")


# --- operators ---------------------------------------------------------------------------------

WORDS = ("alpha", "beta", "gamma")
Truth = Callable[[bool, bool, bool], bool]


@pytest.mark.parametrize(
    ("query", "truth"),
    [
        ("alpha AND beta", lambda a, b, c: a and b),
        ("alpha beta", lambda a, b, c: a and b),  # implicit AND
        ("alpha OR beta", lambda a, b, c: a or b),
        ("NOT alpha", lambda a, b, c: not a),
        ("alpha NOT beta", lambda a, b, c: a and not b),
        ("alpha AND NOT beta", lambda a, b, c: a and not b),
        ("alpha OR beta AND gamma", lambda a, b, c: a or (b and c)),  # AND binds tighter
        ("alpha AND beta OR gamma", lambda a, b, c: (a and b) or c),
        ("alpha beta OR gamma", lambda a, b, c: (a and b) or c),  # implicit AND too
        ("alpha OR beta gamma", lambda a, b, c: a or (b and c)),
        ("NOT alpha OR beta", lambda a, b, c: (not a) or b),  # NOT binds tightest
        ("NOT alpha beta", lambda a, b, c: (not a) and b),
        ("NOT (alpha OR beta)", lambda a, b, c: not (a or b)),
        ("(alpha OR beta) gamma", lambda a, b, c: (a or b) and c),
        ("alpha (beta OR gamma)", lambda a, b, c: a and (b or c)),
        ("NOT NOT alpha", lambda a, b, c: a),
        ("((alpha))", lambda a, b, c: a),
        ("alpha OR NOT alpha", lambda a, b, c: True),
        ("alpha NOT alpha", lambda a, b, c: False),
        ("NOT alpha NOT beta NOT gamma", lambda a, b, c: not (a or b or c)),
        ("(alpha OR beta) AND NOT (beta AND gamma)", lambda a, b, c: (a or b) and not (b and c)),
    ],
)
def test_operators_and_precedence(query: str, truth: Truth) -> None:
    parsed = parse_query(query)
    for present in itertools.product([False, True], repeat=3):
        text = " ".join(w for w, p in zip(WORDS, present, strict=True) if p) or "nothing"
        assert (parsed.match(doc(text)) is not None) is truth(*present), (query, present)


def test_lowercase_operators_are_terms() -> None:
    assert matches("war and peace", "war and peace")
    assert not matches("war and peace", "war or peace")
    assert matches("war or peace", "war or peace")
    assert not matches("war or peace", "war")
    assert not matches("war not peace", "war peace")
    assert matches("war not peace", "war not peace")


def test_operators_need_spaces_around_parentheses_only_as_separators() -> None:
    assert matches("(alpha)beta", "alpha beta")
    assert matches('alpha"beta gamma"', "alpha beta gamma")


def test_curly_quotes_are_quotes() -> None:
    assert matches("\u201cIslamic State\u201d", "the Islamic State")
    assert not matches("\u201cIslamic State\u201d", "State Islamic")


# --- fields ------------------------------------------------------------------------------------


def test_source_field_is_exact() -> None:
    assert matches("source:reuters", "x", source="reuters")
    assert not matches("source:reuters", "x", source="reuters-ar")
    assert not matches("source:Reuters", "x", source="reuters")


def test_lang_field_is_case_insensitive_and_ignores_the_region() -> None:
    assert matches("lang:en", "x", language="en")
    assert matches("lang:EN", "x", language="en")
    assert matches("lang:en", "x", language="EN")
    assert matches("lang:en", "x", language="en-GB")
    assert matches("lang:en", "x", language="en_US")
    assert not matches("lang:en", "x", language="ar")
    assert not matches("lang:en", "x", language=None)
    assert matches("NOT lang:en", "x", language=None)


def test_topic_field_and_with_topics() -> None:
    document = doc("attack in Ramadi", topics=["iraq"])
    assert parse_query("topic:iraq").match(document) is not None
    assert parse_query("topic:syria").match(document) is None
    tagged = document.with_topics(["syria", "jihadism"])
    assert tagged.topics == {"iraq", "syria", "jihadism"}
    assert tagged.fields is document.fields and tagged.vocab is document.vocab
    assert parse_query("topic:syria ramadi").match(tagged) is not None
    assert parse_query("topic:syria").match(document) is None  # the original is unchanged


def test_quoted_field_value() -> None:
    document = doc("x").with_topics(["middle east"])
    assert parse_query('topic:"middle east"').match(document) is not None
    assert parse_query('topic:"middle"').match(document) is None


def test_field_names_are_case_insensitive() -> None:
    assert matches("LANG:en Source:reuters", "x", language="en", source="reuters")


def test_fields_combine_with_terms() -> None:
    query = parse_query("(isis OR daesh) lang:en NOT source:rt")
    assert query.match(doc("ISIS", language="en", source="bbc")) is not None
    assert query.match(doc("ISIS", language="en", source="rt")) is None
    assert query.match(doc("ISIS", language="ar", source="bbc")) is None
    assert query.match(doc("nothing", language="en", source="bbc")) is None


# --- QueryMatch and Query.terms ----------------------------------------------------------------


def test_query_match_terms_are_as_written_found_and_in_query_order() -> None:
    query = parse_query('Daesh OR ISIS OR "Islamic  State" OR Anbar* OR isis OR ISIS')
    found = query.match(doc("In Anbari towns the Islamic State, or ISIS, said"))
    assert found == QueryMatch(("ISIS", "Islamic  State", "Anbar*", "isis"))


def test_query_match_terms_exclude_fields_and_negated_terms() -> None:
    query = parse_query("ramadi lang:en NOT (mosul OR NOT anbar)")
    found = query.match(doc("Ramadi, Anbar"))
    assert found is not None and found.terms == ("ramadi", "anbar")  # anbar is under two NOTs


def test_query_match_of_a_field_only_query_has_no_terms() -> None:
    assert parse_query("lang:en").match(doc("x")) == QueryMatch(())
    assert parse_query("NOT mosul").match(doc("x")) == QueryMatch(())


def test_query_terms() -> None:
    query = parse_query('ISIS OR "Islamic State" (Anbar* OR ISIS) NOT Syria NOT NOT Iraq lang:en')
    assert query.terms() == ("ISIS", "Islamic State", "Anbar*", "Iraq")
    assert parse_query("NOT a").terms() == ()


def test_query_keeps_its_text_and_compares_by_it() -> None:
    query = parse_query(" isis  OR daesh ")
    assert query.text == " isis  OR daesh "
    assert query == parse_query(" isis  OR daesh ")
    assert len({query, parse_query(" isis  OR daesh "), parse_query("isis")}) == 2
    with pytest.raises(AttributeError):
        query.text = "x"  # type: ignore[misc]


# --- syntax errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ("", "empty query", 0),
        ("   ", "empty query", 0),
        ("(isis OR daesh", "unbalanced parenthesis", 0),
        ("isis OR (daesh AND (x)", "unbalanced parenthesis", 8),
        ("isis OR daesh)", "unbalanced parenthesis", 13),
        (")", "unbalanced parenthesis", 0),
        ("isis (", "unbalanced parenthesis", 5),
        ("()", "empty parentheses", 0),
        ("isis ( )", "empty parentheses", 5),
        ('isis "Islamic State', "unterminated quote", 5),
        ('"', "unterminated quote", 0),
        ('""', "empty phrase", 0),
        ('isis "  "', "empty phrase", 5),
        ("isis AND NOT", "expected a term after NOT", 9),
        ("isis AND", "expected a term after AND", 5),
        ("isis OR", "expected a term after OR", 5),
        ("isis OR OR daesh", "expected a term after OR", 5),
        ("isis AND OR daesh", "expected a term after AND", 5),
        ("(isis OR)", "expected a term after OR", 6),
        ("NOT", "expected a term after NOT", 0),
        ("AND isis", "expected a term before AND", 0),
        ("OR isis", "expected a term before OR", 0),
        ("(OR isis)", "expected a term before OR", 1),
        ("foo:bar", "unknown field 'foo'", 0),
        ("isis http://example.com", "unknown field 'http'", 5),
        ("at 10:30", "unknown field '10'", 3),
        (":x", "unknown field ''", 0),
        ("topic:", "expected a value after 'topic:'", 0),
        ("isis source: x", "expected a value after 'source:'", 5),
        ("lang:english", "two-letter ISO 639-1 code", 0),
        ("lang:e", "two-letter ISO 639-1 code", 0),
        ("isis ---", "'---' contains no word", 5),
        ("*", "'*' contains no word", 0),
    ],
)
def test_syntax_errors(query: str, message: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    error = caught.value
    assert isinstance(error, ValueError)
    assert message in str(error)
    assert error.position == position
    assert f"at position {position}" in str(error)


def test_unknown_field_error_says_how_to_search_for_a_colon() -> None:
    with pytest.raises(QuerySyntaxError, match="quote text that contains a colon"):
        parse_query("10:30")
    assert matches('"10:30"', "at 10:30 GMT")


@pytest.mark.parametrize(
    "query",
    [
        "(" * 10_000,
        "(" * 10_000 + "x" + ")" * 10_000,
        "NOT " * 10_000 + "x",
        "(NOT " * 5_000 + "x" + ")" * 5_000,
    ],
)
def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(query: str) -> None:
    with pytest.raises(QuerySyntaxError, match=f"nested deeper than {MAX_NESTING} levels"):
        parse_query(query)


def test_nesting_up_to_the_limit_parses_and_matches() -> None:
    query = parse_query("(" * MAX_NESTING + "x" + ")" * MAX_NESTING)
    assert query.match(doc("x")) is not None
    long_chain = parse_query(" OR ".join(f"w{i}" for i in range(5_000)))  # flat, not nested
    assert long_chain.match(doc("w4999")) is not None


# --- RuleSet -----------------------------------------------------------------------------------


def test_ruleset_returns_matching_names_in_insertion_order() -> None:
    rules = {
        "z-iraq": parse_query("ramadi OR mosul"),
        "a-isis": parse_query('isis OR "Islamic State"'),
        "m-none": parse_query("damascus"),
        "b-not": parse_query("NOT damascus"),
        "c-lang": parse_query("lang:en"),
        "d-prefix": parse_query("Anbar*"),
        "e-topic": parse_query("topic:iraq"),
    }
    ruleset = RuleSet(rules)
    assert len(ruleset) == 7
    found = ruleset.match_all(doc("The Islamic State attacked Ramadi in Anbar province"))
    assert list(found) == ["z-iraq", "a-isis", "b-not", "c-lang", "d-prefix"]
    assert found["a-isis"].terms == ("Islamic State",)
    tagged = doc("nothing").with_topics(["iraq"])
    assert list(ruleset.match_all(tagged)) == ["b-not", "c-lang", "e-topic"]


def test_empty_ruleset() -> None:
    assert RuleSet({}).match_all(doc("x")) == {}


def test_ruleset_prefix_rule_after_query_match_uses_no_stale_hint() -> None:
    ruleset = RuleSet({"a": parse_query("anbar*")})
    document = doc("Anbari tribes")
    assert list(ruleset.match_all(document)) == ["a"]
    # The RuleSet told the document which of *its* prefixes it has; other prefixes still work.
    assert parse_query("trib*").match(document) is not None
    assert parse_query("mosu*").match(document) is None
    assert RuleSet({"b": parse_query("trib*")}).match_all(document) == {"b": QueryMatch(("trib*",))}


def test_ruleset_keeps_working_when_it_forgets_words(monkeypatch: pytest.MonkeyPatch) -> None:
    ruleset = RuleSet({"a": parse_query("anbar* OR mosul"), "b": parse_query("ramadi")})
    monkeypatch.setattr(RuleSet, "MAX_REMEMBERED_WORDS", 3)
    for _ in range(3):
        assert list(ruleset.match_all(doc("Mosul and Ramadi and more words here"))) == ["a", "b"]
        assert list(ruleset.match_all(doc("Anbari tribes other words"))) == ["a"]
        assert ruleset.match_all(doc("nothing at all")) == {}


VOCAB = ["isis", "daesh", "islamic", "state", "anbar", "anbari", "ramadi", "iraq", "said",
         "داعش", "لداعش", "الموصل", "والموصل", "موصل"]  # fmt: skip


def _random_query(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 2 or roll < 0.35:
        kind = rng.random()
        word = rng.choice(VOCAB)
        if kind < 0.15:
            return f"{word[: rng.randint(1, len(word))]}*"
        if kind < 0.3:
            return f'"{word} {rng.choice(VOCAB)}"'
        if kind < 0.4:
            return rng.choice(["lang:en", "lang:ar", "source:a", "source:b", "topic:t"])
        return word
    if roll < 0.5:
        return f"NOT {_random_query(rng, depth + 1)}"
    operator = rng.choice([" AND ", " OR ", " "])
    parts = [_random_query(rng, depth + 1) for _ in range(rng.randint(2, 3))]
    return "(" + operator.join(parts) + ")"


def test_ruleset_agrees_with_matching_each_query() -> None:
    rng = random.Random(7)
    queries = {f"q{i}": parse_query(_random_query(rng)) for i in range(300)}
    ruleset = RuleSet(queries)
    for _ in range(200):
        text = " ".join(rng.choices(VOCAB, k=rng.randint(0, 8)))
        title = " ".join(rng.choices(VOCAB, k=rng.randint(0, 3))) or None
        document = doc(
            text, title=title, source=rng.choice("ab"), language=rng.choice(["en", "ar"])
        )
        if rng.random() < 0.3:
            document = document.with_topics(["t"])
        expected = {name: m for name, q in queries.items() if (m := q.match(document)) is not None}
        assert ruleset.match_all(document) == expected
        assert list(ruleset.match_all(document)) == list(expected)


# --- highlighting and snippets -----------------------------------------------------------------


def _marked(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[start:end] for start, end in spans]


def test_highlight_spans_of_a_query() -> None:
    text = "The Islamic State (ISIS) said Anbari tribes... islamic fighters; State media."
    query = parse_query('"Islamic State" OR ISIS OR Anbar* NOT Damascus')
    assert _marked(text, highlight_spans(text, query)) == ["Islamic State", "ISIS", "Anbari"]


def test_highlight_spans_of_terms_from_a_match() -> None:
    text = "Daesh, also called the Islamic State"
    found = parse_query('"Islamic State" OR Daesh').match(doc(text))
    assert found is not None
    assert _marked(text, highlight_spans(text, found.terms)) == ["Daesh", "Islamic State"]
    assert _marked(text, highlight_spans(text, "daesh")) == ["Daesh"]
    assert highlight_spans(text, ["---", "mosul"]) == []


def test_highlight_spans_skip_negated_terms_and_merge_overlaps() -> None:
    text = "the Islamic State of Iraq"
    query = parse_query('"Islamic State" OR "State of Iraq" NOT the')
    assert highlight_spans(text, query) == [(4, 25)]


def test_highlight_spans_offsets_in_arabic_with_harakat() -> None:
    text = "قَالَ مسؤولٌ إِنَّ لِداعِشَ خلايا في والمَوْصِل"
    spans = highlight_spans(text, parse_query("داعش OR الموصل"))
    assert _marked(text, spans) == ["لِداعِشَ", "والمَوْصِل"]


def test_highlight_spans_with_full_width_and_phrase() -> None:
    text = "ＩＳＩＳ and al-Qaeda"
    assert _marked(text, highlight_spans(text, parse_query("isis al-qaeda"))) == [
        "ＩＳＩＳ",
        "al-Qaeda",
    ]


LONG = (
    "Officials said on Monday that reconstruction in the province had stalled for months. "
    "Residents described long queues for water and fuel. "
    "In a statement, the Islamic State claimed the attack on the checkpoint near Ramadi, "
    "which killed four soldiers. Security forces later closed the main road to the city "
    "and began searching nearby farms, a police spokesman said."
)


def test_snippet_marks_the_first_match_in_a_window() -> None:
    result = snippet(LONG, parse_query('"Islamic State" OR Ramadi'), width=120)
    assert "**Islamic State**" in result
    assert result.startswith("…") and result.endswith("…")
    assert len(result) <= 120 + 2 + 4 * 2  # width, two ellipses, the marks
    body = result.strip("…")
    assert LONG.replace("**", "").find(body.replace("**", "")) >= 0  # cut at word boundaries


def test_snippet_marks_every_match_inside_the_window() -> None:
    result = snippet(LONG, parse_query('"Islamic State" OR Ramadi'), width=200)
    assert "**Islamic State**" in result and "**Ramadi**" in result


def test_snippet_falls_back_to_the_start_of_the_text() -> None:
    result = snippet(LONG, parse_query("Damascus"), width=60)
    assert result.startswith("Officials said on Monday")
    assert result.endswith("…") and "**" not in result
    assert len(result) <= 61


def test_snippet_of_a_short_text_is_the_whole_text() -> None:
    assert snippet("ISIS claimed it.", parse_query("isis")) == "**ISIS** claimed it."
    assert snippet("", parse_query("isis")) == ""


def test_snippet_custom_mark_and_whitespace() -> None:
    text = "First line.\n\nThe   Islamic\nState said."
    result = snippet(text, parse_query('"islamic state"'), mark=lambda s: f"<b>{s}</b>")
    assert result == "First line. The <b>Islamic State</b> said."


def test_snippet_match_near_the_end() -> None:
    result = snippet(LONG, parse_query("spokesman"), width=80)
    assert result.startswith("…") and not result.endswith("…")
    assert "**spokesman**" in result


def test_snippet_arabic() -> None:
    text = "قال مسؤول أمني إن عناصر من لِداعِشَ هاجموا نقطة تفتيش قرب الرمادي"
    result = snippet(text, parse_query("داعش"), width=40)
    assert "**لِداعِشَ**" in result


def test_query_type_is_exported() -> None:
    assert isinstance(parse_query("x"), Query)
