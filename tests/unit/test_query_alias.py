"""`alias:ID` in the query language: any name of a gazetteer entry, in English or Arabic."""

from __future__ import annotations

import pytest

from newsmon.rules.matching import prepare_document
from newsmon.rules.query import QuerySyntaxError, parse_query
from newsmon.rules.ruleset import RuleSet


def doc(title: str) -> object:
    return prepare_document(title=title, text="", source="wire", language=None)


@pytest.mark.parametrize(
    "title",
    [
        "Daesh attack in al-Anbar",
        "Islamic State cell broken up in Anbar",
        "هجوم لداعش في الأنبار",
        "خلايا الدولة الإسلامية في الانبار",  # hamza spelt without, the name as a phrase
    ],
)
def test_alias_matches_every_name_in_both_languages(title: str) -> None:
    query = parse_query("alias:isis AND alias:anbar")
    assert query.match(doc(title)) is not None  # type: ignore[arg-type]


def test_alias_is_not_a_loose_word_match() -> None:
    query = parse_query("alias:isis")
    assert query.match(doc("Islamic scholars meet in Najaf")) is None  # type: ignore[arg-type]
    assert query.match(doc("The state budget")) is None  # type: ignore[arg-type]


def test_alias_works_in_a_rule_set_with_other_rules() -> None:
    rules = RuleSet({"pmf": parse_query("alias:pmf"), "other": parse_query("oil")})
    matched = rules.match_all(doc("الحشد الشعبي يطلق عملية في سامراء"))  # type: ignore[arg-type]
    assert set(matched) == {"pmf"}


def test_unknown_alias_is_a_clear_error() -> None:
    with pytest.raises(QuerySyntaxError, match="unknown alias 'nowhere'"):
        parse_query("ISIS AND alias:nowhere")
