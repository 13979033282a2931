"""lxml.html trees whose element classes are chosen in C: the same classes, without a Python call
each time lxml makes an element object.

lxml.html's parsers pick the class of every node (`HtmlElement`, `FormElement`, `HtmlComment`...)
with `HtmlElementClassLookup.lookup`, a Python method that lxml calls whenever it makes a Python
object for a node: on every `iter()`, `xpath()` result, child access and copy, again each time a
node's object has been freed. On the benchmark's pages that was ~2,200 calls a page and 1.3 ms of
the 8.3 ms CPU of a whole extraction (trafilatura, readability, newsmon's own walks). lxml's C
lookups (`ElementNamespaceClassLookup` over `ElementDefaultClassLookup`) give the same classes:
the tag-specific ones by name, `HtmlElement` for any other element, lxml.html's comment,
processing-instruction and entity classes. The one difference, by construction: lxml.html lowers
a tag's case before looking it up and ignores its namespace, the C lookup does neither; an HTML
parser lowers every tag and gives none a namespace, and the tags trafilatura creates are lowercase
without one, so no element on a parsed page is looked up under an upper-case or namespaced name of
those five (form, input, label, select, textarea). tests/unit/test_html_tree.py checks the class of
every node of generated and fixture pages, tests/realweb/test_html_tree.py of all 500 dev-set
pages, and the whole extraction field by field.

Only newsmon's own parse uses it: plain trafilatura (the limit newsmon is measured against) keeps
its parser.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lxml.etree
import lxml.html
from lxml.html import HtmlElement


def html_class_lookup() -> lxml.etree.ElementNamespaceClassLookup:
    """lxml.html's element classes (`HtmlElementClassLookup`'s defaults), chosen in C."""
    lookup = lxml.etree.ElementNamespaceClassLookup(
        lxml.etree.ElementDefaultClassLookup(
            element=lxml.html.HtmlElement,
            comment=lxml.html.HtmlComment,
            pi=lxml.html.HtmlProcessingInstruction,
            entity=lxml.html.HtmlEntity,
        )
    )
    by_tag = lookup.get_namespace(None)
    by_tag.update(lxml.html.HtmlElementClassLookup._default_element_classes)
    return lookup


def html_parser(**options: Any) -> lxml.html.HTMLParser:
    """An `lxml.html.HTMLParser(**options)` with the C lookup."""
    parser = lxml.html.HTMLParser(**options)
    parser.set_element_class_lookup(html_class_lookup())
    return parser


# trafilatura.utils.HTML_PARSER's options (trafilatura 2.3.1), checked against it when used.
_TRAFILATURA_OPTIONS: dict[str, Any] = {
    "collect_ids": False,
    "default_doctype": False,
    "encoding": "utf-8",
    "remove_comments": True,
    "remove_pis": True,
}
_PARSERS: dict[str, lxml.html.HTMLParser] = {}


def _trafilatura_parser() -> lxml.html.HTMLParser:
    parser = _PARSERS.get("trafilatura")
    if parser is None:
        parser = _PARSERS["trafilatura"] = html_parser(**_TRAFILATURA_OPTIONS)
    return parser


@contextmanager
def _parsing_with(parser: lxml.html.HTMLParser) -> Iterator[None]:
    from trafilatura import utils as trafilatura_utils

    # As a plain module object: mypy would hold the stand-in pattern to re.Pattern's type.
    utils: Any = trafilatura_utils
    own_parser, own_invalid = utils.HTML_PARSER, utils.INVALID_XML_CHARS
    utils.HTML_PARSER = parser
    if own_invalid.pattern == _INVALID_XML_CHARS_PATTERN:
        utils.INVALID_XML_CHARS = _InvalidXmlChars(own_invalid)
    try:
        yield
    finally:
        utils.HTML_PARSER, utils.INVALID_XML_CHARS = own_parser, own_invalid


# trafilatura.utils.INVALID_XML_CHARS (2.3.1): the characters its repair removes from a page.
_INVALID_XML_CHARS_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
_INVALID_XML_CHARS = (
    "".join(map(chr, (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)))) + "\ufffe\uffff"
)


class _InvalidXmlChars:
    """trafilatura's pattern for its repair's `.sub("", page)`, which returns the page unchanged
    without scanning it with the regular expression when none of the characters is in it (nearly
    every page: 1 of the 500 dev-set pages has one). A search for each character in turn is ~3x
    faster than the expression's scan of the page (0.08 against 0.22 ms on a 68 KB page)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern

    def sub(self, replacement: str, text: str) -> str:
        if not any(char in text for char in _INVALID_XML_CHARS):
            return text
        return self._pattern.sub(replacement, text)


def load_html(html: str) -> HtmlElement | None:
    """`trafilatura.utils.load_html(html)`, parsed with the same options and the C lookup.

    trafilatura's own function runs (its repairs, checks and second pass), with its module's
    parser swapped for the duration: the worker processes are single-threaded.
    """
    from trafilatura import utils

    if not _same_options(utils.HTML_PARSER):
        return utils.load_html(html)  # another trafilatura: its own parser, as it is
    with _parsing_with(_trafilatura_parser()):
        return utils.load_html(html)


@functools.cache
def _same_options(parser: Any) -> bool:
    """Whether trafilatura's parser is an lxml.html parser built with `_TRAFILATURA_OPTIONS`.

    lxml does not expose a parser's options: a probe parsed by both shows the ones that change a
    tree (comments and processing instructions dropped, no default doctype, bytes read as UTF-8).
    """
    if type(parser) is not lxml.html.HTMLParser:
        return False
    probe = "<html><body><!-- c --><?pi x?><p>caf\u00e9</p></body></html>".encode()

    def parsed(with_parser: lxml.html.HTMLParser) -> bytes:
        tree = lxml.html.document_fromstring(probe, with_parser)
        return bytes(lxml.etree.tostring(tree.getroottree(), encoding="utf-8"))

    return parsed(parser) == parsed(_trafilatura_parser())
