"""Which source a URL belongs to: each source's scope (a host and a path prefix) on its site.

Sitemaps list a whole site, and several sources may share one (an outlet's English and Arabic
sections, or the demo site's five outlets on one host); a sitemap URL is credited to the source
whose scope covers it most narrowly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from newsmon.urls import host_key

# Path segments that name a feed rather than a section: /feed/, /rss.xml -> the site above them.
_FEED_SEGMENTS = re.compile(r"^(feeds?|rss|atom|index)(\.[a-z]+)?$|\.(xml|rss|atom)$", re.I)


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of a site a source's articles live in: a host and a path prefix ('/' = all)."""

    source: str
    host: str
    prefix: str = "/"

    def covers(self, url: str) -> bool:
        try:
            host = _site_host(url)
        except ValueError:
            return False
        return host == self.host and _path(url).startswith(self.prefix)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scope:
        return cls(source=str(data["source"]), host=str(data["host"]), prefix=str(data["prefix"]))


def site_scope(
    source: str, feed_url: str, site_link: str | None, entry_urls: Iterable[str]
) -> Scope:
    """Where a source's articles live, judged from its feed: the site it links to, and the
    directory its own articles share (dated segments such as /2026/11/ cut off).

    A section feed whose articles are not under the section's path (WordPress category feeds)
    gets the whole site; sources sharing a host each get their own prefix (/english/, /arabic/).
    """
    urls = [u for u in entry_urls if _safe_host(u)]
    host = _safe_host(site_link or "") or _safe_host(feed_url) or ""
    on_host = [u for u in urls if _safe_host(u) == host]
    if urls and not on_host:
        # The feed links to a site other than its own home (a feed proxy): follow the articles.
        host = Counter(_safe_host(u) for u in urls).most_common(1)[0][0] or host
        on_host = [u for u in urls if _safe_host(u) == host]
    directories = [_directory(_path(u)) for u in on_host]
    if site_link and _safe_host(site_link) == host:
        directories.append(_directory(_path(site_link)))
    if not directories:
        directories.append(_feed_directory(_path(feed_url)))
    return Scope(source=source, host=host, prefix=_undated(_common_directory(directories)))


def fallback_scope(source: str, feed_url: str) -> Scope:
    """A scope from the feed URL alone (when the feed cannot be read)."""
    return Scope(
        source=source,
        host=_safe_host(feed_url) or "",
        prefix=_undated(_feed_directory(_path(feed_url))),
    )


def owner(url: str, scopes: Iterable[Scope]) -> str | None:
    """The source whose scope covers `url` most narrowly (longest prefix), or None."""
    best: Scope | None = None
    for scope in scopes:
        if scope.covers(url) and (best is None or len(scope.prefix) > len(best.prefix)):
            best = scope
    return best.source if best else None


def _site_host(url: str) -> str:
    return host_key(url).removeprefix("www.")


def _safe_host(url: str) -> str | None:
    try:
        return _site_host(url) if url else None
    except ValueError:
        return None


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _directory(path: str) -> str:
    """'/a/b/c.html' -> '/a/b/'; '/a/b' -> '/a/b/' (a last segment without a dot is a folder)."""
    if path.endswith("/"):
        return path
    head, _, last = path.rpartition("/")
    return f"{head}/" if "." in last else f"{path}/"


def _feed_directory(path: str) -> str:
    segments = [s for s in path.split("/") if s]
    while segments and _FEED_SEGMENTS.search(segments[-1]):
        segments.pop()
    return "/" + "".join(f"{s}/" for s in segments)


def _common_directory(directories: Sequence[str]) -> str:
    split = [[s for s in d.split("/") if s] for d in directories]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if any(p != parts[0] for p in parts):
            break
        common.append(parts[0])
    return "/" + "".join(f"{s}/" for s in common)


def _undated(prefix: str) -> str:
    """Cut a prefix at its first all-digit segment: /news/2026/11/ -> /news/."""
    kept: list[str] = []
    for segment in (s for s in prefix.split("/") if s):
        if segment.isdigit():
            break
        kept.append(segment)
    return "/" + "".join(f"{s}/" for s in kept)


def origin_of(url: str) -> str:
    """'https://example.org' for any URL on that site (scheme, host and port)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2].lower()}"


def site_host(url: str) -> str:
    """The host (and port) of a URL without a leading www., as scopes compare them."""
    return _site_host(url)
