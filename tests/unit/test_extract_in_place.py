"""trafilatura working on newsmon's own tree (`page.bare_extraction_in_place`): the extraction is
what it was when trafilatura copied the tree first (on the fixture pages; promos are judged on the
tree as trafilatura leaves it), trafilatura's module is left as it was, and a trafilatura that
loads its input otherwise still extracts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
import trafilatura
from lxml.html import HtmlElement
from trafilatura import core

from newsmon.extract import page
from newsmon.extract.page import TRAFILATURA_OPTIONS, ExtractionError, extract_page, parse_html
from tests.pages import WIRE_PARAGRAPHS, article_page
from tests.unit.test_extract import ARTICLES, EXPECTED, load

COMMENTS = (
    '<div class="comments"><p>Reader one: a long comment about the news, with enough words to'
    " count as text that is not the article.</p></div>"
)


def _page_with_comments() -> str:
    page_html = article_page("Drone strike near Qaim", WIRE_PARAGRAPHS)
    return page_html.replace("</article>", COMMENTS + "</article>")


def _results(names: list[str]) -> list[object]:
    results: list[object] = []
    for name in names:
        for call in ({}, {"published_at": datetime(2026, 1, 1, tzinfo=UTC), "author": "Feed"}):
            try:
                found = extract_page(load(name), f"https://outlet.example/{name}", **call)
                results.append(dataclasses.astuple(found))
            except ExtractionError as err:
                results.append(str(err))
    return results


def test_same_extraction_as_when_trafilatura_copied_the_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = sorted(EXPECTED)
    ours = _results(names)
    # The earlier way: trafilatura given the tree, which it copies before its first step.
    monkeypatch.setattr(page, "bare_extraction_in_place", trafilatura.bare_extraction)
    assert ours == _results(names)
    assert sum(isinstance(result, tuple) for result in ours) >= 2 * len(ARTICLES)


def test_trafilatura_works_on_the_tree_itself_and_its_loader_is_put_back() -> None:
    tree = parse_html(_page_with_comments())
    assert tree is not None
    loader = core.load_html
    document = page.bare_extraction_in_place(tree, **TRAFILATURA_OPTIONS)
    assert core.load_html is loader
    assert WIRE_PARAGRAPHS[0][:40] in document.text
    assert "Reader one" not in document.text
    # Pruned from this very tree (no copy was made): the comment section is gone.
    assert not tree.xpath('//div[@class="comments"]')
    fresh = parse_html(_page_with_comments())
    assert fresh is not None
    assert document.text == trafilatura.bare_extraction(fresh, **TRAFILATURA_OPTIONS).text


def test_loader_is_put_back_when_trafilatura_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = core.load_html

    def failing(filecontent: Any, **options: Any) -> None:
        core.load_html(filecontent)
        raise RuntimeError("trafilatura broke")

    monkeypatch.setattr(core, "bare_extraction", failing)
    tree = parse_html(_page_with_comments())
    assert tree is not None
    with pytest.raises(RuntimeError, match="trafilatura broke"):
        page.bare_extraction_in_place(tree, **TRAFILATURA_OPTIONS)
    assert core.load_html is loader


def test_a_trafilatura_that_loads_its_input_otherwise_still_extracts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = core.bare_extraction

    def other_version(filecontent: Any, **options: Any) -> Any:
        # Accepts trees and markup only, without going through `load_html`.
        if not isinstance(filecontent, HtmlElement | str):
            return None
        return original(filecontent, **options)

    monkeypatch.setattr(core, "bare_extraction", other_version)
    tree = parse_html(_page_with_comments())
    assert tree is not None
    document = page.bare_extraction_in_place(tree, **TRAFILATURA_OPTIONS)
    assert document is not None and "Reader one" not in document.text
    assert WIRE_PARAGRAPHS[0][:40] in document.text


def test_a_block_is_judged_as_promo_without_the_comment_section_trafilatura_pruned() -> None:
    """Promos are judged on the tree trafilatura leaves: a short line of mostly link text is a
    promo even where the page had nested a comment section inside its block (with the comments
    counted, the block was too long to judge and the line stayed in the text)."""
    promo = "drought threatens the wheat harvest across Nineveh this year"
    comments = '<div class="comments"><p>' + " ".join(["reader"] * 40) + "</p></div>"
    block = f'<ul><li>Background on the region, <a href="/r1">{promo}</a>{comments}</li></ul>'
    html = article_page("Drone strike near Qaim", WIRE_PARAGRAPHS)
    second = html.index("</p>", html.index("</p>") + 4) + 4
    found = extract_page(html[:second] + block + html[second:], "https://outlet.example/a")
    assert "drought" not in found.text
    assert "reader" not in found.text
    assert WIRE_PARAGRAPHS[2][:40] in found.text
