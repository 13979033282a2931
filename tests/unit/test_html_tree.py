"""newsmon's parse (extract/html_tree.py) makes the same tree as trafilatura's, with the same
Python class for every node, and extraction gives the same fields with either parse.

tests/realweb/test_html_tree.py does the same on the 500 pages of the extraction dev set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import lxml.etree
import lxml.html
import pytest
from trafilatura import utils

from newsmon.extract import html_tree, page
from newsmon.extract.page import ExtractionError, extract_page, parse_html

FIXTURES = Path(__file__).parents[1] / "fixtures"
FORMS = (
    "<!DOCTYPE html><html><head><title>t</title><?php echo 1 ?></head><body><!-- c -->"
    "<form action='/s'><label>Name <input name=q></label><select><option>1</option></select>"
    "<textarea>x</textarea><FORM><INPUT></FORM></form><svg:rect/><p>caf&eacute; &amp; "
    "&#169;</p><Label>L</Label><div><section>s</section></div></body></html>"
)


def fixture_pages() -> Iterator[str]:
    for folder in ("pages", "pages_messy"):
        for path in sorted((FIXTURES / folder).glob("*.html")):
            yield path.read_text(encoding="utf-8", errors="replace")
    yield FORMS


def node_classes(tree: lxml.html.HtmlElement) -> list[tuple[str, type]]:
    nodes = [tree, *tree.iterdescendants()]
    return [(str(node.tag), type(node)) for node in nodes]


@pytest.mark.parametrize("html", list(fixture_pages()))
def test_the_same_tree_and_node_classes_as_trafilaturas_parse(html: str) -> None:
    theirs = utils.load_html(html)
    ours = html_tree.load_html(html)
    assert theirs is not None and ours is not None
    assert lxml.etree.tostring(ours.getroottree()) == lxml.etree.tostring(theirs.getroottree())
    assert node_classes(ours) == node_classes(theirs)
    # Again, once the first walk's objects are gone: lxml makes them anew, looking classes up again.
    assert node_classes(ours) == node_classes(theirs)
    assert utils.HTML_PARSER.__class__ is lxml.html.HTMLParser  # trafilatura's put back


def test_form_elements_keep_their_classes() -> None:
    tree = html_tree.load_html(FORMS)
    assert tree is not None
    classes = {str(node.tag): type(node).__name__ for node in tree.iter()}
    assert classes["form"] == "FormElement"
    assert classes["input"] == "InputElement"
    assert classes["label"] == "LabelElement"
    assert classes["select"] == "SelectElement"
    assert classes["textarea"] == "TextareaElement"
    assert classes["p"] == "HtmlElement"


def test_trafilaturas_parser_is_left_as_it_was() -> None:
    own = utils.HTML_PARSER
    html_tree.load_html(FORMS)
    assert utils.HTML_PARSER is own
    assert html_tree._same_options(own)
    assert not html_tree._same_options(lxml.html.HTMLParser(encoding="utf-8"))


def test_a_page_trafilatura_refuses_is_parsed_by_the_fallback_parser_alike() -> None:
    html = "<!-- a comment first, and more than fifty characters --><p>Only a paragraph here.</p>"
    assert utils.load_html(html) is None
    ours = parse_html(html)
    theirs = lxml.html.document_fromstring(
        html.encode(), parser=lxml.html.HTMLParser(encoding="utf-8")
    )
    assert ours is not None
    assert lxml.etree.tostring(ours) == lxml.etree.tostring(theirs)
    assert node_classes(ours) == node_classes(theirs)


def test_same_extraction_with_trafilaturas_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def extract_all() -> list[object]:
        results: list[object] = []
        for html in fixture_pages():
            try:
                results.append(dataclasses.astuple(extract_page(html, "https://example.com/a")))
            except ExtractionError as err:
                results.append(str(err))
        return results

    ours = extract_all()
    monkeypatch.setattr(page, "load_html", utils.load_html)
    monkeypatch.setattr(page, "_fallback_parser", lambda: lxml.html.HTMLParser(encoding="utf-8"))
    assert extract_all() == ours


def test_the_repair_removes_the_same_characters() -> None:
    invalid = html_tree._InvalidXmlChars(utils.INVALID_XML_CHARS)
    assert utils.INVALID_XML_CHARS.pattern == html_tree._INVALID_XML_CHARS_PATTERN
    every = [chr(code) for code in range(0x10000)] + ["\U0001f600"]
    assert "".join(c for c in every if utils.INVALID_XML_CHARS.match(c)) == (
        html_tree._INVALID_XML_CHARS
    )
    for char in every:
        text = f"<p>a{char}b\u00e9\u062a</p>"
        assert invalid.sub("", text) == utils.INVALID_XML_CHARS.sub("", text)
    page = "<html><body><p>\x00caf\x0c\u00e9\ufffe\uffff</p></body></html>"
    assert invalid.sub("", page) == utils.INVALID_XML_CHARS.sub("", page)
    html_tree.load_html(page)
    assert utils.INVALID_XML_CHARS is not invalid and utils.INVALID_XML_CHARS.pattern
    assert isinstance(utils.INVALID_XML_CHARS, type(invalid._pattern))  # trafilatura's put back
