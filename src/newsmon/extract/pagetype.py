"""Is a fetched page an index (section front, tag or home page) rather than one article?

A feed links to articles, so a linked page is an article unless the evidence against it is
strong. A declared type alone is weak evidence: on a public dev set of 500 real article pages,
15 declare `og:type=website` (or `blog`) and 49 carry a site-wide JSON-LD `WebSite` block (the
search box), and refusing on either dropped 3.6 % of genuine articles. A page is refused only when
it declares a non-article type, declares no article type anywhere, AND its body is laid out as a
list of linked headlines (what a section front is); none of the 500 articles has more than one
such headline outside its navigation and side bars.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from lxml.html import HtmlElement

# og:type values and JSON-LD @types that say "this is one article".
ARTICLE_TYPES = frozenset(
    {
        "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle",
        "opinionnewsarticle", "backgroundnewsarticle", "reviewnewsarticle", "blogposting",
        "liveblogposting", "report", "techarticle", "scholarlyarticle", "socialmediaposting",
    }
)  # fmt: skip
# og:type values that say "not one article" (section fronts, tag and home pages, profiles).
INDEX_OG_TYPES = frozenset({"website", "profile", "blog", "video.other", "product"})
# JSON-LD types of a page that lists other pages. `WebSite` is left out on purpose: sites put it
# on every page for their search box, so it says nothing about the page itself.
INDEX_JSONLD_TYPES = frozenset({"collectionpage", "searchresultspage", "profilepage"})
# Linked headlines in the body (outside navigation and side bars) that make a list of teasers.
MIN_TEASER_HEADLINES = 3
# A heading is a teaser when at least this share of its text is the text of its links.
TEASER_LINK_SHARE = 0.8
_CHROME = ("nav", "header", "footer", "aside")
_MAX_JSONLD_BLOCKS = 20  # bounded: a hostile page can carry thousands


@dataclass(frozen=True, slots=True)
class PageKind:
    """The evidence about one page's kind, and the verdict drawn from it."""

    og_types: tuple[str, ...]
    jsonld_types: tuple[str, ...]
    teaser_headlines: int

    @property
    def declares_article(self) -> bool:
        return any(t in ARTICLE_TYPES for t in self.og_types + self.jsonld_types)

    @property
    def declared_index_type(self) -> str | None:
        """The first declaration that the page is not an article, spelled as the page spells it."""
        for value in self.og_types:
            if value in INDEX_OG_TYPES:
                return f"og:type={value}"
        for value in self.jsonld_types:
            if value in INDEX_JSONLD_TYPES:
                return f"JSON-LD @type={value}"
        return None

    @property
    def is_index(self) -> bool:
        return (
            not self.declares_article
            and self.declared_index_type is not None
            and self.teaser_headlines >= MIN_TEASER_HEADLINES
        )

    def reason(self) -> str:
        return (
            f"the page declares {self.declared_index_type} and lists {self.teaser_headlines}"
            " linked headlines (a section or index page, not an article)"
        )


def page_kind(tree: HtmlElement) -> PageKind:
    """Read a parsed page's declared types and, where they make it matter, its teaser layout
    (`teaser_headlines` is 0 when the declarations alone make the page an article); the tree is
    not changed."""
    og_types = tuple(
        " ".join(str(value).split()).lower()
        for value in tree.xpath('//meta[@property="og:type"]/@content')
    )
    declared = PageKind(
        og_types=og_types, jsonld_types=tuple(_jsonld_types(tree)), teaser_headlines=0
    )
    if declared.declares_article or declared.declared_index_type is None:
        return declared  # an article whatever its layout: the teasers are not counted
    return PageKind(
        og_types=og_types,
        jsonld_types=declared.jsonld_types,
        teaser_headlines=_teaser_headlines(tree),
    )


def _jsonld_types(tree: HtmlElement) -> Iterator[str]:
    scripts = tree.xpath('//script[@type="application/ld+json"]')[:_MAX_JSONLD_BLOCKS]
    for script in scripts:
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        yield from _types_in(data, depth=0)


def _types_in(data: object, *, depth: int) -> Iterator[str]:
    """@type values of the top-level nodes and of an @graph (not of nested authors, images...)."""
    if depth > 2:
        return
    if isinstance(data, list):
        for item in data[:50]:
            yield from _types_in(item, depth=depth + 1)
    elif isinstance(data, dict):
        declared = data.get("@type")
        for value in declared if isinstance(declared, list) else [declared]:
            if isinstance(value, str):
                yield value.lower()
        if "@graph" in data:
            yield from _types_in(data["@graph"], depth=depth + 1)


def _teaser_headlines(tree: HtmlElement) -> int:
    count = 0
    for heading in tree.xpath("//body//*[self::h1 or self::h2 or self::h3 or self::h4]"):
        if any(ancestor.tag in _CHROME for ancestor in heading.iterancestors()):
            continue
        text = "".join(heading.itertext()).strip()
        linked = "".join("".join(a.itertext()) for a in heading.xpath(".//a[@href]")).strip()
        if text and len(linked) >= TEASER_LINK_SHARE * len(text):
            count += 1
    return count
