"""The demo news site as a backfill meets it: feeds showing only their latest items, with older ones
in sitemaps (robots.txt, a sitemap index, a gzipped sitemap, a Google News sitemap) and in paged or
archived feeds (RFC 5005 `next` and `prev-archive`, WordPress `?paged=N`).

    with backfill_site() as site:
        write_backfill_config(tmp_path / "config", site)
        ...
        site.requests_to("/robots.txt")

Per outlet (articles from 3 to 20 November 2026):
- tigris-herald: feed of the 2 latest; older articles only in a gzipped monthly sitemap (index)
- alrafidain-news: feed of the 2 latest; older ones in the news sitemap
- levant-wire: RSS paged with <atom:link rel="next">: 2 + 2 + 3 items
- euphrates-monitor: Atom archives with rel="prev-archive": 3 + 3 + 2 entries
- sham-post: WordPress-style ?paged=N: 3 + 2 + 2 entries, and a plain sitemap
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import date
from pathlib import Path

from lxml import etree

from newsmon.app.demo.run import SITE
from tests.localserver import RecordedRequest, StaticSite

FIXTURES = Path(__file__).parent / "fixtures" / "sitemaps"
ATOM = "http://www.w3.org/2005/Atom"
OUTLETS = ("tigris-herald", "alrafidain-news", "levant-wire", "euphrates-monitor", "sham-post")


def _demo_feed(outlet: str, base_url: str) -> bytes:
    return (SITE / outlet / "feed.xml").read_bytes().replace(b"{{BASE_URL}}", base_url.encode())


def feed_page(
    outlet: str, base_url: str, start: int, stop: int, links: dict[str, str] | None = None
) -> bytes:
    """The demo feed of `outlet` with only items [start:stop], plus feed-level links (rel -> href)."""
    root = etree.fromstring(_demo_feed(outlet, base_url))
    if root.tag == f"{{{ATOM}}}feed":
        parent, items = root, root.findall(f"{{{ATOM}}}entry")
    else:
        parent = root.find("channel")
        items = parent.findall("item")
    for index, item in enumerate(items):
        if not start <= index < stop:
            parent.remove(item)
    for rel, href in (links or {}).items():
        link = etree.Element(f"{{{ATOM}}}link", rel=rel, href=href)
        position = list(parent).index(parent.find(f"{{{ATOM}}}link")) + 1
        parent.insert(position, link)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def fixture(name: str, base_url: str) -> bytes:
    return (FIXTURES / name).read_bytes().replace(b"{{BASE_URL}}", base_url.encode())


def backfill_site() -> StaticSite:
    """The demo site on 127.0.0.1 with the feeds, archives and sitemaps described above."""
    site = StaticSite(SITE)
    base = site.base_url
    site.route("/robots.txt", fixture("robots.txt", base), content_type="text/plain")
    site.route("/sitemap_index.xml", fixture("sitemap_index.xml", base))
    site.route("/news-sitemap.xml", fixture("news-sitemap.xml", base))
    site.route("/sitemaps/sham-post-2026-11.xml", fixture("sham-post-2026-11.xml", base))
    for month in ("2026-10", "2026-11"):
        site.route(
            f"/sitemaps/tigris-herald-{month}.xml.gz",
            gzip.compress(fixture(f"tigris-herald-{month}.xml", base)),
            content_type="application/x-gzip",
        )
    rss, atom = "application/rss+xml", "application/atom+xml"
    for outlet in ("tigris-herald", "alrafidain-news"):
        site.route(f"/{outlet}/feed.xml", feed_page(outlet, base, 0, 2), content_type=rss)
    levant = f"{base}/levant-wire/feed.xml"
    site.route_handler(
        "/levant-wire/feed.xml",
        _by_query(
            {
                "": feed_page("levant-wire", base, 0, 2, {"next": f"{levant}?page=2"}),
                "page=2": feed_page("levant-wire", base, 2, 4, {"next": f"{levant}?page=3"}),
                "page=3": feed_page("levant-wire", base, 4, 7),
            },
            rss,
        ),
    )
    euphrates = f"{base}/euphrates-monitor"
    site.route(
        "/euphrates-monitor/feed.xml",
        feed_page(
            "euphrates-monitor",
            base,
            0,
            3,
            {"prev-archive": f"{euphrates}/archive/2026-11-b.xml"},
        ),
        content_type=atom,
    )
    site.route(
        "/euphrates-monitor/archive/2026-11-b.xml",
        feed_page(
            "euphrates-monitor",
            base,
            3,
            6,
            {
                "prev-archive": f"{euphrates}/archive/2026-11-a.xml",
                "current": f"{euphrates}/feed.xml",
            },
        ),
        content_type=atom,
    )
    site.route(
        "/euphrates-monitor/archive/2026-11-a.xml",
        feed_page("euphrates-monitor", base, 6, 8, {"current": f"{euphrates}/feed.xml"}),
        content_type=atom,
    )
    site.route_handler(
        "/sham-post/feed.xml",
        _by_query(
            {
                "": feed_page("sham-post", base, 0, 3),
                "paged=2": feed_page("sham-post", base, 3, 5),
                "paged=3": feed_page("sham-post", base, 5, 7),
                "paged=4": feed_page("sham-post", base, 7, 7),
            },
            atom,
        ),
    )
    return site


def _by_query(
    pages: dict[str, bytes], content_type: str
) -> Callable[[RecordedRequest], tuple[int, dict[str, str], bytes]]:
    def answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        query = request.path.partition("?")[2]
        if query not in pages:
            return 404, {"Content-Type": "text/plain"}, b"no such page\n"
        return 200, {"Content-Type": content_type}, pages[query]

    return answer


def write_backfill_config(
    directory: Path, site: StaticSite, *, receiver_port: int = 9, sources: tuple[str, ...] = OUTLETS
) -> Path:
    """sources.yaml for the outlets, and the demo's topics and alert rules (alerts to a receiver)."""
    from newsmon.app.demo.run import write_demo_config

    write_demo_config(
        directory, {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver_port)}
    )
    lines = ["sources:"]
    for outlet in sources:
        lines.append(f"  - {{name: {outlet}, url: '{site.base_url}/{outlet}/feed.xml'}}")
    (directory / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


# Articles each outlet published from 5 to 17 November 2026 (the window most tests use).
WINDOW = (date(2026, 11, 5), date(2026, 11, 17))
IN_WINDOW = {
    "tigris-herald": 5,
    "alrafidain-news": 6,
    "levant-wire": 4,
    "euphrates-monitor": 6,
    "sham-post": 5,
}
