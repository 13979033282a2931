"""Article pages and feeds written for the tests: real markup with the clutter real sites have."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from html import escape

CLUTTER_NAV = (
    '<nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/iraq">Iraq</a></li>'
    '<li><a href="/syria">Syria</a></li><li><a href="/opinion">Opinion</a></li></ul></nav>'
    '<div class="ticker">BREAKING: Parliament session postponed again</div>'
)
CLUTTER_AFTER = (
    '<div class="share"><a href="#">Share on Facebook</a> <a href="#">Share on X</a></div>'
    '<aside class="related"><h3>Related stories</h3><ul>'
    '<li><a href="/r1">Drought threatens wheat harvest in Nineveh</a></li>'
    '<li><a href="/r2">New bridge opens in Basra</a></li></ul></aside>'
    '<section class="comments"><h3>Comments</h3><form><textarea name="c"></textarea>'
    '<button>Post comment</button></form><div class="comment">Reader42: This is shocking news.</div></section>'
    "<footer><p>© 2026 Test Outlet. All rights reserved.</p><a href='/privacy'>Privacy</a></footer>"
)


def article_page(
    title: str,
    paragraphs: list[str],
    *,
    lang: str = "en",
    author: str = "Staff",
    published: str = "2026-11-20T08:00:00Z",
    canonical: str | None = None,
) -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    canonical_tag = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)} | Test Outlet</title>'
        f'<meta name="author" content="{escape(author)}">'
        f'<meta property="article:published_time" content="{published}">{canonical_tag}</head>'
        f"<body>{CLUTTER_NAV}<main><article><h1>{escape(title)}</h1>{body}</article></main>{CLUTTER_AFTER}</body></html>"
    )


def rss_feed(title: str, items: list[tuple[str, str, datetime]]) -> str:
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>"
        for t, link, when in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link><description>test</description>"
        f"{entries}</channel></rss>"
    )


WIRE_PARAGRAPHS = [
    "Iraqi security forces said on Tuesday that they had killed four Islamic State militants in an air strike on a hideout in the desert of western Anbar province, near the border with Syria.",
    "The Joint Operations Command said the strike followed weeks of surveillance of the cell, which it blamed for attacks on shepherds and army checkpoints around Rutba.",
    "A spokesman said weapons, explosive belts and a motorcycle were found at the site, and that the bodies had been handed to the forensic authorities in Ramadi.",
    "Daesh remnants still carry out sporadic attacks in remote areas of Anbar, Salahuddin and Diyala despite the group's territorial defeat in 2017, officials say.",
]
ECONOMY_PARAGRAPHS = [
    "The Central Bank of Iraq said on Monday that it would introduce new rules for dollar auctions next month, aiming to curb currency smuggling and stabilise the dinar.",
    "Traders in Baghdad said prices of imported goods had risen by about five percent in two weeks, as the dinar weakened on the parallel market.",
    "The bank said the measures had been agreed with the finance ministry and would be reviewed after three months, according to a statement carried by state media.",
]
ARABIC_PARAGRAPHS = [
    "أعلنت قيادة العمليات المشتركة في العراق، اليوم الأربعاء، مقتل ثلاثة من عناصر تنظيم داعش في عملية أمنية بصحراء الأنبار غربي البلاد.",
    "وقال بيان للقيادة إن القوات الأمنية نفذت العملية بناءً على معلومات استخبارية دقيقة، وإنها ضبطت أسلحة وأحزمة ناسفة في موقع الاشتباك.",
    "ولا تزال خلايا التنظيم تنفذ هجمات متفرقة في المناطق النائية من محافظات الأنبار وصلاح الدين وديالى، بحسب مسؤولين أمنيين.",
]
