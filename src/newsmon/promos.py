"""In-body promos: "Read more: …", "WATCH: …", related-link boxes and tag lists inside an article.

Sites put them inside the article's own container, where trafilatura keeps them; they name other
stories, so an economy page whose promo reads "Read more: ISIS cell arrested in Anbar" would be
tagged counter-terrorism and raise an ISIS-in-Anbar alert. They are dropped from the page before
extraction by two signals a promo has and article prose does not:

- a short block (a line, a list item) whose text is mostly the text of links to other pages;
- a short block that opens with a promo label ("Read more:", "اقرأ أيضاً:", "Tags:", ...), in
  English, Arabic, Persian or Kurdish (sites write them in the language of the page).

Measured on the extraction dev set (benchmarks/extraction.py): article text is not cut (F1 and
recall do not fall; see docs/EXTRACTION.md).
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

# Longer blocks are prose, even when they carry links (an article's first paragraph often does).
MAX_PROMO_WORDS = 30
# A short block is a promo when at least this share of its text is link text.
PROMO_LINK_SHARE = 0.6
# Fewer linked words than this is a date, a byline or a "source" credit, not a promo.
MIN_LINKED_WORDS = 4
# Block elements only: an inline link inside a sentence is part of the prose.
_BLOCKS = ("p", "li", "dd", "dt", "div", "section", "aside", "h2", "h3", "h4", "h5", "h6",
           "blockquote", "figure", "figcaption", "ul", "ol")  # fmt: skip
_BLOCK_CHILDREN = frozenset(
    ("p", "div", "li", "ul", "ol", "section", "article", "table", "blockquote", "figure")
)
# Labels that open a promo, compared after lowercasing; a colon, dash or link must follow.
_LABELS = (
    "read more", "read also", "also read", "read next", "related", "related stories",
    "related articles", "related content", "see also", "watch", "watch also", "listen", "more",
    "more on this", "more from", "tags", "topics", "recommended", "you may also like",
    "اقرأ أيضا", "اقرأ أيضاً", "اقرأ ايضا", "اقرأ ايضاً", "إقرأ أيضا", "إقرأ أيضاً", "اقرأ المزيد",
    "اقرأ كذلك", "شاهد أيضا", "شاهد أيضاً", "شاهد", "طالع أيضا", "طالع أيضاً", "للمزيد",
    "اخبار ذات صلة", "أخبار ذات صلة", "مواضيع ذات صلة", "مقالات ذات صلة", "ذات صلة",
    "الوسوم", "وسوم", "كلمات مفتاحية", "الكلمات المفتاحية",
    "بیشتر بخوانید", "بخوانید", "مطالب مرتبط", "برچسب‌ها", "برچسب ها",
    "زیاتر بخوێنەوە", "هەروەها بخوێنەوە", "بابەتی پەیوەندیدار", "تاگەکان",
)  # fmt: skip
_LABEL = re.compile(
    r"^\W*(?:" + "|".join(sorted((re.escape(x) for x in _LABELS), key=len, reverse=True)) + r")"
    r"\s*(?:[:：|»›>\-–—]|$)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")


def drop_promos(tree: HtmlElement) -> int:
    """Remove promo blocks from the page's body in place; the number removed."""
    removed = 0
    for element in list(tree.iter(*_BLOCKS)):
        if element.getparent() is None or _inside_removed(element):
            continue
        if _is_promo(element):
            element.drop_tree()
            removed += 1
    return removed


def drop_promo_lines(text: str) -> str:
    """Lines of extracted text that are a promo label and its headline (no link left to see)."""
    kept = [
        line
        for line in text.split("\n")
        if not (_LABEL.match(line.strip()) and len(_WORD.findall(line)) <= MAX_PROMO_WORDS)
    ]
    return "\n".join(kept)


def _is_promo(element: HtmlElement) -> bool:
    text = element.text_content()
    words = len(_WORD.findall(text))
    if words == 0 or words > MAX_PROMO_WORDS:
        return False
    if any(child.tag in _BLOCK_CHILDREN for child in element.iterdescendants()):
        # A container: its own lines are judged one by one, unless it is a labelled box
        # (a "Related" heading over a list of links).
        return bool(_LABEL.match(text.strip())) and _linked_words(element) >= MIN_LINKED_WORDS
    linked = _linked_words(element)
    if _LABEL.match(text.strip()):
        # "Read more: <a>…</a>", or a bare "Related stories" heading over a box of links.
        return linked > 0 or words <= 4
    if linked == 0:
        return False
    return linked >= MIN_LINKED_WORDS and linked >= PROMO_LINK_SHARE * words


def _linked_words(element: HtmlElement) -> int:
    total = 0
    for link in element.iter("a"):
        href = (link.get("href") or "").strip()
        if href and not href.startswith(("#", "javascript:", "mailto:")):
            total += len(_WORD.findall(link.text_content()))
    return total


def _inside_removed(element: HtmlElement) -> bool:
    """True when an ancestor was already dropped (its subtree is detached from the page)."""
    return element.getroottree().getroot().tag != "html"
