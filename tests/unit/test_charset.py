"""Which encoding to believe: labels that fit the bytes, else the bytes among plausible code pages.

Pages and feeds written for the project: Arabic (windows-1256, ISO-8859-6), Portuguese and German
(windows-1252 / Latin-1), and UTF-8 with a stray byte.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import feedparser
import pytest

from newsmon.fetch.charset import choose_encoding, decode_body, decode_text
from newsmon.fetch.feeds import parse_feed

ARABIC = "مقتل ثلاثة من عناصر داعش في الأنبار، وأعلنت قيادة العمليات المشتركة تفاصيل العملية"
PORTUGUESE = "Ibope: simulações de 2º turno; inquérito sobre a votação em São Paulo"
GERMAN = "Die Bundesregierung prüft größere Maßnahmen gegen Überschwemmungen"


def page(body_text: str, meta: str | None = None) -> str:
    head = f'<meta charset="{meta}">' if meta else ""
    return f"<html><head>{head}<title>t</title></head><body><p>{body_text}</p></body></html>"


# --- pages: a wrong header does not beat the bytes (issue 17, item 2) --------------------------


def test_windows_1256_page_under_a_utf8_header_reads_by_its_meta(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = page(ARABIC, meta="windows-1256").encode("cp1256")
    with caplog.at_level(logging.WARNING, logger="newsmon.fetch.charset"):
        decoded = decode_text(
            body, content_type="text/html; charset=utf-8", where="http://news.test/a"
        )
    assert ARABIC in decoded.text
    assert "\ufffd" not in decoded.text
    assert decoded.encoding == "cp1256"
    assert caplog.messages == [
        "http://news.test/a: declared utf_8 (from the header) does not decode the bytes cleanly;"
        " read as cp1256"
    ]


def test_windows_1256_page_under_a_utf8_header_without_meta_is_detected() -> None:
    body = page(ARABIC).encode("cp1256")
    assert ARABIC in decode_body(body, content_type="text/html; charset=utf-8")


def test_iso_8859_6_page_under_a_utf8_header_is_detected() -> None:
    body = page(ARABIC).encode("iso-8859-6")
    assert ARABIC in decode_body(body, content_type="text/html; charset=utf-8")


@pytest.mark.parametrize("text", [PORTUGUESE, GERMAN])
def test_western_european_page_under_a_utf8_header(text: str) -> None:
    with_meta = page(text, meta="iso-8859-1").encode("cp1252")
    assert text in decode_body(with_meta, content_type="text/html; charset=utf-8")
    without_meta = page(text).encode("cp1252")
    assert text in decode_body(without_meta, content_type="text/html; charset=utf-8")


def test_utf8_page_with_a_stray_byte_stays_utf8_despite_a_false_meta() -> None:
    body = page(ARABIC + " " + PORTUGUESE, meta="windows-1256").encode()
    body = body.replace(" 2º".encode(), b" \xff2\xc2\xba")  # one byte no encoder wrote
    text = decode_body(body, content_type="text/html; charset=utf-8")
    assert ARABIC in text
    assert "\ufffd2º turno" in text
    assert text.count("\ufffd") == 1


def test_english_utf8_page_with_one_curly_quote_and_a_stray_byte_stays_utf8() -> None:
    body = (
        page("The minister\u2019s statement \xff was read out")
        .encode()
        .replace("\xff".encode(), b"\xff")
    )
    text = decode_body(body, content_type="text/html; charset=utf-8")
    assert "minister\u2019s statement \ufffd was" in text


# --- pages: the cases that were already right stay right --------------------------------------


def test_no_header_reads_the_meta() -> None:
    assert ARABIC in decode_body(page(ARABIC, meta="windows-1256").encode("cp1256"))


def test_header_only_iso_8859_6() -> None:
    body = page(ARABIC).encode("iso-8859-6")
    assert ARABIC in decode_body(body, content_type="text/html; charset=ISO-8859-6")


def test_bom_beats_a_contrary_header() -> None:
    body = "\ufeff".encode() + page(PORTUGUESE).encode()
    assert PORTUGUESE in decode_body(body, content_type="text/html; charset=windows-1256")


def test_a_header_that_fits_is_believed_without_a_note() -> None:
    body = page(GERMAN).encode("cp1252")
    assert choose_encoding(body, content_type="text/html; charset=ISO-8859-1") == ("cp1252", None)


# --- feeds: never worse than feedparser (issue 11, item 3) ------------------------------------


def rss(titles: list[str], declaration: str = "") -> str:
    items = "".join(
        f"<item><title>{t}</title><link>http://news.test/{n}</link></item>"
        for n, t in enumerate(titles)
    )
    return f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>c</title>{items}</channel></rss>'


TITLES = [PORTUGUESE, GERMAN, "Ação policial em Pernambuco", "Crônica: o país que não lê"]


def feed_titles(body: bytes, content_type: str | None = None) -> list[str | None]:
    headers = {"Content-Type": content_type} if content_type else {}
    entries = parse_feed(body, source="s", url="http://news.test/rss", headers=headers)
    return [e.title for e in entries]


def feedparser_titles(body: bytes) -> list[str]:
    parsed = feedparser.parse(io.BytesIO(body))
    return [e.title for e in parsed.entries]


def test_latin1_feed_without_declaration_reads_as_feedparser_reads_it() -> None:
    body = rss(TITLES).encode("latin-1")
    assert feedparser_titles(body) == TITLES  # the reference
    assert feed_titles(body) == TITLES
    assert feed_titles(body, "application/rss+xml") == TITLES
    assert feed_titles(body, "text/xml") == TITLES


def test_utf8_feed_with_one_stray_byte_keeps_every_other_character() -> None:
    body = rss(TITLES).encode().replace("Crônica".encode(), b"Cr\xff\xc3\xb4nica")
    assert feed_titles(body) == [*TITLES[:3], "Cr\ufffdônica: o país que não lê"]


def test_feed_without_declaration_in_utf8_or_windows_1256() -> None:
    assert feed_titles(rss(TITLES).encode()) == TITLES
    assert feed_titles(rss([ARABIC]).encode("cp1256")) == [ARABIC]
    assert feed_titles(rss([ARABIC]).encode("cp1256"), "application/rss+xml") == [ARABIC]


# --- the text is the body read in the chosen encoding, however it was reached ------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LABELS = [
    None,
    "text/html",
    "text/html; charset=utf-8",
    "text/html; charset=iso-8859-1",
    "text/html; charset=windows-1256",
    "text/html; charset=utf-16",
    "text/html; charset=no-such-label",
]


def bodies() -> list[bytes]:
    """The fixture pages and feeds, and made-up pages whose labels fit or do not."""
    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix in {".html", ".xml", ".rss"})
    made = [
        page(ARABIC, meta="windows-1256").encode("cp1256"),
        page(ARABIC, meta="utf-8").encode("cp1256"),
        page(PORTUGUESE, meta="iso-8859-1").encode("utf-8"),
        page(GERMAN).encode("latin-1"),
        page(GERMAN + " \u201cquoted\u201d").encode("utf-8") + b"\xff",
        "\ufeff".encode() + page(ARABIC).encode("utf-8"),
    ]
    return [p.read_bytes() for p in files] + made


@pytest.mark.parametrize("content_type", LABELS)
def test_the_text_is_the_body_read_in_the_chosen_encoding(content_type: str | None) -> None:
    """decode_text reuses the strict decode that proved a label fits: it must be the very text a
    decode in the chosen encoding gives, and the encoding and note those of choose_encoding."""
    for body in bodies():
        decoded = decode_text(body, content_type=content_type)
        encoding, note = choose_encoding(body, content_type=content_type)
        assert (decoded.encoding, decoded.overruled) == (encoding, note)
        assert decoded.text == body.decode(encoding, errors="replace")
