"""Clean text and metadata from an article page (trafilatura).

Runs use it through newsmon.extract.pool, which extracts in worker processes under a time limit.
"""

from __future__ import annotations

import functools
import re
import threading
import warnings
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from newsmon.extract import language
from newsmon.extract.fallback_text import fallback_text
from newsmon.extract.html_tree import html_parser, load_html
from newsmon.extract.page_metadata import read_metadata
from newsmon.extract.pagetype import page_kind
from newsmon.extract.promos import drop_promo_lines, promo_texts
from newsmon.extract.readability_candidates import install as install_readability_candidates
from newsmon.extract.selectors import install as install_fast_selectors
from newsmon.extract.textdates import published_from_text
from newsmon.records import Extracted

# trafilatura with these options scored F1 0.964 (defaults 0.953) on a 181-page news benchmark.
# Metadata is read apart (page_metadata), only what the feed entry did not give.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "favor_precision": True,
    "with_metadata": False,
    "include_tables": True,
    # Full timestamps, and the original publication date rather than a "last updated" one.
    "date_extraction_params": {
        "extensive_search": True,
        "original_date": True,
        "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    },
}
# What htmldate's last resorts return (day 1 at midnight, no zone): a guess until confirmed.
_GUESSED = re.compile(r"\d{4}-\d{2}-01T00:00:00")
_STRUCTURED_DATE_SEARCH: dict[str, Any] = {
    **TRAFILATURA_OPTIONS["date_extraction_params"],
    "extensive_search": False,
}
_HTML_LANG = re.compile(
    r"<html\b[^>]*?\blang\s*=\s*[\"']?([a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{1,8})*)", re.IGNORECASE
)
# Fewer words than this is a menu or a caption, not an article (two-sentence briefs have ~30).
MIN_ARTICLE_WORDS = 12


class ExtractionError(Exception):
    """A page had no article text that could be extracted."""


def extract_page(
    html: str,
    url: str | None = None,
    *,
    language_hint: str | None = None,
    published_at: datetime | None = None,
    author: str | None = None,
) -> Extracted:
    """Extract one page: text without menus, teasers and comments, plus title/date/author/language.

    `published_at` and `author` are what the feed entry already says. Given a date, the page is
    not searched for one (the date search is the costliest part of extraction) and the date is
    returned as given. Given an author, the page's body is not searched for a byline, but an
    author its metadata declares is still preferred. The title is always the page's own: it is
    preferred to the feed's when stored, and the body's first line is compared with it to drop a
    repeated headline.
    """
    from trafilatura.settings import Document

    _install_fast_selectors()
    tree = parse_html(html)
    if tree is None:
        raise ExtractionError("no article text found: the page could not be parsed as HTML")
    kind = page_kind(tree)  # read before promos are dropped: teaser lists are made of links
    if kind.is_index:
        raise ExtractionError(f"no article text found: {kind.reason()}")
    with warnings.catch_warnings():
        # lxml's element truth-testing FutureWarning from inside trafilatura: not actionable here.
        warnings.simplefilter("ignore", FutureWarning)
        # Before the text: trafilatura read its metadata first, on the tree its text comes from.
        meta = read_metadata(
            tree,
            url,
            date_params=TRAFILATURA_OPTIONS["date_extraction_params"],
            find_author=author is None,
            find_date=published_at is None,
        )
        # Read before the text: trafilatura works on this very tree and prunes it (below).
        canonical = _declared_canonical(tree, url, fallback=meta.url)
        published = published_at or _published_at(meta.date, tree)
        document = bare_extraction_in_place(tree, url=url or meta.url, **TRAFILATURA_OPTIONS)
    title = meta.title
    if not isinstance(document, Document):
        # trafilatura discarded the page: the fallback text starts at the page's own headline,
        # so the title to compare its first line with is the <h1> (below), not og:title.
        document, title = Document(), None
    body: str = document.text or ""
    if not body.strip():
        # trafilatura found no body; the page is still an article (the feed links to it). The
        # fallback reads the page as parsed, not as trafilatura left it (rare: parsed again).
        reparsed = parse_html(html)
        tree = tree if reparsed is None else reparsed
        body = fallback_text(html, tree, language=language.iso_639_1(language_hint))
        if not body.strip():
            raise ExtractionError("no article text found on the page")
        title = title or _page_title(tree)
    words = len(body.split())
    if words < MIN_ARTICLE_WORDS:
        raise ExtractionError(f"no article text found: only {words} words outside the clutter")
    title = _clean(title)
    # Promos are read on the page (where their links are) for the lines of this text alone, on
    # the tree as trafilatura left it: without the comment sections and appended articles it
    # pruned, which none of the text came from.
    text = _strip_leading_title(drop_promo_lines(body, promo_texts(tree, body)), title)
    return Extracted(
        title=title,
        text=text,
        published_at=published,
        author=_clean(meta.author) or author,
        language=detect_language(html, text, hint=language_hint),
        canonical_url=canonical,
    )


def bare_extraction_in_place(tree: HtmlElement, **options: Any) -> Any:
    """`trafilatura.bare_extraction(tree, **options)` on `tree` itself: trafilatura copies a tree
    it is given before its first step (~0.2 ms a 66 KB page, a twentieth of its own work), then
    copies it again for each step that changes it; only its first step changes the tree itself
    (it prunes comment sections and appended articles). Its `load_html` hands it the tree for
    the duration of the call (one call at a time in a process: the extraction processes are
    single-threaded, the lock is for any other caller); a trafilatura that no longer loads its
    input that way gets the tree as usual.
    """
    from trafilatura import core

    with _LOADER_SWAP:
        loader = getattr(core, "load_html", None)
        if loader is None:
            return core.bare_extraction(tree, **options)
        given = _TreeHandle()

        def load_html(htmlobject: Any, max_size: int | None = None) -> Any:
            if htmlobject is given:
                given.loaded = True
                return tree
            return loader(htmlobject, max_size)

        core.load_html = load_html
        try:
            document = core.bare_extraction(given, **options)
        finally:
            core.load_html = loader
    return document if given.loaded else core.bare_extraction(tree, **options)


_LOADER_SWAP = threading.Lock()


class _TreeHandle:
    """What `bare_extraction_in_place` passes for the tree (not an HTML input trafilatura knows)."""

    loaded = False


@functools.cache
def _install_fast_selectors() -> int:
    """Once per process, on first use: trafilatura's slowest selectors, same elements in less time
    (extract/selectors.py), and readability's walk for unlikely candidates
    (extract/readability_candidates.py)."""
    install_readability_candidates()
    return install_fast_selectors()


def _declared_canonical(tree: HtmlElement, url: str | None, *, fallback: str | None) -> str | None:
    """The page's <link rel=canonical>, resolved against the page's URL (and <base>) when relative.

    trafilatura resolves a relative canonical only against an og: URL and otherwise drops it, so a
    page at `/article.php?id=N&ref=rss` declaring `/news/2026/11/slug` kept its query URL. Whether
    the canonical may be trusted (same site) is decided where it is applied (prepare.make_draft).
    """
    canonical = fallback
    # `//link[rel ~= canonical]/@href` walked in Python: the XPath took ~0.3 ms a page.
    links = (link.get("href") for link in tree.iter("link") if _is_canonical(link.get("rel")))
    href = next((str(h).strip() for h in links if h is not None and str(h).strip()), None)
    if href is not None:
        bases = (base.get("href") for base in tree.iter("base"))
        base = next((str(b).strip() for b in bases if b is not None and str(b).strip()), None)
        if url is not None:
            canonical = urljoin(urljoin(url, base) if base else url, href)
        elif urlsplit(href).scheme in ("http", "https"):
            canonical = href
    return canonical if canonical and canonical != url else None


# XML whitespace, as XPath's normalize-space() splits (not Unicode's, as str.split() does).
_XML_SPACE = re.compile("[ \t\r\n]+")


def _is_canonical(rel: str | None) -> bool:
    """Whether a rel attribute lists "canonical" (its letters compared in either case)."""
    if not rel:
        return False
    return "canonical" in _XML_SPACE.split(rel.translate(_CANONICAL_CASE))


_CANONICAL_CASE = str.maketrans("CANONIL", "canonil")


def _published_at(found: str | None, tree: HtmlElement) -> datetime | None:
    """trafilatura's date unless it is a guess; else a date the page states in words; else None.

    With extensive search, htmldate's last resorts return the copyright year or a year-month as
    the 1st at midnight (`2026-01-01T00:00:00`). Such a value is kept only if a search of the
    page's structured data alone (metadata, <time>, URL) finds the same date.
    """
    published = parse_timestamp(found)
    if published is not None and not _GUESSED.fullmatch(found or ""):
        return published
    from htmldate import find_date

    structured = parse_timestamp(find_date(tree, **_STRUCTURED_DATE_SEARCH))
    if structured is not None:
        return structured
    return published_from_text(tree)


def _page_title(tree: HtmlElement) -> str | None:
    """The page's <h1>, else its <title> (what trafilatura would have read, when it read nothing)."""
    for path in ("//h1", "//title"):
        for element in tree.xpath(path)[:1]:
            text = " ".join(element.text_content().split())
            if text:
                return text
    return None


def parse_html(html: str) -> HtmlElement | None:
    """The page as an lxml tree, as trafilatura parses it; None if there is no document at all.
    (Its element objects are made without a Python call each: extract/html_tree.py.)

    trafilatura refuses a document whose first 50 characters do not say "html" (a broken
    doctype, a page starting with a comment); a page served as text/html is parsed anyway.
    """
    html = _close_unclosed_title(html)
    tree = load_html(html)
    if tree is None and html.strip():
        try:
            tree = lxml.html.document_fromstring(
                html.encode("utf-8", "replace"), parser=_fallback_parser()
            )
        except (ValueError, lxml.etree.ParserError):
            return None
    return tree


@functools.cache
def _fallback_parser() -> lxml.html.HTMLParser:
    return html_parser(encoding="utf-8")


_TITLE_OPEN = re.compile(r"<title\b[^>]*>", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title\s*>", re.IGNORECASE)


def _close_unclosed_title(html: str) -> str:
    """Close a <title> the page never closes, at the first tag after it.

    A parser reads everything after an unclosed <title> as the title's text (its content model is
    raw text), so the whole article vanished into the title: 2 of the 500 pages of the extraction
    dev set, with human gold text, that plain trafilatura also returns nothing for.
    """
    opened = _TITLE_OPEN.search(html, 0, 65536)
    if opened is None or _TITLE_CLOSE.search(html, opened.end()):
        return html
    next_tag = html.find("<", opened.end())
    if next_tag < 0:
        return html
    return html[:next_tag] + "</title>" + html[next_tag:]


def detect_language(html: str, text: str, *, hint: str | None = None) -> str | None:
    """ISO 639-1 code or None: the text's language, weighed against <html lang> and the hint."""
    declared = _HTML_LANG.search(html[:4096])
    return language.detect_language(text, label=declared.group(1) if declared else None, hint=hint)


def parse_timestamp(value: str | None) -> datetime | None:
    """An ISO date or timestamp from metadata -> aware UTC datetime (a bare date means 00:00 UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def _strip_leading_title(text: str, title: str | None) -> str:
    """Drop the headline when the body repeats it as its first line (it is stored as the title)."""
    text = text.strip()
    if title:
        first, _, rest = text.partition("\n")
        if " ".join(first.split()) == title and rest.strip():
            return rest.strip()
    return text
