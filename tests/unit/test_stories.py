"""Stories, pure parts: the gazetteer matcher, headline+lead features, the decision, updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsmon.config.models import AlertConfig, StoryUpdates
from newsmon.stories.assign import StoryCandidate, decide_story, similarity
from newsmon.stories.features import StoryFeatures, story_features
from newsmon.stories.gazetteer import GazetteerError, load_gazetteer, packaged_gazetteer
from newsmon.stories.updates import update_reason
from newsmon.textnorm import tokenize

GAZ = packaged_gazetteer()
T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)


def found(text: str) -> list[str]:
    return [m.entry for m in GAZ.find(tokenize(text))]


def feats(title: str, text: str = "", lang: str = "en") -> StoryFeatures:
    return story_features(title=title, text=text, language=lang, gazetteer=GAZ)


def test_names_match_in_both_languages_with_arabic_proclitics_and_spelling_variants() -> None:
    assert found("Daesh remnants in the Anbar desert") == ["isis", "anbar"]
    assert found("فلول داعش في صحراء الانبار") == ["isis", "anbar"]  # hamza dropped
    assert found("وبالأنبار هجوم لتنظيم الدولة") == ["anbar", "isis"]  # wa-bi-al- joined
    assert found("مقاتلي الحشد الشعبي قرب الرطبة") == ["pmf", "rutba"]
    assert found("Wadi al-Tharthar") == ["wadi-tharthar"]  # longest name wins over "Tharthar"


def test_common_words_are_not_names() -> None:
    # "IS" and "Hit" are English words: the gazetteer lists them only with context.
    assert found("This is a hit song") == []
    assert found("the town of Hit was quiet") == ["hit"]


def test_a_town_lies_in_its_province() -> None:
    assert GAZ.ancestors("rutba") == ("anbar", "iraq")


def test_a_gazetteer_in_the_config_folder_adds_entries(tmp_path: Path) -> None:
    (tmp_path / "gazetteer.yaml").write_text(
        "entries:\n  - {id: nukhaib, kind: place, within: anbar, names: [Nukhaib, النخيب]}\n",
        encoding="utf-8",
    )
    gazetteer = load_gazetteer(tmp_path)
    assert [m.entry for m in gazetteer.find(tokenize("قرب النخيب"))] == ["nukhaib"]
    assert "isis" in gazetteer.entries  # the packaged entries stay


def test_an_invalid_gazetteer_names_the_file_and_the_entry(tmp_path: Path) -> None:
    (tmp_path / "gazetteer.yaml").write_text(
        "entries:\n  - {id: x, kind: river, names: [X]}\n", encoding="utf-8"
    )
    with pytest.raises(GazetteerError, match=r"gazetteer.yaml: entry 'x': kind must be"):
        load_gazetteer(tmp_path)


def test_features_read_headline_and_lead_only() -> None:
    lead = "Officials met on Monday to discuss the budget. " * 10
    late = "Separately, ISIS fighters attacked a post in Rutba."
    f = feats("Budget talks continue", lead + late)
    assert "e:isis" not in f.entities and not f.places


def test_translation_pair_scores_above_the_join_threshold_without_shared_words() -> None:
    en = feats(
        "Ten ISIS militants killed in Wadi al-Tharthar",
        "Iraqi forces killed 10 Daesh militants in Anbar.",
    )
    ar = feats(
        "مقتل 10 إرهابيين من داعش في وادي الثرثار", "قتلت القوات 10 من داعش في الأنبار.", "ar"
    )
    assert not en.terms & ar.terms
    assert similarity(en, ar, days_apart=0) >= 0.45


def test_same_template_in_another_town_is_another_story() -> None:
    rutba = feats(
        "Security forces kill 4 militants in Rutba", "Forces killed 4 ISIS militants near Rutba."
    )
    qaim = feats(
        "Security forces kill 4 militants in al-Qaim",
        "Forces killed 4 ISIS militants near al-Qaim.",
    )
    assert similarity(rutba, qaim, days_apart=0) == 0.0


def test_time_decays_the_score() -> None:
    a = feats("ISIS attack in Rutba", "ISIS attacked an army post in Rutba, Anbar.")
    b = feats("ISIS attack near Rutba", "ISIS fighters attacked a post near Rutba in Anbar.")
    assert (
        similarity(a, b, days_apart=0)
        > similarity(a, b, days_apart=4)
        > similarity(a, b, days_apart=6)
    )


def test_an_article_linking_two_stories_merges_them_into_the_oldest() -> None:
    f = feats("ISIS attack in Rutba", "ISIS attacked an army post in Rutba, Anbar.")
    candidates = [
        StoryCandidate(7, 7, f, T0),
        StoryCandidate(3, 3, f, T0 - timedelta(hours=1)),
    ]
    decision = decide_story(f, T0 + timedelta(hours=1), candidates)
    assert decision.story_id == 3 and decision.merge == (7,)


def test_candidates_beyond_the_window_are_ignored() -> None:
    f = feats("ISIS attack in Rutba", "ISIS attacked an army post in Rutba, Anbar.")
    assert decide_story(f, T0 + timedelta(days=8), [StoryCandidate(1, 1, f, T0)]).story_id is None


def test_features_survive_storage_as_json() -> None:
    f = feats("Ten ISIS militants killed in Wadi al-Tharthar", "Iraqi forces killed 10 militants.")
    assert StoryFeatures.from_json(f.to_json()) == f


def test_update_reasons_and_their_cap() -> None:
    policy = StoryUpdates(new_language=True, new_outlet=True, every_articles=5, max_updates=2)
    args = {
        "languages": {"en"},
        "outlets": {"wire"},
        "articles": 2,
        "source": "wire",
        "updates_sent": 0,
    }
    assert update_reason(policy, language="ar", **args) == "language:ar"  # type: ignore[arg-type]
    assert update_reason(policy, language="en", **{**args, "source": "herald"}) == "outlet:herald"  # type: ignore[arg-type]
    assert update_reason(policy, language="en", **{**args, "articles": 4}) == "articles:5"  # type: ignore[arg-type]
    assert update_reason(policy, language="en", **args) is None  # type: ignore[arg-type]
    assert update_reason(policy, language="ar", **{**args, "updates_sent": 2}) is None  # type: ignore[arg-type]


def test_updates_need_once_per_story() -> None:
    with pytest.raises(ValueError, match="once_per: story"):
        AlertConfig(name="x", query="Anbar", updates=StoryUpdates(new_language=True))
    assert AlertConfig(name="x", query="Anbar").once_per == "cluster"


def test_a_shared_place_alone_does_not_link_two_languages() -> None:
    # Found on the demo site: a feature on smuggling and a drone strike, both in Albu Kamal.
    en = feats(
        "In Albu Kamal, smugglers work the night", "Smugglers cross near Albu Kamal at night."
    )
    ar = feats(
        "غارة بطائرة مسيرة تستهدف سيارة في ريف البوكمال",
        "استهدفت طائرة مسيرة سيارة في ريف البوكمال.",
        "ar",
    )
    assert similarity(en, ar, days_apart=0) == 0.0


def test_naming_the_same_countries_is_not_a_story() -> None:
    a = feats("Syria's central bank tightens rules", "Syria and Iraq traders react.")
    b = feats(
        "Iraq and Syria agree to coordinate patrols", "Iraq and Syria will patrol the border."
    )
    assert not a.entities and not b.entities
    assert similarity(a, b, days_apart=0) < 0.45


def test_the_run_digest_lists_stories_with_their_languages() -> None:
    from newsmon.alerts.digest import render_digest, story_section

    story = {
        "id": 11,
        "headline": "IS attack kills four soldiers [Anbar]",
        "articles": [11, 13, 14],
        "outlets": ["alrafidain-news", "levant-wire"],
        "languages": ["ar", "en"],
        "new_articles": 2,
    }
    markdown = render_digest("run", None, [], extra_sections={"Stories": story_section([story])})
    assert "## Stories" in markdown
    assert (
        "- IS attack kills four soldiers \\[Anbar\\]: 3 articles (2 new), 2 outlets "
        "(alrafidain-news, levant-wire), languages ar, en"
    ) in markdown.replace("\\(", "(").replace("\\)", ")")


def test_an_invalid_gazetteer_in_the_config_folder_refuses_the_config(tmp_path: Path) -> None:
    from newsmon.config.loading import ConfigError, load_config

    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: wire\n    url: https://wire.example/rss\n", encoding="utf-8"
    )
    (tmp_path / "gazetteer.yaml").write_text(
        "entries:\n  - {id: Bad Id, kind: place, names: [X]}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"gazetteer.yaml: entry 1: id must be"):
        load_config(tmp_path)
