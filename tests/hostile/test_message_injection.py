"""Links from feeds cannot inject markup into alert messages.

Issue 12, item 5: `<{url}>` with a raw `>` in a feed link closed the autolink, and the rest
rendered as a live link (`[CLICK](http://phish.example/)`).
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from newsmon.alerts.messages import render_alert, render_digest, safe_link
from tests.unit.test_messages import item

HOSTILE_URLS = [
    "http://news.test/a>[CLICK](http://phish.example/)",
    "http://news.test/a)[CLICK](http://phish.example/)",
    "http://news.test/a>\n\n[CLICK](http://phish.example/)",
    "http://news.test/a <http://phish.example/>",
]


def rendered_links(markdown: str) -> set[str]:
    html = MarkdownIt("commonmark").render(markdown)
    return set(re.findall(r'<a href="([^"]*)"', html))


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_hostile_feed_link_renders_as_one_link_to_itself(url: str) -> None:
    for text in (
        render_alert(item(url=url), "markdown").body,
        render_digest("isis-anbar", [item(url=url)], "markdown").body,
    ):
        links = rendered_links(text)
        assert not any("phish.example" in link and "news.test" not in link for link in links), links
        assert links and all(link.startswith("http://news.test/a") for link in links)


def test_plain_text_link_cannot_start_a_new_line() -> None:
    body = render_alert(
        item(url="http://news.test/a\nFAKE: click http://phish.example/"), "text"
    ).body
    assert not any(line.startswith("FAKE") for line in body.splitlines())


def test_ordinary_links_are_unchanged() -> None:
    url = "https://wire.example/2026/11/anbar_strike?id=7&x=1#top"
    assert safe_link(url) == url
    assert f"<{url}>" in render_alert(item(url=url), "markdown").body
