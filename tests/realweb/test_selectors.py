"""The fast prune selectors (newsmon.extract.selectors) on the 500 real pages of the extraction
dev set: the same elements as trafilatura's XPath on every page, as parsed and as trafilatura's
cleaning leaves it, and the same extraction, field by field, with them and without them."""

from __future__ import annotations

import warnings
from copy import deepcopy
from pathlib import Path

import pytest

from newsmon.extract import selectors
from newsmon.extract.page import ExtractionError, extract_page, parse_html
from newsmon.records import Extracted

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _pages(corpora: Path) -> dict[str, str]:
    folder = corpora / "extraction" / "html"
    return {
        path.stem: path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(folder.glob("*.html"))
    }


def test_same_elements_as_trafilaturas_xpath_on_every_page(corpora: Path) -> None:
    from trafilatura.htmlprocessing import convert_tags, tree_cleaning
    from trafilatura.settings import Extractor

    options = Extractor(output_format="txt", precision=True, comments=False)
    replaced = selectors.fast_selectors()
    assert len(replaced) == len(selectors._ORIGINALS)
    selected = [0] * len(replaced)
    pages = _pages(corpora)
    assert len(pages) == 500
    for key, html in pages.items():
        tree = parse_html(html)
        if tree is None:
            continue
        cleaned = convert_tags(tree_cleaning(deepcopy(tree), options), options)
        for position, (_, _, fast) in enumerate(replaced):
            for context in (tree, cleaned):
                expected = list(fast.original(context))
                assert fast(context) == expected, f"{key}: {fast.path}"
                selected[position] += len(expected)
    assert all(selected), selected


def test_same_extraction_with_and_without_them_on_every_page(corpora: Path) -> None:
    def extract_all() -> dict[str, Extracted | str]:
        results: dict[str, Extracted | str] = {}
        for key, html in pages.items():
            try:
                results[key] = extract_page(html, f"https://example.com/{key}")
            except ExtractionError as err:
                results[key] = str(err)
        return results

    pages = _pages(corpora)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        fast = extract_all()
        assert selectors.install() == len(selectors._ORIGINALS)
        with selectors.trafilatura_own_selectors():
            own = extract_all()
    different = [key for key in pages if fast[key] != own[key]]
    assert not different
    assert sum(isinstance(result, Extracted) for result in fast.values()) > 450
