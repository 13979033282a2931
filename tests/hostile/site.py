"""A hostile news site on 127.0.0.1: one feed per attack, beside a good source.

Every case of issue 12 and the ones that already held: page bombs (a million <p> siblings, deep
nesting, gzip bomb, 5 GB Content-Length, slow drip, invalid UTF-8), feed bombs (billion laughs,
XXE, 3,000 items), SSRF links (metadata address, address spellings), links carrying credentials
and Markdown injection.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.localserver import LocalServer, RecordedRequest
from tests.pages import (
    ARABIC_PARAGRAPHS,
    ECONOMY_PARAGRAPHS,
    WIRE_PARAGRAPHS,
    article_page,
    rss_feed,
)

WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HUGE_FEED_ITEMS = 3000
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>http://127.0.0.1/laughs</link></item></channel></rss>"""


def xxe_feed(secret_file: Path, link: str) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret_file}">]>
<rss version="2.0"><channel><title>x</title>
<item><title>XXE &xxe;</title><link>{link}</link><description>&xxe;</description></item>
</channel></rss>""".encode()


def build(server: LocalServer, secret_file: Path) -> dict[str, str]:
    """Serve every case on `server`; returns sources.yaml's name -> feed URL."""
    u = server.url
    feeds: dict[str, list[tuple[str, str, datetime]]] = {
        "good": [
            ("Four IS militants killed in Anbar air strike", u("/good/anbar"), WHEN),
            ("Central bank tightens dollar auctions", u("/good/dinar"), WHEN),
        ],
        "pages": [
            ("Siblings", u("/bomb/siblings"), WHEN),
            ("Nested", u("/bomb/nested"), WHEN),
            ("Gzip", u("/bomb/gzip"), WHEN),
            ("Length", u("/bomb/length"), WHEN),
            ("Drip", u("/bomb/drip"), WHEN),
            ("Invalid UTF-8", u("/bomb/utf8"), WHEN),
        ],
        "links": [
            ("Metadata", "http://169.254.169.254/latest/meta-data/", WHEN),
            ("Mapped metadata", "http://[::ffff:169.254.169.254]/latest/", WHEN),
            ("Spelt", f"http://0x7f.1:{server.port}/links/spelt", WHEN),
            (
                "IS militants in Anbar",
                u("/links/inject") + "?a=>[CLICK](http://phish.example/)",
                WHEN,
            ),
            ("Creds", f"http://user:hunter2pw@127.0.0.1:{server.port}/links/creds", WHEN),
        ],
        "huge": [
            (f"Item {i}", u(f"/huge/{i}"), WHEN - timedelta(minutes=i))
            for i in range(HUGE_FEED_ITEMS)
        ],
    }
    for name, items in feeds.items():
        server.route(f"/{name}/rss.xml", rss_feed(name, items), content_type=RSS)
    server.route("/laughs/rss.xml", BILLION_LAUGHS, content_type=RSS)
    server.route("/xxe/rss.xml", xxe_feed(secret_file, u("/xxe/page")), content_type=RSS)
    server.route("/xxe/page", article_page("XXE page", ECONOMY_PARAGRAPHS), content_type=HTML)

    server.route(
        "/good/anbar",
        article_page("Four IS militants killed in Anbar air strike", WIRE_PARAGRAPHS),
        content_type=HTML,
    )
    server.route(
        "/good/dinar",
        article_page("Central bank tightens dollar auctions", ECONOMY_PARAGRAPHS),
        content_type=HTML,
    )

    siblings = "<html><body>" + "<p>x</p>" * 650_000 + "</body></html>"  # ~5 MB, 1.3 M tags
    server.route("/bomb/siblings", siblings, content_type=HTML)
    nested = "<html><body>" + "<div>" * 60_000 + "deep" + "</div>" * 60_000 + "</body></html>"
    server.route("/bomb/nested", nested, content_type=HTML)
    server.route(
        "/bomb/gzip",
        gzip.compress(b"<p>" + b"A" * (64 * 2**20) + b"</p>", compresslevel=9),
        headers={"Content-Encoding": "gzip"},
        content_type=HTML,
    )
    server.route(
        "/bomb/length", b"<html>", headers={"Content-Length": str(5 * 10**9)}, content_type=HTML
    )
    server.drip("/bomb/drip", chunk=b"<p>drip</p>", interval_s=0.5, chunks=10_000)
    invalid = (
        article_page("Bad bytes in Anbar", ARABIC_PARAGRAPHS, lang="ar")
        .encode()
        .replace(b"</h1>", b"\xff\xfe\xc3(</h1>")
    )
    server.route("/bomb/utf8", invalid, content_type=HTML)

    server.route(
        "/links/spelt", article_page("Spelt address", ECONOMY_PARAGRAPHS), content_type=HTML
    )
    server.route("/links/creds", article_page("Creds page", ECONOMY_PARAGRAPHS), content_type=HTML)

    def inject(_request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        return (
            200,
            {"Content-Type": HTML},
            article_page("IS militants in Anbar", ECONOMY_PARAGRAPHS).encode(),
        )

    server.route_handler("/links/inject", inject)

    def huge_page(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        number = request.route.rsplit("/", 1)[1]
        title = f"Council session {number} on the dinar"
        return 200, {"Content-Type": HTML}, article_page(title, ECONOMY_PARAGRAPHS).encode()

    for i in range(HUGE_FEED_ITEMS):
        server.route_handler(f"/huge/{i}", huge_page)
    return {name: u(f"/{name}/rss.xml") for name in [*feeds, "laughs", "xxe"]}
