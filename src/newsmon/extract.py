"""Clean text and metadata from an article page (trafilatura).

Runs use it through newsmon.extraction_pool, which extracts in worker processes under a time limit.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from typing import Any

from newsmon.records import Extracted

# trafilatura with these options scored F1 0.964 (defaults 0.953) on a 181-page news benchmark.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "favor_precision": True,
    "with_metadata": True,
    "include_tables": True,
    # Full timestamps, and the original publication date rather than a "last updated" one.
    "date_extraction_params": {
        "extensive_search": True,
        "original_date": True,
        "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    },
}
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([a-zA-Z]{2,3})\b", re.IGNORECASE)
_SAMPLE_CHARS = 2000  # enough text for a confident language guess, cheap to classify
# Fewer words than this is a menu or a caption, not an article (two-sentence briefs have ~30).
MIN_ARTICLE_WORDS = 12
# og:type values that say a page is not one article (section fronts, tag pages, home pages).
_NOT_ARTICLE_TYPES = {"website", "profile", "blog", "video.other", "product"}


class ExtractionError(Exception):
    """A page had no article text that could be extracted."""


def extract_page(
    html: str, url: str | None = None, *, language_hint: str | None = None
) -> Extracted:
    """Extract one page: text without menus, teasers and comments, plus title/date/author/language."""
    import trafilatura
    from trafilatura.settings import Document

    with warnings.catch_warnings():
        # lxml's element truth-testing FutureWarning from inside trafilatura: not actionable here.
        warnings.simplefilter("ignore", FutureWarning)
        document = trafilatura.bare_extraction(html, url=url, **TRAFILATURA_OPTIONS)
    if not isinstance(document, Document) or not (document.text or "").strip():
        raise ExtractionError("no article text found on the page")
    body: str = document.text or ""
    if (document.pagetype or "").lower() in _NOT_ARTICLE_TYPES:
        raise ExtractionError(
            f"no article text found: the page declares og:type={document.pagetype} (an index page?)"
        )
    words = len(body.split())
    if words < MIN_ARTICLE_WORDS:
        raise ExtractionError(f"no article text found: only {words} words outside the clutter")
    title = _clean(document.title)
    text = _strip_leading_title(body, title)
    return Extracted(
        title=title,
        text=text,
        published_at=parse_timestamp(document.date),
        author=_clean(document.author),
        language=detect_language(html, text, hint=language_hint),
        canonical_url=document.url if document.url and document.url != url else None,
    )


def detect_language(html: str, text: str, *, hint: str | None = None) -> str | None:
    """ISO 639-1 code: the page's own <html lang>, else a classifier over the text, else the hint."""
    declared = _HTML_LANG.search(html[:4096])
    if declared:
        return declared.group(1)[:2].lower()
    sample = text[:_SAMPLE_CHARS]
    if len(sample) >= 40:
        import py3langid

        code, _score = py3langid.classify(sample)
        return str(code)
    return hint


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


def __getattr__(name: str) -> object:
    # The worker pool moved to newsmon.extraction_pool (it imports this module, hence lazily).
    if name in ("PageExtractor", "PAGE_TIMEOUT_S"):
        from newsmon import extraction_pool

        return getattr(extraction_pool, name)
    raise AttributeError(name)
