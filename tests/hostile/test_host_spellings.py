"""One server, however its address is spelt: one politeness budget, one robots.txt; no
credentials in stored or alerted links.

Issue 12, item 7: `127.1`, `0x7f.1`, `2130706433`, `localhost` and `127.0.0.1` counted as five
hosts for one server (five times the request rate), and `user:pw@` in feed links was stored and
alerted.
"""

from __future__ import annotations

import pytest

from newsmon.fetch.feeds import parse_feed
from newsmon.fetch.robots import robots_url
from newsmon.urls import canonical_url, host_key

SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "0x7f.1",
    "2130706433",
    "0177.0.0.1",
    "localhost",
    "[::ffff:127.0.0.1]",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_one_address_is_one_host(spelling: str) -> None:
    assert host_key(f"http://{spelling}:8080/a") == "127.0.0.1:8080"
    assert robots_url(f"http://{spelling}:8080/a/b") == "http://127.0.0.1:8080/robots.txt"


def test_names_and_other_addresses_keep_their_own_keys() -> None:
    assert host_key("http://news.example/a") == "news.example"
    assert host_key("http://127.0.0.2/a") == "127.0.0.2"
    assert host_key("http://[::1]:8000/") == "[::1]:8000"
    assert host_key("http://1.example/") == "1.example"


def test_credentials_in_feed_links_are_dropped() -> None:
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>a</title><link>http://user:secret@news.example/a</link></item>"
        b"</channel></rss>"
    )
    entries = parse_feed(feed, source="s", url="http://news.example/rss.xml", headers={})
    assert [e.url for e in entries] == ["http://news.example/a"]
    assert canonical_url("http://user:secret@news.example/a") == "http://news.example/a"
    assert "secret" not in robots_url("http://user:secret@news.example/a")
