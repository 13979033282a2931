"""textnorm: the one definition of a "word" shared by the query matcher and the dedup."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsmon import textnorm
from newsmon.textnorm import arabic_variants, normalize, tokenize, tokenize_with_offsets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Islamic STATE", "islamic state"),
        ("Straße", "strasse"),  # case folding, not lower()
        ("ＩＳＩＳ", "isis"),  # full-width letters (NFKC)
        ("ﬁghters", "fighters"),  # ligature (NFKC)
        ("أحمد إبراهيم آمنة ٱلله", "احمد ابراهيم امنه الله"),  # hamza/madda/wasla alef, taa marbuta
        ("مؤتمر", "موتمر"),  # waw with hamza
        ("رئيس", "رييس"),  # yeh with hamza
        ("مصطفى", "مصطفي"),  # alef maqsura
        ("مدينة", "مدينه"),  # taa marbuta
        ("داعـــش", "داعش"),  # tatweel
        ("دَاعِشُ", "داعش"),  # harakat
        ("یک کتاب", "يك كتاب"),  # Farsi yeh and keheh
        ("٢٠٢٤ ۱۹", "2024 19"),  # Arabic-Indic and Persian digits
        ("co\u00adoperate", "cooperate"),  # soft hyphen
        ("a\u200bb\u200f", "ab"),  # zero-width space, bidi mark
        ("al-Qaeda's, (ISIS)!", "al-qaeda's, (isis)!"),  # punctuation and spacing kept
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_tokenize_splits_on_punctuation_hyphens_and_apostrophes() -> None:
    assert tokenize("The Islamic State's fighters, counter-terrorism (2024)") == [
        "the", "islamic", "state", "s", "fighters", "counter", "terrorism", "2024",
    ]  # fmt: skip
    assert tokenize("snake_case") == ["snake", "case"]
    assert tokenize("") == []
    assert tokenize(" ,.;— ") == []


def test_tokenize_arabic() -> None:
    assert tokenize("قالَ مسؤولٌ إنّ «داعش» هاجم الموصل.") == [
        "قال", "مسوول", "ان", "داعش", "هاجم", "الموصل",
    ]  # fmt: skip


def test_tokenize_with_offsets_points_into_the_original() -> None:
    text = "The ＩＳＩＳ attack"
    tokens = tokenize_with_offsets(text)
    assert [t.norm for t in tokens] == ["the", "isis", "attack"]
    assert [text[t.start : t.end] for t in tokens] == ["The", "ＩＳＩＳ", "attack"]


def test_tokenize_with_offsets_keeps_arabic_words_with_harakat_whole() -> None:
    # Harakat are combining marks, not \w: they must not split a word (the bug fixed alongside
    # newsmon.rules.query), else highlighting and tokenize() would disagree.
    text = "قَالَ الرَّئِيسُ إِنَّ لِداعِشَ"
    tokens = tokenize_with_offsets(text)
    assert [t.norm for t in tokens] == tokenize(text) == ["قال", "الرييس", "ان", "لداعش"]
    assert [text[t.start : t.end] for t in tokens] == ["قَالَ", "الرَّئِيسُ", "إِنَّ", "لِداعِشَ"]


def test_tokenize_with_offsets_decomposed_accents_and_soft_hyphens() -> None:
    text = "cafe\u0301 co\u00adoperate"
    tokens = tokenize_with_offsets(text)
    assert [t.norm for t in tokens] == tokenize(text) == ["café", "cooperate"]
    assert [(t.start, t.end) for t in tokens] == [(0, 5), (6, 16)]


def test_tokenize_with_offsets_character_that_normalises_to_several_words() -> None:
    # NFKC turns U+2474 (a letter-like digit) into "(1)": the words around it split, and all
    # parts keep the span of the word as written.
    tokens = tokenize_with_offsets("x\u2474y")
    assert [t.norm for t in tokens] == ["x", "1", "y"]
    assert {(t.start, t.end) for t in tokens} == {(0, 3)}


@pytest.mark.parametrize(
    ("word", "variants"),
    [
        ("والموصل", ("موصل", "الموصل")),
        ("بالموصل", ("موصل", "الموصل")),
        ("للموصل", ("موصل", "الموصل", "لموصل")),
        ("الموصل", ("موصل",)),
        ("لداعش", ("داعش",)),
        ("وداعش", ("داعش",)),
        ("ولد", ()),  # stripping would leave fewer than 3 letters
        ("الله", ()),
        ("isis", ()),
        ("", ()),
    ],
)
def test_arabic_variants(word: str, variants: tuple[str, ...]) -> None:
    assert arabic_variants(word) == variants


def _reference_normalize(text: str) -> str:
    """normalize() as first written, with str.translate: the faster version must agree."""
    text = unicodedata.normalize("NFKC", text)
    text = textnorm._REMOVED.sub("", text)
    return text.casefold().translate(textnorm._TRANSLATION)


_TEXTISH = st.text(
    alphabet=st.sampled_from(
        list("abcXYZ019 _-'.,()\n")
        + list("ابتةىأإآؤئيولكفـ")
        + ["\u064e", "\u0650", "\u0651", "\u0670", "\u00ad", "\u200b", "\u200f", "\u0301"]
        + list("٠١٩۰۹ＡﬁŒß")
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_normalize_agrees_with_the_translate_reference(text: str) -> None:
    assert normalize(text) == _reference_normalize(text)


@settings(max_examples=300, deadline=None)
@given(_TEXTISH)
def test_tokenize_and_offsets_agree(text: str) -> None:
    tokens = tokenize_with_offsets(text)
    assert [t.norm for t in tokens] == tokenize(text)
    for token in tokens:
        assert 0 <= token.start < token.end <= len(text)
        assert token.norm in tokenize(text[token.start : token.end])


def _reference_arabic_variants(word: str) -> tuple[str, ...]:
    """arabic_variants() as first written (an Arabic-letter test first): the cached one with its
    shortcut on the first letter must agree."""
    if not word or not re.match("[\u0621-\u064a]", word):
        return ()
    variants: list[str] = []
    for clitic in textnorm.ARABIC_PROCLITICS:
        if word.startswith(clitic) and len(word) - len(clitic) >= 3:
            stem = word[len(clitic) :]
            if stem not in variants:
                variants.append(stem)
            stacked = (clitic.endswith("ال") and clitic != "ال") or clitic == "لل"
            if stacked and "ال" + stem not in variants:
                variants.append("ال" + stem)
    return tuple(v for v in variants if v != word)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("والفبكلمصدعشيهxa1ـ")), max_size=9))
def test_arabic_variants_agree_with_the_reference(word: str) -> None:
    assert arabic_variants(word) == _reference_arabic_variants(word)
    assert arabic_variants(word) == arabic_variants.__wrapped__(word)  # cached or not
