"""Faster equivalents of trafilatura's costliest XPath selectors, selecting the same elements.

Profiled over the 500 pages of the extraction dev set, five of trafilatura's prune selectors took
~15 % of newsmon's whole extraction: they test every element of a page against many attribute
conditions (`.//*[...]`, regular expressions through lxml's EXSLT callbacks), and libxml2's XPath
engine is slow at that (3.2 ms a page for one of them on the benchmark's pages; written without
regular expressions in plain XPath 1.0 it is no faster). Here each is a cheap XPath that keeps
only elements carrying the attributes the condition reads (a handful a page), then the condition
itself in Python, on the same attribute strings, with the same regular expressions: the same
elements, in the same (document) order.

They replace the originals inside trafilatura's own selector lists only when those are exactly the
expressions this module was written against (`_ORIGINALS`, trafilatura 2.3.1); any other version
keeps its own selectors, and tests/realweb/test_selectors.py (which compares both on every page of
the dev set and on generated attribute mixes) fails until this module is brought up to date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lxml.etree import Element, XPath, _Element

Condition = Callable[[_Element], bool]


class FastSelector:
    """Callable like an `lxml.etree.XPath` (`selector(tree)` -> elements in document order): the
    descendants of the given tags for which the condition holds (conditions need not check tags).

    Given `carrying` (attribute names) instead of tags, the condition is tested only on the
    descendants carrying one of those attributes: for a condition false on any other element.
    """

    def __init__(
        self,
        original: Any,
        tags: tuple[str, ...],
        condition: Condition,
        carrying: tuple[str, ...] = (),
    ) -> None:
        self.original = original
        self.path = original.path  # as trafilatura's XPath objects, for anyone reading it
        # `.//*[self::a or self::b]`: the descendants (not the element itself) of these tags.
        self._tags: tuple[Any, ...] = tags or (Element,)
        self._condition = condition
        self._carrying = _carrying(carrying) if carrying else None

    def __call__(self, tree: _Element, **variables: Any) -> list[_Element]:
        if variables:  # not how trafilatura calls them; keep the exact semantics if it ever does
            return list(self.original(tree, **variables))
        condition = self._condition
        if self._carrying is not None:
            return [element for element in self._carrying(tree) if condition(element)]
        return [element for element in tree.iterdescendants(*self._tags) if condition(element)]


def _carrying(names: tuple[str, ...]) -> XPath:
    """The descendants (not the element itself) with any of these attributes, in document order.

    Their attributes' parents, in C: on the benchmark's pages 49 of ~690 elements carry one of the
    four that OVERALL_DISCARD_XPATH[1] reads, and walking all of them in Python to test each was
    0.6 ms a page, the single costliest selector (`.//*[@a or @b]`, the same test in XPath, takes
    twice as long as this union: libxml2 evaluates a predicate slowly).
    """
    return XPath("(" + " | ".join(f".//*/@{name}" for name in names) + ")/..")


def _first(names: list[str], a: str, a_value: str | None, b: str, b_value: str | None) -> str:
    """The string value of `@a|@b`: of the two attributes, the one written first in the tag."""
    if a_value is None:
        return b_value or ""
    if b_value is None or names.index(a) < names.index(b):
        return a_value
    return b_value


def _attr(element: _Element, name: str) -> str:
    return str(element.get(name) or "")


# --- OVERALL_DISCARD_XPATH[0] ------------------------------------------------------------------
_OVERALL0_TAGS = frozenset(("div", "item", "list", "p", "section", "span"))
_OVERALL0_ID = re.compile(
    "^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
    "^(?:jp-|dpsp-content)|bmdh|footer|Footer|share|Share|nav|Nav|menu|related|message-container|"
    "premium|^ad-"
)
_OVERALL0_CLASS = re.compile(
    "^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
    "^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar| ad |-ad-|(?:^| )ad-|"
    "dfp[Aa]d|outbrain|taboola|criteo|paid-?content|widget|footer|Footer|byline|Byline|share-|"
    "sociable|embedded|embed|tag-list|consent|modal-content|permission|elated|next-|-stories|"
    "most-popular|more-on|meta|rating|attachment|timestamp|user-info|user-profile|-icon|"
    "article-infos|message-container|slide|viewport|overlay|options|expand|obfuscated|blurred|"
    "mol-factbox|yin|zlylin|nfoline"
)


def _overall_discard(element: _Element) -> bool:
    names = element.keys()
    if not names:
        return False
    get = element.get
    element_id, element_class = get("id"), get("class")
    return (
        get("data-lp-replacement-content") is not None
        or "nav" in (get("role") or "").replace("N", "n")
        or "MostPopularStories" in (get("data-component") or "")
        or "cookie" in _first(names, "id", element_id, "class", element_class)
        or _OVERALL0_ID.search(element_id or "") is not None
        or _OVERALL0_CLASS.search(element_class or "") is not None
    )


# --- OVERALL_DISCARD_XPATH[1] ------------------------------------------------------------------
_HIDDEN_ID = re.compile("reader-comments|akismet")
_HIDDEN_CLASS = re.compile(
    "^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print|"
    " hidden| hide|noprint|notloaded"
)


def _hidden_or_reply(element: _Element) -> bool:
    names = element.keys()
    if not names:
        return False
    get = element.get
    element_id, element_class, style = get("id"), get("class"), get("style") or ""
    return (
        element_class == "comments-title"
        or _first(names, "id", element_id, "class", element_class).startswith("reply-")
        or "hidden" in _first(names, "id", element_id, "style", get("style"))
        or "display:none" in style
        or "display: none" in style
        or _HIDDEN_ID.search(element_id or "") is not None
        or _HIDDEN_CLASS.search(element_class or "") is not None
        or get("aria-hidden") == "true"
    )


# --- REMOVE_COMMENTS_XPATH[0] and REMOVE_COMMENTS_AND_LISTS_XPATH[0] -----------------------------
_COMMENTS_ID = re.compile("^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)")
_COMMENTS_CLASS = re.compile("^[Cc]omment(?!ary)|(?:article|post)-comments")
_COMMENT_LIST_ID = re.compile("^(?:[Cc]omment(?!ary)|comol)")
_COMMENTS_TAGS = frozenset(("div", "list", "section", "details"))


def _comments(element: _Element) -> bool:
    return (
        _COMMENTS_ID.search(_attr(element, "id")) is not None
        or _COMMENTS_CLASS.search(_attr(element, "class")) is not None
    )


def _comment_section_or_list(element: _Element) -> bool:
    if element.tag not in ("ol", "ul"):
        return _comments(element)
    # Both bracketed conditions: a list's id must open with "comment" or "comol" (which the first
    # one's id pattern then holds too), or its class match the comments pattern.
    return (
        _COMMENT_LIST_ID.search(_attr(element, "id")) is not None
        or _COMMENTS_CLASS.search(_attr(element, "class")) is not None
    )


# --- RAW_TREE_PRUNE_XPATH[0] and [1] -------------------------------------------------------------
_APPENDED = re.compile("mvp-post-add-(?:box|wrap)|infinite-?scroll")
_APPENDED_BOX = re.compile("mvp-post-add-(?:box|wrap)")
_CONTAINERS = frozenset(("div", "section", "aside"))


def _appended_articles(element: _Element) -> bool:
    element_id, element_class = _attr(element, "id"), _attr(element, "class")
    if _APPENDED.search(element_id) is None and _APPENDED.search(element_class) is None:
        return False
    return (
        element.find(".//h1") is None
        or _APPENDED_BOX.search(element_id) is not None
        or _APPENDED_BOX.search(element_class) is not None
    )


def _share_buttons(element: _Element) -> bool:
    return "elementor-share-buttons" in _attr(element, "class")


# --- PRECISION_DISCARD_XPATH[1], TEASER_DISCARD_XPATH[0], DISCARD_IMAGE_ELEMENTS[0] -----------------
_BOTTOM = re.compile(r"(^|\s)bottom|bottom(\s|$)")
_LINK = re.compile(r"(^|\s)link(\s|$)")


def _bottom_link_or_bordered(element: _Element) -> bool:
    names = element.keys()
    if not names:
        return False
    get = element.get
    first = _first(names, "id", get("id"), "class", get("class"))
    return (
        _BOTTOM.search(first) is not None
        or _LINK.search(first) is not None
        or "border" in (get("style") or "")
    )


def _teaser(element: _Element) -> bool:
    return "teaser" in _attr(element, "id").replace("T", "t") or "teaser" in _attr(
        element, "class"
    ).replace("T", "t")


def _caption(element: _Element) -> bool:
    return "caption" in _attr(element, "id") or "caption" in _attr(element, "class")


# (trafilatura list, index, the expression as trafilatura 2.3.1 writes it (whitespace-normalised),
# the tags it selects among (none: any element), the condition)
_ORIGINALS: tuple[tuple[str, int, str, tuple[str, ...], Condition], ...] = (
    (
        "OVERALL_DISCARD_XPATH",
        0,
        ".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
        "@data-lp-replacement-content or contains(translate(@role, 'N', 'n'), 'nav') or "
        "contains(@data-component, 'MostPopularStories') or re:test(@id|@class, 'cookie') or "
        f"re:test(@id, '{_OVERALL0_ID.pattern}') or re:test(@class, '{_OVERALL0_CLASS.pattern}')]",
        tuple(_OVERALL0_TAGS),
        _overall_discard,
    ),
    (
        "OVERALL_DISCARD_XPATH",
        1,
        ".//*[@class='comments-title' or starts-with(@id|@class, 'reply-') or "
        "re:test(@id|@style, 'hidden') or contains(@style, 'display:none') or "
        "contains(@style, 'display: none') or re:test(@id, 'reader-comments|akismet') or "
        f"re:test(@class, '{_HIDDEN_CLASS.pattern}') or @aria-hidden='true']",
        (),
        _hidden_or_reply,
    ),
    (
        "REMOVE_COMMENTS_XPATH",
        0,
        ".//*[self::div or self::list or self::section or self::details][ "
        f"re:test(@id, '{_COMMENTS_ID.pattern}') or re:test(@class, '{_COMMENTS_CLASS.pattern}')]",
        tuple(_COMMENTS_TAGS),
        _comments,
    ),
    (
        "REMOVE_COMMENTS_AND_LISTS_XPATH",
        0,
        ".//*[self::div or self::list or self::section or self::details or self::ol or self::ul][ "
        f"re:test(@id, '{_COMMENTS_ID.pattern}') or re:test(@class, '{_COMMENTS_CLASS.pattern}')][ "
        f"not(self::ol or self::ul) or re:test(@id, '{_COMMENT_LIST_ID.pattern}') or "
        f"re:test(@class, '{_COMMENTS_CLASS.pattern}')]",
        (*_COMMENTS_TAGS, "ol", "ul"),
        _comment_section_or_list,
    ),
    (
        "RAW_TREE_PRUNE_XPATH",
        0,
        ".//*[self::div or self::section or self::aside][ "
        f"re:test(@id, '{_APPENDED.pattern}') or re:test(@class, '{_APPENDED.pattern}')][ "
        f"not(.//h1) or re:test(@id, '{_APPENDED_BOX.pattern}') or "
        f"re:test(@class, '{_APPENDED_BOX.pattern}')]",
        tuple(_CONTAINERS),
        _appended_articles,
    ),
    (
        "RAW_TREE_PRUNE_XPATH",
        1,
        ".//*[self::div or self::section or self::aside][contains(@class, 'elementor-share-buttons')]",
        tuple(_CONTAINERS),
        _share_buttons,
    ),
    (
        "PRECISION_DISCARD_XPATH",
        1,
        ".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
        f"re:test(@id|@class, '{_BOTTOM.pattern}') or re:test(@id|@class, '{_LINK.pattern}') or "
        "contains(@style, 'border')]",
        tuple(_OVERALL0_TAGS),
        _bottom_link_or_bordered,
    ),
    (
        "TEASER_DISCARD_XPATH",
        0,
        ".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
        "contains(translate(@id, 'T', 't'), 'teaser') or "
        "contains(translate(@class, 'T', 't'), 'teaser')]",
        tuple(_OVERALL0_TAGS),
        _teaser,
    ),
    (
        "DISCARD_IMAGE_ELEMENTS",
        0,
        ".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
        "contains(@id, 'caption') or contains(@class, 'caption')]",
        tuple(_OVERALL0_TAGS),
        _caption,
    ),
)


# Selectors of any element whose condition is false on an element without these attributes (every
# part of it reads one): only the elements carrying one are tested.
_CARRYING: dict[tuple[str, int], tuple[str, ...]] = {
    ("OVERALL_DISCARD_XPATH", 1): ("id", "class", "style", "aria-hidden"),
}


def _normalised(path: str) -> str:
    return " ".join(path.split())


def fast_selectors() -> list[tuple[list[Any], int, FastSelector]]:
    """(trafilatura's list, index, replacement) for each selector whose text is the one expected;
    a selector trafilatura writes differently is left out (it keeps its own)."""
    from trafilatura import xpaths

    found = []
    for list_name, index, expected, tags, condition in _ORIGINALS:
        selectors = getattr(xpaths, list_name, None)
        if not isinstance(selectors, list) or len(selectors) <= index:
            continue
        original = selectors[index]
        if isinstance(original, FastSelector):
            original = original.original
        if _normalised(getattr(original, "path", "")) != _normalised(expected):
            continue
        carrying = _CARRYING.get((list_name, index), ())
        found.append((selectors, index, FastSelector(original, tags, condition, carrying)))
    return found


def install() -> int:
    """Put the fast selectors in trafilatura's lists (in place: its modules share those lists);
    how many are in use. Idempotent."""
    replacements = fast_selectors()
    for selectors, index, fast in replacements:
        selectors[index] = fast
    return len(replacements)


@contextmanager
def trafilatura_own_selectors() -> Iterator[None]:
    """trafilatura's own XPath selectors (and readability method: extract/readability_candidates)
    for the duration, to time plain trafilatura beside newsmon in one process; the fast ones are
    put back after."""
    from newsmon.extract.readability_candidates import trafilatura_own

    replaced = []
    for selectors, index, fast in fast_selectors():
        if isinstance(selectors[index], FastSelector):
            selectors[index] = fast.original
            replaced.append((selectors, index, fast))
    try:
        with trafilatura_own():
            yield
    finally:
        for selectors, index, fast in replaced:
            selectors[index] = fast
