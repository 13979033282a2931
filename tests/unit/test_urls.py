"""Canonical URLs: the table of foldings the contract promises, and properties over random input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.provisional import urls

from newsmon.urls import canonical_url, host_key, is_http_url

CASES = [
    # scheme and host case, default ports
    ("HTTP://Example.COM/News", "http://example.com/News"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:80/a", "https://example.com:80/a"),
    ("http://example.com:8080/a", "http://example.com:8080/a"),
    ("http://example.com./a", "http://example.com/a"),
    # fragment, empty query
    ("https://example.com/a#comments", "https://example.com/a"),
    ("https://example.com/a?", "https://example.com/a"),
    ("https://example.com/a?&&", "https://example.com/a"),
    ("https://example.com/a?#top", "https://example.com/a"),
    # tracking parameters
    (
        "https://example.com/a?utm_source=rss&utm_medium=feed&UTM_Campaign=x&id=7",
        "https://example.com/a?id=7",
    ),
    ("https://example.com/a?fbclid=abc&gclid=1&mc_cid=2&mc_eid=3", "https://example.com/a"),
    ("https://example.com/a?igshid=1&ref_src=twsrc&cmpid=x&ocid=y", "https://example.com/a"),
    ("https://www.bbc.com/news/x?at_medium=RSS&at_campaign=KARANGA", "https://www.bbc.com/news/x"),
    ("https://example.com/a?_ga=2.1&p=2", "https://example.com/a?p=2"),
    ("https://example.com/a?utm%5Fsource=x", "https://example.com/a"),
    # remaining parameters sorted by key; a repeated key keeps its order
    ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
    ("https://example.com/a?tag=z&tag=a", "https://example.com/a?tag=z&tag=a"),
    ("https://example.com/a?flag&a=1", "https://example.com/a?a=1&flag"),
    ("https://example.com/a?q=a=b", "https://example.com/a?q=a=b"),
    # trailing slash folded, root kept
    ("https://example.com/a/", "https://example.com/a"),
    ("https://example.com/a//", "https://example.com/a"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com/", "https://example.com/"),
    ("https://example.com/?id=1", "https://example.com/?id=1"),
    # percent-encoding: unreserved decoded, hex uppercased, the rest encoded
    ("https://example.com/%7euser/%e2%82%ac", "https://example.com/~user/%E2%82%AC"),
    ("https://example.com/a%2Fb", "https://example.com/a%2Fb"),
    ("https://example.com/a b", "https://example.com/a%20b"),
    ("https://example.com/100%", "https://example.com/100%25"),
    ("https://example.com/news/خبر", "https://example.com/news/%D8%AE%D8%A8%D8%B1"),
    ("https://example.com/news/%d8%ae%d8%a8%d8%b1", "https://example.com/news/%D8%AE%D8%A8%D8%B1"),
    (
        "https://example.com/s?q=%d8%af%d8%a7%d8%b9%d8%b4",
        "https://example.com/s?q=%D8%AF%D8%A7%D8%B9%D8%B4",
    ),
    ("https://example.com/s?q=a+b", "https://example.com/s?q=a+b"),
    # dot segments
    ("https://example.com/a/./b/../c", "https://example.com/a/c"),
    ("https://example.com/../../a", "https://example.com/a"),
    ("https://example.com/a/%2E%2E/b", "https://example.com/b"),
    ("https://example.com/a/..", "https://example.com/"),
    # international and IP hosts
    ("https://Bücher.example/x", "https://xn--bcher-kva.example/x"),
    ("https://مثال.إختبار/", "https://xn--mgbh0fb.xn--kgbechtv/"),
    ("http://[0:0:0:0:0:0:0:1]:80/", "http://[::1]/"),
    ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
    ("http://192.0.2.1/a", "http://192.0.2.1/a"),
    # whitespace around and inside (as pasted or as feeds write it)
    ("  https://example.com/a\n", "https://example.com/a"),
    ("https://exam\tple.com/a", "https://example.com/a"),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a", "not an http(s) URL"),
        ("mailto:someone@example.com", "not an http(s) URL"),
        ("javascript:alert(1)", "not an http(s) URL"),
        ("/relative/path", "not an http(s) URL"),
        ("", "not an http(s) URL"),
        ("http:///no-host", "no host"),
        ("http://exa mple.com/", "invalid host"),
        ("http://example.com:99999/", "invalid port"),
        ("http://[::1/", "not a valid URL"),
        ("http://[not-v6]/", "not a valid URL"),
        ("http://a..b/", "invalid host"),
    ],
)
def test_non_http_urls_raise_value_error_naming_the_url(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        canonical_url(url)
    assert repr(url) in str(caught.value)
    assert not is_http_url(url)


def test_is_http_url() -> None:
    assert is_http_url("https://example.com/feed.xml")
    assert is_http_url("http://127.0.0.1:8000/a")
    assert not is_http_url("example.com/feed.xml")
    assert not is_http_url("file:///etc/passwd")


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Example.com:443/a?b=1", "example.com"),
        ("http://example.com:8080/a", "example.com:8080"),
        ("http://user:pw@example.com/a", "example.com"),
        ("http://[::1]:8000/", "[::1]:8000"),
        ("https://Bücher.example/", "xn--bcher-kva.example"),
    ],
)
def test_host_key(url: str, key: str) -> None:
    assert host_key(url) == key


def test_userinfo_is_dropped_and_host_still_normalised() -> None:
    assert canonical_url("http://user:pw@EXAMPLE.com:80/a") == "http://example.com/a"


def _canonical_or_value_error(url: str) -> str | None:
    try:
        return canonical_url(url)
    except ValueError as err:
        assert str(err)  # a message, never an empty ValueError
        return None


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_only_ever_raises_value_error(text: str) -> None:
    _canonical_or_value_error(text)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
@settings(max_examples=500, deadline=None)
def test_http_prefixed_text_is_idempotent_or_value_error(tail: str) -> None:
    for url in (f"http://{tail}", f"https://example.com/{tail}", f"https://example.com/a?{tail}"):
        canonical = _canonical_or_value_error(url)
        if canonical is not None:
            assert canonical_url(canonical) == canonical
            assert is_http_url(canonical)


@given(urls())
@settings(max_examples=300, deadline=None)
def test_generated_urls_are_idempotent(url: str) -> None:
    canonical = _canonical_or_value_error(url)
    if canonical is not None:
        assert canonical_url(canonical) == canonical
        assert "#" not in canonical


_QUERY_PART = st.text(alphabet="abcXYZ019-._~%&=+/?:@!$'()*,; é", max_size=12)


@given(
    scheme=st.sampled_from(["http", "HTTP", "https"]),
    host=st.from_regex(
        r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True
    ),
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
    path=st.lists(
        st.sampled_from(["a", "B", ".", "..", "", "%7e", "%2f", "ü", "x y", "%41"]), max_size=6
    ),
    query=st.lists(st.tuples(_QUERY_PART, _QUERY_PART), max_size=4),
    fragment=st.text(max_size=5),
)
@settings(max_examples=400, deadline=None)
def test_structured_urls_are_idempotent(
    scheme: str, host: str, port: str, path: list[str], query: list[tuple[str, str]], fragment: str
) -> None:
    url = f"{scheme}://{host}{port}/{'/'.join(path)}?{'&'.join(f'{k}={v}' for k, v in query)}#{fragment}"
    canonical = canonical_url(url)
    assert canonical_url(canonical) == canonical
    assert canonical.startswith(("http://", "https://"))
    assert "utm_" not in canonical.lower().split("?")[0]
