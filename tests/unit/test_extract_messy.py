"""Messy pages written for the project (tests/fixtures/pages_messy): every stored field right.

Each class here was stored wrong before: articles refused for their declared type, a relative
canonical ignored, a guessed 1 January date, a Persian or Kurdish page stored as Arabic (or as the
non-ISO `sdh`), and in-body promos that raised false topics and alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsmon.config.loading import load_config
from newsmon.extract.language import ISO_639_1, detect_language, iso_639_1
from newsmon.extract.page import ExtractionError, extract_page
from newsmon.extract.promos import drop_promo_lines
from newsmon.extract.textdates import read_date
from newsmon.records import FeedEntry, Page
from newsmon.rules.prepare import Rules, make_draft

PAGES = Path(__file__).parents[1] / "fixtures" / "pages_messy"
CONFIG_DIR = Path(__file__).parents[2] / "config"
FETCHED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def load(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def squash(text: str) -> str:
    return " ".join(text.split())


def page(url: str, html: str = "", *, published_at: datetime | None = None) -> Page:
    entry = FeedEntry(source="wire", url=url, published_at=published_at)
    return Page(entry=entry, final_url=url, status=200, html=html, fetched_at=FETCHED)


# --- page type: a linked page is an article unless the evidence is strong -----------------------


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        (
            "en_og_website_article.html",
            "The old iron bridge linking the two banks of Mosul reopened to cars on Monday",
        ),
        (
            "ar_jsonld_searchbox_article.html",
            "افتتحت بلدية الرمادي، صباح اليوم الخميس، سوقاً جديدة لبيع الخضار",
        ),
    ],
)
def test_article_declaring_a_site_type_is_extracted(name: str, sentence: str) -> None:
    result = extract_page(load(name), "https://example.org/news/1")
    assert sentence in squash(result.text)


def test_section_front_is_refused_with_the_evidence_it_really_has() -> None:
    html = (Path(__file__).parents[1] / "fixtures" / "pages" / "no_article.html").read_text()
    with pytest.raises(ExtractionError) as refused:
        extract_page(html, None)
    assert "og:type=website" in str(refused.value)
    assert "5 linked headlines" in str(refused.value)


def test_search_box_json_ld_is_never_reported_as_og_type() -> None:
    html = load("ar_jsonld_searchbox_article.html").replace(
        "<main>",
        "<main>" + "".join(f'<h2><a href="/n/{i}">خبر رقم {i} عن السوق</a></h2>' for i in range(4)),
    )
    extract_page(html, None)  # WebSite JSON-LD is a site's search box: no evidence at all


# --- canonical ----------------------------------------------------------------------------------


def test_relative_canonical_is_resolved_against_the_final_url() -> None:
    query_url = "https://gulf.example/article.php?id=4521&ref=rss"
    clean_url = "https://gulf.example/news/2026/11/basra-power-cuts-return"
    html = load("en_canonical_relative.html")
    first = make_draft(page(query_url, html), extract_page(html, query_url))
    second = make_draft(page(clean_url, html), extract_page(html, clean_url))
    assert first.canonical_url == clean_url
    assert second.canonical_url == clean_url


def test_relative_canonical_reaching_make_draft_unresolved_is_resolved_there() -> None:
    from newsmon.records import Extracted

    extracted = Extracted(title="t", text="x " * 20, canonical_url="/news/2026/11/slug")
    draft = make_draft(page("https://w.example/a.php?id=1"), extracted)
    assert draft.canonical_url == "https://w.example/news/2026/11/slug"


# --- dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "published"),
    [
        ("ar_date_in_text.html", datetime(2026, 11, 27, 16, 56, tzinfo=UTC)),
        ("ar_date_levantine.html", datetime(2026, 11, 3, 7, 15, tzinfo=UTC)),  # 10:15 Damascus
        ("ar_no_date.html", None),  # only "© 2026": no date, never 2026-01-01
    ],
)
def test_arabic_date_in_text_is_read_and_never_guessed(
    name: str, published: datetime | None
) -> None:
    assert extract_page(load(name), None).published_at == published


def test_feed_date_still_comes_first() -> None:
    html = load("ar_date_in_text.html")
    feed_date = datetime(2026, 11, 27, 13, 50, tzinfo=UTC)
    draft = make_draft(
        page("https://r.example/a", html, published_at=feed_date),
        extract_page(html, None),
    )
    assert draft.published_at == feed_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("تاريخ النشر: 27 نوفمبر 2026 الساعة 16:56", datetime(2026, 11, 27, 16, 56, tzinfo=UTC)),
        ("٢٧ تشرين الثاني ٢٠٢٦ ٠٤:٥٦ م بتوقيت بغداد", datetime(2026, 11, 27, 13, 56, tzinfo=UTC)),
        ("الخميس ١٢ آذار/مارس ٢٠٢٦", datetime(2026, 3, 12, tzinfo=UTC)),
        ("1 كانون الثاني 2026 - 09:00 (GMT+3)", datetime(2026, 1, 1, 6, 0, tzinfo=UTC)),
        ("٢٧/١١/٢٠٢٦ - ١١:٣٠ ص", datetime(2026, 11, 27, 11, 30, tzinfo=UTC)),
        ("15 جوان 2026", datetime(2026, 6, 15, tzinfo=UTC)),
        (
            "Published November 27, 2026 at 4:56 pm +03:00",
            datetime(2026, 11, 27, 13, 56, tzinfo=UTC),
        ),
        ("03/04/2026", None),  # March or April? not a guess we make on an English page
        ("31 فبراير 2026", None),
        ("كانون الثاني 2026", None),  # a month is not a date
        ("© 2026", None),
    ],
)
def test_read_date(text: str, expected: datetime | None) -> None:
    assert read_date(text) == expected


# --- language -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hint", "language"),
    [
        ("fa_lang_ar.html", None, "fa"),  # Persian under <html lang="ar">
        ("fa_lang_ar.html", "ar", "fa"),  # ... and from a source hinted ar
        ("ckb_lang_ar.html", "ar", "ku"),  # Sorani Kurdish under lang="ar"
        ("ckb_unlabelled.html", None, "ku"),  # no label: was the non-ISO "sdh"
        ("ar_lang_en.html", "en", "ar"),  # Arabic under lang="en"
    ],
)
def test_language_follows_the_text_not_the_label(
    name: str, hint: str | None, language: str
) -> None:
    assert extract_page(load(name), None, language_hint=hint).language == language


def test_label_decides_when_the_text_is_too_short_or_close() -> None:
    assert detect_language("short", label="ar-IQ", hint="en") == "ar"
    assert detect_language("", label=None, hint="fa") == "fa"
    assert detect_language("", label="ckb", hint=None) == "ku"
    norwegian = "Regjeringen la fram statsbudsjettet for neste år i Stortinget i dag."
    assert detect_language(norwegian, label="nb") == "nb"


@given(
    st.text(max_size=300),
    st.one_of(st.none(), st.text(max_size=12)),
    st.one_of(st.none(), st.text(max_size=12)),
)
def test_detected_language_is_always_iso_639_1_or_none(
    text: str, label: str | None, hint: str | None
) -> None:
    found = detect_language(text, label=label, hint=hint)
    assert found is None or found in ISO_639_1


@given(st.sampled_from(["sdh", "ckb", "kmr", "ary", "arz", "acm", "apc", "zxx", "uzs", "pcm"]))
def test_every_classifier_or_label_code_maps_into_iso_639_1(code: str) -> None:
    assert iso_639_1(code) is None or iso_639_1(code) in ISO_639_1


# --- in-body promos -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        (
            "en_economy_promos.html",
            [
                "Farmers in the western province of Anbar are replacing flood irrigation",
                "A drip line uses a third of the water and half of the diesel for the pumps",
                "after a record harvest left the state silos nearly full.",
                "before the spring planting season.",
            ],
        ),
        (
            "ar_culture_promos.html",
            [
                "انطلقت في مدينة الرمادي، مساء اليوم الأربعاء، فعاليات مهرجان الشعر الشعبي",
                "وأضاف أن المهرجان يهدف إلى إعادة الحياة الثقافية إلى المدينة",
                "بحفل لتوزيع الجوائز على الفائزين في مسابقة القصيدة الشعبية.",
            ],
        ),
    ],
)
def test_in_body_promos_raise_no_false_topic_or_alert(name: str, kept: list[str]) -> None:
    rules = Rules(load_config(CONFIG_DIR))
    html = load(name)
    draft = make_draft(
        page("https://culture.example/a", html),
        extract_page(html, None),
    )
    topics, alerts = rules.match(draft)
    assert "counter-terrorism" not in topics, draft.text
    assert alerts == {}, draft.text
    for sentence in kept:
        assert sentence in squash(draft.text)


def test_promo_lines_are_dropped_but_prose_mentioning_reading_is_kept() -> None:
    text = "\n".join(
        [
            "Read more: Islamic State attacks on Anbar farmers rise",
            "اقرأ أيضاً: مقتل ثلاثة من عناصر داعش",
            "Readers said the report was read more widely than expected.",
        ]
    )
    assert drop_promo_lines(text) == "Readers said the report was read more widely than expected."


_LINE_PARTS = ["word", "كلمة", "a_b", "x1", " ", "  ", "\xa0", "\t", "-", "*", "•", "·", ",", "—"]


@given(st.lists(st.lists(st.sampled_from(_LINE_PARTS), max_size=160), max_size=4))
def test_short_lines_are_the_lines_of_at_most_the_promo_word_limit(lines: list[list[str]]) -> None:
    """Lines are counted only up to the first word past the limit, on the line as it is: the
    same lines as counting every word of each keyed line."""
    from newsmon.extract.promos import _WORD, MAX_PROMO_WORDS, _line_key, _short_lines

    text = "\n".join("".join(parts) for parts in lines)
    keys = [_line_key(line) for line in text.split("\n")]
    expected = [key for key in keys if key and len(_WORD.findall(key)) <= MAX_PROMO_WORDS]
    assert _short_lines(text) == expected


def test_the_sites_today_is_not_the_articles_date() -> None:
    from newsmon.extract.page import parse_html
    from newsmon.extract.textdates import published_from_text

    html = (
        '<html><body><div class="date-today">الأحد 6 كانون الأول 2026</div>'
        '<div class="last-update">آخر تحديث: 5 كانون الأول 2026</div>'
        "<p>نص الخبر بلا تاريخ</p></body></html>"
    )
    tree = parse_html(html)
    assert tree is not None
    assert published_from_text(tree) is None


@given(
    st.text(alphabet="0123456789٠١٢٣٤٥٦٧٨٩:/-., صمpamنوفمبرتشرينالثانيبتوقيتبغدادGMT+", max_size=80)
)
def test_read_date_never_fails_and_is_utc_or_none(text: str) -> None:
    found = read_date(text)
    assert found is None or (found.tzinfo is UTC and found.year >= 1995)


def test_a_title_the_page_never_closes_does_not_swallow_the_article() -> None:
    """A page whose <title> is never closed: a parser reads the rest of it as the title's text."""
    from tests.pages import WIRE_PARAGRAPHS, article_page

    page = article_page("Army clears villages near Rutba", WIRE_PARAGRAPHS)
    broken = page.replace("</title>", "</titlevalue>", 1)
    assert "</title>" not in broken.lower()
    extracted = extract_page(broken, "https://wire.example/news/rutba")
    assert WIRE_PARAGRAPHS[0][:60] in extracted.text
