"""newsmon's fast equivalents of trafilatura's prune selectors select exactly what the XPath does.

Generated pages mix every attribute and token the conditions read (order of attributes, case,
near-misses such as "commentary", nested <h1>), so each branch of each condition is exercised;
tests/realweb/test_selectors.py compares them on the 500 real pages of the extraction dev set.
"""

from __future__ import annotations

import random

import lxml.html
import pytest

from newsmon.extract import selectors

TAGS = ("div", "p", "span", "section", "item", "list", "ol", "ul", "details", "aside", "a", "h1")
NAMES = ("id", "class", "style", "role", "aria-hidden", "data-component")
NAMES += ("data-lp-replacement-content", "title")
TOKENS = (
    "reply-",
    "hidden",
    "Comment",
    "comment",
    "commentary",
    "comol",
    "disqus_thread",
    "dsq-comments",
    "article-comments",
    "post-comments",
    "nav",
    "Nav",
    "NAV",
    "navigation",
    "ad-",
    " ad ",
    "-ad-",
    "dfpAd",
    "cookie",
    "share",
    "Share",
    "share-",
    "social",
    "tags",
    "display:none",
    "display: none",
    "true",
    "false",
    "mvp-post-add-box",
    "mvp-post-add-wrap",
    "infinite-scroll",
    "infinitescroll",
    "elementor-share-buttons",
    "comments-title",
    "bread-crumb",
    "breadcrumb",
    "Byline",
    "byline",
    "author",
    "MostPopularStories",
    "message",
    "hide-",
    "-hide-",
    " hide",
    "noprint",
    "akismet",
    "reader-comments",
    "content",
    "main",
    "story",
    "x",
    "",
    " ",
    "jp-",
    "premium",
    "widget",
    "meta",
    "slide",
    "yin",
    "bottom",
    "bottom-bar",
    "link",
    "permalink",
    "border-top:0",
    "teaser",
    "Teaser",
    "caption",
)


def _value(rng: random.Random) -> str:
    return "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 3)))


def _element(rng: random.Random, depth: int) -> str:
    tag = rng.choice(TAGS)
    names = rng.sample(NAMES, rng.randint(0, 4))
    attributes = "".join(f' {name}="{_value(rng)}"' for name in names)
    children = "".join(
        _element(rng, depth + 1) for _ in range(rng.randint(0, 3) if depth < 4 else 0)
    )
    return f"<{tag}{attributes}>text {children}</{tag}>"


def _pages(count: int) -> list[lxml.html.HtmlElement]:
    rng = random.Random(20261206)
    return [
        lxml.html.document_fromstring(
            "<html><body>" + "".join(_element(rng, 0) for _ in range(8)) + "</body></html>"
        )
        for _ in range(count)
    ]


def test_every_selector_is_replaced_on_the_installed_trafilatura() -> None:
    # Fails when trafilatura rewrites one of them: bring selectors.py up to date (or drop it).
    assert len(selectors.fast_selectors()) == len(selectors._ORIGINALS)


@pytest.mark.parametrize("position", range(len(selectors._ORIGINALS)))
def test_the_same_elements_in_the_same_order_as_the_xpath(position: int) -> None:
    fast = selectors.fast_selectors()[position][2]
    selected = 0
    for tree in _pages(400):
        for context in (tree, tree.body):
            expected = list(fast.original(context))
            assert fast(context) == expected, fast.path
            selected += len(expected)
    assert selected > 0  # the generated pages reach the condition's true branch


def test_installed_in_trafilaturas_lists_and_put_back_for_plain_trafilatura() -> None:
    from trafilatura import xpaths

    selectors.install()
    assert isinstance(xpaths.OVERALL_DISCARD_XPATH[1], selectors.FastSelector)
    with selectors.trafilatura_own_selectors():
        assert not isinstance(xpaths.OVERALL_DISCARD_XPATH[1], selectors.FastSelector)
    assert isinstance(xpaths.OVERALL_DISCARD_XPATH[1], selectors.FastSelector)


def test_the_context_element_itself_is_never_selected() -> None:
    # `.//*` is the descendants only; the selectors walking attribute owners must not add the
    # element they are called on, though it carries every attribute their conditions read.
    tree = lxml.html.document_fromstring(
        '<html><body id="reply-1" class="hide-me comments-title" style="display:none hidden" '
        'aria-hidden="true"><div class="hide-x" aria-hidden="true">t</div>'
        '<section id="comments">c</section></body></html>'
    )
    for _, _, fast in selectors.fast_selectors():
        for context in (tree, tree.body):
            assert fast(context) == list(fast.original(context)), fast.path
            assert context not in fast(context)
