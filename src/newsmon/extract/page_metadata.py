"""What an article page says about itself (title, author, URL, date), asked only for what is missing.

trafilatura's `extract_metadata` reads everything every time: sitename, categories, tags and
licence (which newsmon never stores), the author from the page's body, and the date with
htmldate's extensive search, whose last resort (dateparser over the page's text) is the single
largest cost of extracting a page. The feed entry usually gives the date and often the author,
and where it does the page is not asked. Whatever is read is read by trafilatura's own functions,
in its order, so a page whose feed gives nothing gets exactly what `extract_metadata` returned.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

import lxml.etree
from lxml.html import HtmlElement


@dataclass(frozen=True)
class PageMetadata:
    title: str | None
    author: str | None
    url: str | None
    date: str | None  # as htmldate formats it; None when not searched or not found


def read_metadata(
    tree: HtmlElement,
    url: str | None,
    *,
    date_params: dict[str, Any],
    find_author: bool = True,
    find_date: bool = True,
) -> PageMetadata:
    """The page's title, author, URL and (if `find_date`) publication date.

    `find_author=False` skips only the search of the page's body for a byline (the costly part);
    an author declared in the page's metadata is still read. `date_params` are htmldate's options.
    """
    from trafilatura.metadata import (
        examine_meta,
        extract_author,
        extract_meta_json,
        extract_title,
        extract_url,
    )

    document = examine_meta(tree)
    # As trafilatura does: a one-word "author" in a meta tag is a site or a handle, not a name.
    if document.author and " " not in document.author:
        document.author = None
    with contextlib.suppress(Exception):  # trafilatura guards its JSON-LD reader the same way
        document = extract_meta_json(tree, document)
    if not document.title:
        document.title = extract_title(tree)
    if not document.author and find_author:
        document.author = _byline(tree, extract_author)
    if not document.url:
        document.url = extract_url(tree, url)
    if find_date:
        from htmldate import find_date as htmldate_find_date

        document.date = htmldate_find_date(tree, **{**date_params, "url": document.url})
    document.clean_and_trim()
    return PageMetadata(
        title=document.title, author=document.author, url=document.url, date=document.date
    )


# Where trafilatura's byline XPaths (AUTHOR_XPATHS, trafilatura 2.x) look: these attributes, and
# <author> or <rel> elements. Each of their conditions on an attribute means that the attribute
# contains one of these strings, so a page none of whose such attributes contains one of them has
# nothing they select. Read in one pass in C, where their regular expressions run per element.
_BYLINE_ATTRIBUTES = lxml.etree.XPath(
    "//@class|//@id|//@rel|//@itemprop|//@data-testid|//@data-component", smart_strings=False
)
_BYLINE_HINT = re.compile(
    "uthor|Byline|byl|BBL|yline|username|screenname|writer|channel-name|zuozhe|bianji|xiaobian"
    "|submitted-by|posted-by|journalist-name"
)


def _may_have_byline(tree: HtmlElement) -> bool:
    if next(tree.iter("author", "rel"), None) is not None:
        return True
    return _BYLINE_HINT.search("\n".join(_BYLINE_ATTRIBUTES(tree))) is not None


def _byline(tree: HtmlElement, extract_author: Any) -> str | None:
    """trafilatura's byline search, skipped where it cannot find anything.

    It copies the whole tree, prunes comments, dates and figures from the copy, and tries its
    byline XPaths on it: ~6 ms on a 66 KB page, most of it their regular expressions, tested on
    every element. An element none of them selects on the page is not on the copy either, so a
    page where `_may_have_byline` finds no hint of one (most pages that declare no author) has no byline.
    """
    if not _may_have_byline(tree):
        return None
    author: str | None = extract_author(tree)
    return author
