"""In-body promos: "Read more: …", "WATCH: …", related-link boxes and tag lists inside an article.

Sites put them inside the article's own container, where trafilatura keeps them; they name other
stories, so an economy page whose promo reads "Read more: ISIS cell arrested in Anbar" would be
tagged counter-terrorism and raise an ISIS-in-Anbar alert. They are dropped from the text after
extraction by two signals a promo has and article prose does not (read on the page, applied to the
extracted text line by line):

- a short block (a line, a list item) whose text is mostly the text of links to other pages;
- a short block that opens with a promo label ("Read more:", "اقرأ أيضاً:", "Tags:", ...), in
  English, Arabic, Persian or Kurdish (sites write them in the language of the page).

Measured on the extraction dev set (benchmarks/extraction.py): article text is not cut (F1 and
recall do not fall; see docs/EXTRACTION.md).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

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
# More than MAX_PROMO_WORDS words (`_WORD` runs, each whole), matched from a line's start.
_MORE_WORDS = re.compile(rf"(?:\W*\w+(?!\w)){{{MAX_PROMO_WORDS + 1}}}")
_MAX_PROMOS = 2000  # bounded: a page of links must not make this list huge


def promo_texts(tree: HtmlElement, text: str | None = None) -> frozenset[str]:
    """The text (whitespace squashed) of every promo block on the page; the tree is not changed.

    Promos are found on the page, where links are visible, and removed from the extracted text
    line by line: removing them from the page before extraction instead changed what trafilatura
    chose as the article on table-layout pages (one dev-set page fell from F1 0.95 to 0.59).

    Only the blocks around a link to another page are judged, from the link up to the first block
    of more than MAX_PROMO_WORDS words (its ancestors have more still): a promo line or box holds
    such a link, and a labelled block without one ("Related stories" over a box) is a short line
    opening with a label, which drop_promo_lines drops by its label alone. Given the extracted
    `text`, only the links whose text is in one of its short lines are followed: only a short
    line can be a promo, and a promo line holds its links' text. (Judging every block of a 66 KB
    page, menus and footers included, was a third of what newsmon adds to trafilatura's own
    extraction time.)
    """
    short_lines = None if text is None else _short_lines(text)
    if short_lines == []:
        return frozenset()  # no line of the text is short enough to be a promo
    # One string to search: a squashed link text has no newline, so it is in this string exactly
    # when it is in one of the lines (one search instead of one per line, for every link).
    short_text = None if short_lines is None else "\n".join(short_lines)
    counts: dict[Any, _Counts] = {}
    judged: set[Any] = set()
    found: set[str] = set()
    # _links_away and _squash written out in this loop: it runs for every link of the page (~260
    # on the benchmark's pages), and the two calls were a third of its time.
    for link in tree.iter("a"):
        if len(found) >= _MAX_PROMOS:
            break
        if short_text is not None:
            # The text first: it rules out nearly every link (1 in ~200 on the benchmark's pages
            # is in a short line), the link's target nearly none.
            link_text = link.text_content() if len(link) else link.text or ""
            if " ".join(link_text.split()) not in short_text:
                continue
        href = (link.get("href") or "").strip()
        if not href or href.startswith(_NOT_AWAY):
            continue
        for element in link.iterancestors(*_BLOCKS):
            if element in judged:
                break  # judged from an earlier link, with the blocks above it
            judged.add(element)
            inside = _counts_of(element, counts)
            if inside.words > MAX_PROMO_WORDS:
                break
            verdict = _promo_kind(element, inside)
            if verdict == "line":
                found.add(_squash(element.text_content()))
            elif verdict == "box":
                found.update(_squash(e.text_content()) for e in element.iter(*_BLOCKS))
                found.add(_squash(element.text or ""))
    found.discard("")
    return frozenset(found)


def _short_lines(text: str) -> list[str]:
    """The lines of an extracted text that are short enough to be promos, as promos are keyed."""
    # Words counted on the line as it is (keying only drops whitespace and bullets, never a word
    # character), and only up to the first past the limit: most lines are paragraphs of more.
    keys = (_line_key(line) for line in text.split("\n") if not _MORE_WORDS.match(line))
    return [key for key in keys if key]


def _line_key(line: str) -> str:
    return _squash(line.strip().lstrip("-*•·").strip())


def drop_promo_lines(text: str, promos: frozenset[str] = frozenset()) -> str:
    """The extracted text without the lines that are promos: a promo block of the page, or a short
    line opening with a promo label (a promo whose link the page did not mark)."""
    kept = []
    for line in text.split("\n"):
        key = _line_key(line)
        if key in promos:
            continue
        if _LABEL.match(key) and len(_WORD.findall(key)) <= MAX_PROMO_WORDS:
            continue
        kept.append(line)
    return "\n".join(kept)


class _Counts(NamedTuple):
    words: int
    linked: int  # words inside links to other pages
    has_blocks: bool  # a block element inside (a container, not a line)


_NOTHING = _Counts(0, 0, False)
# A block longer than a promo: its exact counts do not matter (see _counts_of).
_BIG = _Counts(MAX_PROMO_WORDS + 1, 0, True)


def _counts_of(top: HtmlElement, counts: dict[Any, _Counts]) -> _Counts:
    """Words, linked words and block children of `top`, from the leaves up, kept in `counts` for
    every element below it (a subtree counted for one block is not counted again for its parent).

    Counting stops as soon as a subtree has more than MAX_PROMO_WORDS words: such a block is not a
    promo and neither is anything around it (words only add up), so it is `_BIG` whatever its
    exact counts (counting the page's whole body for the first link in it was most of the cost).
    Without recursion: a page may nest elements thousands deep."""
    if top in counts:
        return counts[top]
    # Frames of the elements being counted: [element, its children, next child, words, linked,
    # has_blocks].
    stack: list[list[Any]] = [_frame(top)]
    result = _NOTHING
    while stack:
        frame = stack[-1]
        element, children = frame[0], frame[1]
        descended = False
        while frame[2] < len(children):
            child = children[frame[2]]
            inner = counts.get(child)
            if inner is None:
                if not isinstance(child.tag, str) or child.tag in ("script", "style"):
                    inner = counts[child] = _NOTHING
                else:
                    stack.append(_frame(child))
                    descended = True
                    break
            frame[2] += 1
            frame[3] += inner.words + _count(child.tail)
            frame[4] += inner.linked
            frame[5] = frame[5] or inner.has_blocks or child.tag in _BLOCK_CHILDREN
            if frame[3] > MAX_PROMO_WORDS:
                break
        if descended:
            continue
        stack.pop()
        words = frame[3]
        if words > MAX_PROMO_WORDS:
            result = _BIG
        else:
            linked = words if element.tag == "a" and _links_away(element) else frame[4]
            result = _Counts(words, linked, frame[5])
        counts[element] = result
    return result


def _frame(element: HtmlElement) -> list[Any]:
    return [element, list(element), 0, _count(element.text), 0, False]


def _promo_kind(element: HtmlElement, counts: _Counts) -> str | None:
    """ "line" for a promo line, "box" for a labelled box of promo lines, None for anything else."""
    words, linked = counts.words, counts.linked
    if words == 0 or words > MAX_PROMO_WORDS:
        return None
    labelled = bool(_LABEL.match(element.text_content().strip()))
    if counts.has_blocks:
        # A container: its own lines are judged one by one, unless it is a labelled box
        # (a "Related" heading over a list of links).
        return "box" if labelled and linked >= MIN_LINKED_WORDS else None
    if labelled:
        # "Read more: <a>…</a>", or a bare "Related stories" heading over a box of links.
        return "line" if linked > 0 or words <= 4 else None
    if linked >= MIN_LINKED_WORDS and linked >= PROMO_LINK_SHARE * words:
        return "line"
    return None


_NOT_AWAY = ("#", "javascript:", "mailto:")


def _links_away(link: HtmlElement) -> bool:
    href = (link.get("href") or "").strip()
    return bool(href) and not href.startswith(_NOT_AWAY)


def _count(text: str | None) -> int:
    return len(_WORD.findall(text)) if text else 0


def _squash(text: str) -> str:
    return " ".join(text.split())
