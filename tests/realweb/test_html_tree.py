"""newsmon's parse (extract/html_tree.py) on the 500 real pages of the extraction dev set: the same
tree and the same class for every node as trafilatura's parse, and the same extraction, field by
field, called the ways the pipeline calls it, with either parse; and the same extraction whether
trafilatura works on newsmon's tree itself or on a copy of it."""

from __future__ import annotations

import dataclasses
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lxml.etree
import lxml.html
import pytest
from trafilatura import utils

from newsmon.extract import html_tree, page
from newsmon.extract.page import ExtractionError, extract_page

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
FEED_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def _pages(corpora: Path) -> dict[str, str]:
    folder = corpora / "extraction" / "html"
    return {
        path.stem: path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(folder.glob("*.html"))
    }


def _extract_all(pages: dict[str, str], calls: list[dict[str, Any]]) -> list[object]:
    """Every page extracted once per call: its fields, or the refusal's message."""
    results: list[object] = []
    for key, html in pages.items():
        for call in calls:
            try:
                found = extract_page(html, f"https://example.com/{key}", **call)
                results.append(dataclasses.astuple(found))
            except ExtractionError as err:
                results.append(str(err))
    return results


def test_same_tree_and_node_classes_on_every_page(corpora: Path) -> None:
    pages = _pages(corpora)
    assert len(pages) == 500
    for key, html in pages.items():
        theirs, ours = utils.load_html(html), html_tree.load_html(html)
        if theirs is None:
            assert ours is None, key
            continue
        assert ours is not None, key
        serialised = lxml.etree.tostring(ours.getroottree())
        assert serialised == lxml.etree.tostring(theirs.getroottree()), key
        classes = [(node.tag, type(node)) for node in ours.iter()]
        assert classes == [(node.tag, type(node)) for node in theirs.iter()], key


def test_same_extraction_with_trafilaturas_parse(
    corpora: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = _pages(corpora)
    calls: list[dict[str, Any]] = [
        {},
        {"published_at": FEED_DATE, "language_hint": "en"},
        {"published_at": FEED_DATE, "author": "Feed Author"},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ours = _extract_all(pages, calls)
        monkeypatch.setattr(page, "load_html", utils.load_html)
        monkeypatch.setattr(
            page, "_fallback_parser", lambda: lxml.html.HTMLParser(encoding="utf-8")
        )
        theirs = _extract_all(pages, calls)
    assert ours == theirs
    assert sum(isinstance(result, tuple) for result in ours) > 3 * 450


def test_same_extraction_as_when_trafilatura_copied_the_tree(
    corpora: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trafilatura works on newsmon's tree itself and prunes it (`page.bare_extraction_in_place`):
    every field as when it copied the tree first and newsmon read an intact one afterwards."""
    import trafilatura

    pages = _pages(corpora)
    calls: list[dict[str, Any]] = [{}, {"published_at": FEED_DATE, "author": "Feed Author"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ours = _extract_all(pages, calls)
        monkeypatch.setattr(page, "bare_extraction_in_place", trafilatura.bare_extraction)
        theirs = _extract_all(pages, calls)
    assert ours == theirs
    assert sum(isinstance(result, tuple) for result in ours) > 2 * 450
