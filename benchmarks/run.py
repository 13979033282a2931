"""newsmon against the physical limit, measured side by side in one run.

Serves a generated news site on 127.0.0.1 (several hosts = ports, hundreds of feeds, thousands of
article pages with real-looking markup) and measures on the same pages:

- the limit: plain trafilatura text extraction (`trafilatura.extract(html, favor_precision=True,
  include_comments=False)`), one process per core, and its CPU per page;
- newsmon's end-to-end ingest rate (the Prefect flow, after Prefect's API is up), and peak RSS;
  everything newsmon adds to plain extraction (metadata, dates, language, promos, HTTP,
  fingerprints, matching, storing, Prefect) counts against ingest, and its CPU per article is
  printed by part;
- their ratio (by wall time, and by CPU); how far `--quick`'s ratio is from a full run's (the
  per-run fixed costs it weighs more); the no-change pass; query matching with 1,000 rules over
  10,000 terms;
- near-duplicate lookup cost on the archive just built; Prefect's share of the ingest wall time.

    .venv/bin/python benchmarks/run.py [--quick]

Prints a table, then one JSON object with every figure as its last line.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import re
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from harness import (
    PREFECT_TEMPORARY_API_SERVICES_OFF,
    FastLoopbackHost,
    SiteProcess,
    Sites,
    bench_environment,
    start_prefect,
    write_sources,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
SITE = ROOT / "src" / "newsmon" / "app" / "demo" / "site"

# --- the generated site -----------------------------------------------------------------------


def sentence_pools() -> dict[str, list[str]]:
    """Sentences of the demo site's articles, by language: the raw material of generated pages."""
    pools: dict[str, list[str]] = {"en": [], "ar": []}
    for page in SITE.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        lang = "ar" if 'lang="ar"' in html[:500] else "en"
        for paragraph in re.findall(r"<p>([^<]{80,})</p>", html):
            for sentence in re.split(r"(?<=[.!?؟])\s+", paragraph):
                if len(sentence) > 40:
                    pools[lang].append(sentence.strip())
    return {lang: sorted(set(sentences)) for lang, sentences in pools.items()}


def article_html(
    rng: random.Random, pool: list[str], lang: str, title: str, url: str, when: datetime
) -> bytes:
    body = "".join(
        f"<p>{escape(' '.join(rng.sample(pool, 3)))}</p>" for _ in range(rng.randint(4, 7))
    )
    body += f"<p>{escape(f'Reference {rng.getrandbits(48):x} of the desk, filed for {title}.')}</p>"
    teasers = "".join(
        f'<li><a href="/t{n}">{escape(rng.choice(pool)[:70])}</a></li>' for n in range(5)
    )
    page = (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)} | Bench News</title>'
        f'<meta name="author" content="Desk {rng.randint(1, 40)}">'
        f'<meta property="article:published_time" content="{when:%Y-%m-%dT%H:%M:%SZ}">'
        f'<link rel="canonical" href="{escape(url)}"><style>.ad{{display:none}}</style>'
        '<script>var analytics = {"id": 42};</script></head><body>'
        '<div class="cookie">We use cookies. <button>Accept</button></div>'
        '<nav><ul><li><a href="/">Home</a></li><li><a href="/iraq">Iraq</a></li><li><a href="/syria">Syria</a></li>'
        '<li><a href="/world">World</a></li></ul></nav><div class="ticker">Breaking: markets closed early</div>'
        f"<main><article><h1>{escape(title)}</h1>{body}</article>"
        '<div class="share"><a href="#">Share</a> <a href="#">Tweet</a> <a href="#">Email</a></div>'
        f'<aside class="related"><h3>Related</h3><ul>{teasers}</ul></aside>'
        '<section class="comments"><form><textarea></textarea><button>Post</button></form>'
        "<p>Reader: thanks for the update.</p></section></main>"
        "<footer><p>© 2026 Bench News</p><a href='/about'>About</a></footer></body></html>"
    )
    return page.encode("utf-8")


_SECTIONS = (
    "Iraq",
    "Syria",
    "Kurdistan",
    "Politics",
    "Security",
    "Economy",
    "Energy",
    "World",
    "Opinion",
    "Video",
)


def realistic_article_html(
    rng: random.Random, pool: list[str], lang: str, title: str, url: str, when: datetime
) -> bytes:
    """The same article in the shell a real news page has: ~100 KB, as measured on outlets'
    article pages (a mega-menu, inline CSS and app state, JSON-LD, ad and analytics scripts,
    teaser lists, comments, a large footer); the article text is a few KB of it."""
    compact = article_html(rng, pool, lang, title, url, when).decode()
    head_end = compact.index("</head>")
    body_start = compact.index("<main>")
    body_end = compact.index("</main>") + len("</main>")

    def teaser(n: int) -> str:
        return (
            f'<li class="teaser"><a href="/story/{rng.getrandbits(40):x}"><img src="/img/{n}.jpg" alt="" loading="lazy">'
            f"<span>{escape(rng.choice(pool)[:90])}</span></a><time>{rng.randint(1, 59)} min</time></li>"
        )

    menu = "".join(
        f'<li class="menu-section"><a href="/{section.lower()}">{section}</a><ul>'
        + "".join(
            f'<li><a href="/{section.lower()}/{rng.getrandbits(32):x}">{escape(rng.choice(pool)[:30])}</a></li>'
            for _ in range(15)
        )
        + "</ul></li>"
        for section in _SECTIONS
    )
    state = json.dumps(
        {
            "page": {
                "type": "article",
                "section": rng.choice(_SECTIONS),
                "id": rng.getrandbits(48),
            },
            "related": [
                {
                    "id": rng.getrandbits(40),
                    "title": rng.choice(pool),
                    "summary": " ".join(rng.sample(pool, 2)),
                    "image": f"/img/{n}.jpg",
                }
                for n in range(40)
            ],
        },
        ensure_ascii=False,
    )
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": f"{when:%Y-%m-%dT%H:%M:%SZ}",
            "mainEntityOfPage": url,
            "publisher": {"@type": "Organization", "name": "Bench News"},
        },
        ensure_ascii=False,
    )
    css = "".join(
        f".c{n}{{margin:{n % 7}px;padding:{n % 5}px;color:#{rng.getrandbits(24):06x};display:flex}}"
        for n in range(250)
    )
    scripts = "".join(
        f"<script>(function(w,d){{w.q{n}=w.q{n}||[];w.q{n}.push({{slot:'ad-{n}',sizes:[[300,250],[728,90]]}});}})(window,document);</script>"
        for n in range(25)
    )
    head = (
        compact[:head_end]
        + f'<meta property="og:title" content="{escape(title)}"><meta property="og:type" content="article">'
        + f'<meta property="og:url" content="{escape(url)}"><meta name="twitter:card" content="summary_large_image">'
        + f'<script type="application/ld+json">{ld}</script><style>{css}</style>'
        + f'<script id="__STATE__" type="application/json">{escape(state)}</script>'
        + "</head>"
    )
    body = (
        f'<body><header><div class="cookie">We use cookies. <button>Accept</button></div><nav class="mega"><ul>{menu}</ul></nav></header>'
        + compact[body_start : body_end - len("</main>")]
        + '<aside class="most-read"><h3>Most read</h3><ol>'
        + "".join(teaser(n) for n in range(10))
        + "</ol></aside>"
        + '<section class="latest"><h3>Latest</h3><ul>'
        + "".join(teaser(n) for n in range(20))
        + "</ul></section>"
        + '<form class="newsletter"><input type="email"><button>Subscribe</button></form></main>'
        + "<footer><ul>"
        + "".join(
            f'<li><a href="/p/{n}">{escape(rng.choice(pool)[:25])}</a></li>' for n in range(60)
        )
        + "</ul>"
        + "<p>© 2026 Bench News</p></footer>"
        + scripts
        + "</body></html>"
    )
    return (head + body).encode("utf-8")


def build_site(
    hosts: int, feeds_per_host: int, entries: int, seed: int = 7, realistic: bool = True
) -> tuple[list[dict[str, bytes]], list[tuple[int, str, str]]]:
    """Per host: {path: body}. Feeds: (host index, path, language). Every article is distinct."""
    rng = random.Random(seed)
    pools = sentence_pools()
    contents: list[dict[str, bytes]] = [{} for _ in range(hosts)]
    feeds: list[tuple[int, str, str]] = []
    start = datetime(2026, 11, 20, tzinfo=UTC)
    for host in range(hosts):
        for f in range(feeds_per_host):
            lang = "ar" if (host * feeds_per_host + f) % 3 == 0 else "en"
            items = []
            for e in range(entries):
                path = f"/f{f}/{e}.html"
                title = (
                    f"{'تقرير' if lang == 'ar' else 'Report'} {host}-{f}-{e}: "
                    + rng.choice(pools[lang])[:60]
                )
                when = start - timedelta(minutes=13 * e + f)
                url = f"{{BASE}}{path}"
                page = realistic_article_html if realistic else article_html
                contents[host][path] = page(rng, pools[lang], lang, title, url, when)
                items.append(
                    f"<item><title>{escape(title)}</title><link>{{BASE}}{path}</link><guid>{{BASE}}{path}</guid>"
                    f"<pubDate>{format_datetime(when)}</pubDate></item>"
                )
            contents[host][f"/f{f}/rss.xml"] = (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Bench {host}-{f}</title><link>{{BASE}}/</link><description>bench</description>"
                + "".join(items)
                + "</channel></rss>"
            ).encode()
            feeds.append((host, f"/f{f}/rss.xml", lang))
    return contents, feeds


class SiteHost(FastLoopbackHost):
    """One host of the generated site. Every page's answer is built once ({BASE} filled in, ETag):
    what a request costs the site is mostly the write."""

    def __init__(self, contents: dict[str, bytes], port: int = 0) -> None:
        super().__init__(port)
        base = self.base_url.encode()
        # path: (ETag, 200 head, 304 head, body); the bodies are the `contents` served ({BASE} filled
        # in), which the "limit" command reads back.
        self.pages: dict[str, tuple[str, bytes, bytes, bytes]] = {}
        for path, raw in contents.items():
            body = raw.replace(b"{BASE}", base)
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            kind = "application/rss+xml" if path.endswith(".xml") else "text/html; charset=utf-8"
            ok = self.head({"Content-Type": kind, "ETag": etag}, len(body))
            self.pages[path] = (etag, ok, self.head({"ETag": etag}, 0), body)

    def respond(self, path: str, if_none_match: str | None) -> tuple[int, bytes, bytes]:
        page = self.pages.get(path)
        if page is None:
            return 404, NOT_FOUND_HEAD, b""
        etag, ok, not_modified, body = page
        if if_none_match == etag:
            return 304, not_modified, b""
        return 200, ok, body


NOT_FOUND_HEAD = FastLoopbackHost.head({}, 0)


def build_site_hosts(hosts_n: int, feeds_per_host: int, entries: int, realistic: bool) -> Sites:
    contents, feeds = build_site(hosts_n, feeds_per_host, entries, realistic=realistic)
    hosts = [SiteHost(c) for c in contents]
    base_urls = [host.base_url for host in hosts]
    sizes = [len(b) for c in contents for path, b in c.items() if path.endswith(".html")]
    # The pages as served (the raw `contents` are not kept: a second copy of every page).
    served = [{path: page[3] for path, page in host.pages.items()} for host in hosts]
    return Sites(
        hosts,
        hello=(base_urls, feeds, sizes),
        commands={"limit": lambda: raw_extraction_rate(page_htmls(served, base_urls))},
    )


def page_htmls(contents: list[dict[str, bytes]], base_urls: list[str]) -> list[str]:
    """The article pages as the site serves them (base URLs filled in)."""
    return [
        body.replace(b"{BASE}", base.encode()).decode()
        for pages, base in zip(contents, base_urls, strict=True)
        for path, body in pages.items()
        if path.endswith(".html")
    ]


# --- the limit: plain trafilatura, one process per core ---------------------------------------

# The options of the limit (issue 16): the text alone, as trafilatura's users call it.
PLAIN_TRAFILATURA: dict[str, Any] = {"favor_precision": True, "include_comments": False}


def _trafilatura_only(html: str) -> float:
    """Plain trafilatura text extraction, nothing newsmon adds (no metadata, date search, language,
    page-type or promo checks: they count against ingest). Returns the CPU seconds it took."""
    import trafilatura

    started = time.process_time()
    trafilatura.extract(html, **PLAIN_TRAFILATURA)
    return time.process_time() - started


def raw_extraction_rate(htmls: list[str]) -> tuple[float, float]:
    """(pages per second, CPU seconds per page) of plain trafilatura, one process per core."""
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_trafilatura_only, htmls[: workers * 4]))  # warm up imports in every worker
        started = time.perf_counter()
        cpu = sum(pool.map(_trafilatura_only, htmls, chunksize=8))
        return len(htmls) / (time.perf_counter() - started), cpu / len(htmls)


# --- the ingest flow, with Prefect's part measured -----------------------------------------------


class TaskClock:
    """Time spent inside the bodies of newsmon's tasks, and their runs, per task name."""

    def __init__(self) -> None:
        self.by_task: dict[str, float] = {}
        # CPU of the thread running each task body (a body runs in one thread; the HTTP client
        # runs on the network thread, measured apart by thread_cpu_s).
        self.cpu_by_task: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        # Wall time of each task's first and latest run: the pipeline's fill and drain.
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        # When each task's first run started and its last run ended (perf_counter): the phases
        # of the run where the extraction processes cannot be busy.
        self.first_started: dict[str, float] = {}
        self.last_ended: dict[str, float] = {}
        # CPU of this process and all its descendants (site included) when extraction first
        # started: how busy the cores were before it.
        self.cpu_at_first_extraction: float | None = None
        # (start, end) of every extraction batch: the gaps between them leave its processes idle.
        self.extraction_spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def wrap_all(self) -> None:
        import importlib
        import pkgutil

        from prefect import Task

        import newsmon.tasks

        for info in pkgutil.iter_modules(newsmon.tasks.__path__, "newsmon.tasks."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, Task) and not getattr(value.fn, "_clocked", False):
                    value.fn = self._timed(value.fn, value.name)
        # The extraction itself, inside fetch-extract-pages: the pool's batch, under its lock.
        from newsmon.extract.pool import PageExtractor

        if not getattr(PageExtractor._extract_jobs, "_clocked", False):
            PageExtractor._extract_jobs = self._timed(PageExtractor._extract_jobs, EXTRACTION)  # type: ignore[method-assign]

    def _timed(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        import functools

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if name == EXTRACTION and self.cpu_at_first_extraction is None:
                self.cpu_at_first_extraction = cpu_seconds(descendants() | {os.getpid()})
            started, cpu_started = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                elapsed = ended - started
                cpu = time.thread_time() - cpu_started
                with self._lock:
                    if name == EXTRACTION:
                        self.extraction_spans.append((started, ended))
                    self.first_started.setdefault(name, started)
                    self.last_ended[name] = ended
                    self.by_task[name] = self.by_task.get(name, 0.0) + elapsed
                    self.cpu_by_task[name] = self.cpu_by_task.get(name, 0.0) + cpu
                    self.first.setdefault(name, elapsed)
                    self.last[name] = elapsed
                    self.calls[name] = self.calls.get(name, 0) + 1

        timed._clocked = True  # type: ignore[attr-defined]
        return timed


# Tasks the ingest flow submits (run in threads, overlapping); the others it calls.
SUBMITTED_TASKS = {"fetch-extract-pages", "store-articles"}
# Not a task: the clock's name for the extraction processes' work on a batch (the pool, locked).
EXTRACTION = "extraction (the pool, one batch)"
NETWORK_THREAD = "newsmon-network"


def thread_cpu_s(name: str) -> float:
    """User + system CPU of this process's live thread of that name (0 if there is none)."""
    ticks = os.sysconf("SC_CLK_TCK")
    for thread in threading.enumerate():
        if thread.name == name and thread.native_id is not None:
            try:
                stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            except OSError:
                return 0.0
            fields = stat.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks
    return 0.0


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU of live processes (from /proc; 0 for one that is gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def max_peak_rss_mb(pids: set[int]) -> float:
    """The largest peak resident set (VmHWM) among live processes, in MB."""
    peaks = [0.0]
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def descendants() -> set[int]:
    """This process's live descendants (the extraction pool's forkserver and workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def prefect_overheads(repeat: int = 50) -> dict[str, float]:
    """Seconds Prefect adds per flow run, per task call and per task submit (empty bodies)."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    @task(cache_policy=NO_CACHE)
    def nothing() -> None:
        return None

    @flow(name="bench-empty")
    def empty() -> None:
        return None

    @flow(name="bench-calls")
    def calls() -> float:
        started = time.perf_counter()
        for _ in range(repeat):
            nothing()
        return (time.perf_counter() - started) / repeat

    @flow(name="bench-submits")
    def submits() -> float:
        started = time.perf_counter()
        for _ in range(repeat):
            nothing.submit().result()
        return (time.perf_counter() - started) / repeat

    empty()
    started = time.perf_counter()
    empty()
    return {"flow": time.perf_counter() - started, "call": calls(), "submit": submits()}


def write_config(directory: Path, base_urls: list[str], feeds: list[tuple[int, str, str]]) -> Path:
    write_sources(
        directory,
        (
            {
                "name": f"feed-{n}",
                "url": f"{base_urls[host]}{path}",
                "language": lang,
                "respect_robots": False,
            }
            for n, (host, path, lang) in enumerate(feeds)
        ),
    )
    demo_config = ROOT / "src" / "newsmon" / "app" / "demo" / "config"
    (directory / "topics.yaml").write_text(
        (demo_config / "topics.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return directory


def start_feed_parser() -> None:
    """Start the process's feed-parsing workers by parsing one small feed."""
    import asyncio

    from newsmon.tasks.runtime import feed_parser

    feed = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    asyncio.run(feed_parser().parse(feed, source="warm-up", url="http://127.0.0.1/", headers={}))


def prepare_cpu_ms(database_url: str, config_dir: Path, samples: int = 1000) -> float:
    """CPU per article of preparing it for the store (canonical URL, fingerprint, topics, alert
    rules, story features): done in the extraction processes since issue 16, where the clock
    cannot reach, so replayed here in one thread on articles the ingest stored."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from newsmon.config.loading import load_config
    from newsmon.records import Extracted, FeedEntry, Page
    from newsmon.rules.prepare import PrepareForStore, RulesSource
    from newsmon.store.db import make_engine
    from newsmon.store.models import Article

    engine = make_engine(database_url)
    with Session(engine) as session:
        rows = list(session.scalars(sa.select(Article).limit(samples)))
        session.expunge_all()
    engine.dispose()
    pages = [
        (
            Page(FeedEntry(source=r.source, url=r.url), r.final_url, 200, "", r.fetched_at),
            Extracted(r.title, r.text, r.published_at, r.author, r.language, r.canonical_url),
        )
        for r in rows
    ]
    prepare = PrepareForStore(RulesSource.of(load_config(config_dir)))
    for page, extracted in pages[:50]:  # the rule sets' parse and word memory, as in a worker
        prepare(page, extracted)
    started = time.process_time()
    for page, extracted in pages:
        prepare(page, extracted)
    return (time.process_time() - started) / max(1, len(pages)) * 1000


def dedup_lookup_ms(database_url: str, samples: int = 300) -> float:
    """Per-article candidate lookup + cluster choice on the archive the ingest built (SQLite)."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from newsmon.store.clusters import copy_candidates
    from newsmon.store.db import make_engine
    from newsmon.store.models import Article
    from newsmon.stories.copies import choose_cluster, fingerprint

    engine = make_engine(database_url)
    with Session(engine) as session:
        rows = session.execute(sa.select(Article.title, Article.text).limit(samples)).all()
        prints = [fingerprint(title=t, text=x) for t, x in rows]
        started = time.perf_counter()
        for fp in prints:
            choose_cluster(fp, copy_candidates(session, fp.exact_hash, fp.band_keys))
        elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed / max(1, len(prints)) * 1000


def check_passes(figures: dict[str, Any]) -> None:
    """Stop unless the ingest stored every page of the site and the no-change pass none.

    Otherwise the figures compare nothing: a run cap or a failing page shrinks the ingest, and
    the "no-change" pass fetches and extracts what the ingest left.
    """
    problems = []
    if figures["ingest_stored"] != figures["pages"]:
        problems.append(
            f"the ingest stored {figures['ingest_stored']} of the site's {figures['pages']} pages"
            f" ({figures['ingest_failed']} failed)"
        )
    if figures["no_change_stored"] != 0:
        problems.append(f"the no-change pass stored {figures['no_change_stored']} articles")
    if problems:
        raise SystemExit("benchmark invalid: " + "; ".join(problems))


def cpu_per_article(figures: dict[str, Any], task_cpu: dict[str, float]) -> dict[str, float]:
    """CPU milliseconds per stored article, by part, as far as the instrumentation reaches.

    Extraction processes: plain trafilatura's own CPU per page (measured by the limit on the same
    pages), preparing the article for the store (canonical URL, fingerprint, rule matching, story
    features; replayed after the run, `prepare_cpu_ms`), and the rest, newsmon's additions to
    extraction (page type, promos, metadata, dates, language), net of what its faster prune
    selectors (extract/selectors.py) save inside trafilatura: the net figure is negative where
    the saving is larger than the additions. Flow process: the network thread (HTTP client: feeds
    and pages), store-articles (the database), the other task bodies (polling, extract hand-off),
    and what is left (Prefect's client, the flow, threads' overhead).
    """
    stored = max(1, figures["ingest_stored"])
    store_cpu = task_cpu.get("store-articles", 0.0)
    # EXTRACTION runs inside fetch-extract-pages: its CPU is that task's already.
    other_tasks = sum(
        cpu for name, cpu in task_cpu.items() if name not in ("store-articles", EXTRACTION)
    )
    in_bodies = figures["network_thread_cpu_s"] + store_cpu + other_tasks
    plain = figures["limit_cpu_ms_per_page"] / 1000 * stored
    prepare = figures["prepare_cpu_ms_per_article"] / 1000 * stored
    parts = {
        "extraction: plain trafilatura": plain,
        "extraction processes: fingerprint + match (prepare)": prepare,
        "extraction: newsmon's additions, net of its faster selectors": figures["workers_cpu_s"]
        - plain
        - prepare,
        "feed-parsing processes": figures["feed_parse_cpu_s"],
        "flow: HTTP client (network thread)": figures["network_thread_cpu_s"],
        "flow: store (database)": store_cpu,
        "flow: other task bodies": other_tasks,
        "flow: Prefect client + rest": figures["main_cpu_s"] - in_bodies,
        "Prefect API server": figures["prefect_server_cpu_s"],
        "loopback site": figures["site_cpu_s"],
    }
    return {name: cpu / stored * 1000 for name, cpu in parts.items()}


def fixed_cost_bias(figures: dict[str, Any], full_pages_this_mode: int) -> dict[str, float]:
    """How far this run's ratio is from the full run's, from the per-run fixed costs it measured.

    A run pays once: Prefect's flow run start and end (ending joins a heartbeat thread that sleeps
    in 1-s steps) and the pipeline's fill and drain (the first fetch before any extraction, the
    last store after it), measured here as the flow-run overhead and the first and last stages.
    Spread over 4,500 pages instead of 600 these weigh ~7.5x less; the per-page work is the same.
    """
    full_pages = 10 * 30 * 15
    stored = max(1, figures["ingest_stored"])
    fixed = figures["prefect_flow_run_s"] + figures["pipeline_fill_drain_s"]
    per_page = max(1e-9, (figures["ingest_wall_s"] - fixed) / stored)
    projected_rate = full_pages / (fixed + per_page * full_pages)
    projected_ratio = projected_rate / figures["extract_limit_articles_per_s"]
    return {
        "fixed_s": fixed,
        "fixed_ms_per_page_here": fixed / stored * 1000,
        "fixed_ms_per_page_full": fixed / full_pages * 1000,
        "ratio_here": figures["ingest_vs_limit_ratio"],
        "ratio_projected_full": projected_ratio,
        "pages_here": float(full_pages_this_mode),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smaller site (finishes in under 3 minutes)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the flow process's CPU over all its threads during the ingest (needs yappi)",
    )
    parser.add_argument(
        "--small-pages",
        action="store_true",
        help="5 KB pages (the article alone) instead of ~80 KB ones with a real site's clutter",
    )
    args = parser.parse_args()
    hosts_n, feeds_per_host, entries = (4, 10, 15) if args.quick else (10, 30, 15)
    figures: dict[str, Any] = {"mode": "quick" if args.quick else "full", "cores": os.cpu_count()}
    wall_started = time.perf_counter()

    realistic = not args.small_pages
    site = SiteProcess(build_site_hosts, hosts_n, feeds_per_host, entries, realistic, daemon=False)
    base_urls, feed_list, page_sizes = site.hello
    figures.update(
        hosts=hosts_n,
        feeds=len(feed_list),
        pages=len(page_sizes),
        page_kb_median=sorted(page_sizes)[len(page_sizes) // 2] / 1024,
    )

    # The limit is measured before the ingest and again at the end of the run, and their mean
    # is the one the ingest is compared with: the shared machine's speed drifts by 10-15 % within
    # minutes, and one measurement on one side of the ingest made the ratio swing with it.
    limit_before, limit_cpu_before = site.ask("limit")

    workdir = Path(tempfile.mkdtemp(prefix="newsmon-bench-"))
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    os.environ.update(
        bench_environment(
            database_url,
            # The generated hosts are ours, on loopback: no politeness delay, as many connections
            # as help.
            NEWSMON_HOST_RPS="100000",
            NEWSMON_MAX_PER_HOST="4",
            NEWSMON_MAX_CONNECTIONS="64",
            # Above the site's page count: one ingest takes every page (the default run cap,
            # 1,000, left 3,500 of 4,500 pages to the "no-change" pass).
            NEWSMON_MAX_PAGES_PER_RUN=str(len(page_sizes) + 1000),
            # Prefect's temporary API as `newsmon ingest` runs it (the flow runs on it here too).
            **PREFECT_TEMPORARY_API_SERVICES_OFF,
        )
    )
    from newsmon.flows.ingest import ingest
    from newsmon.settings import Settings
    from newsmon.store.db import make_engine, upgrade
    from newsmon.tasks.runtime import close_extractors, extractor

    # What the flow process holds before its first run (Prefect, newsmon, their imports): the
    # floor under its peak.
    figures["rss_after_imports_mb"] = max_peak_rss_mb({os.getpid()})
    config = write_config(workdir / "config", base_urls, feed_list)
    upgrade(make_engine(database_url))

    figures["prefect_startup_s"] = start_prefect()
    prefect_pids = descendants() - {site.pid}  # the temporary API server

    # The extraction processes, started as the first batch of a run would start them: a one-off
    # per process like the API (`newsmon serve` keeps both for every run), reported apart.
    started = time.perf_counter()
    extractor(Settings()).start()
    figures["extract_pool_start_s"] = time.perf_counter() - started
    pool_pids = descendants() - prefect_pids - {site.pid}
    # The feed-parsing processes likewise (a process each, feedparser's import): kept by a
    # served process, started by the first poll otherwise.
    started = time.perf_counter()
    start_feed_parser()
    figures["feed_pool_start_s"] = time.perf_counter() - started
    feed_pids = descendants() - pool_pids - prefect_pids - {site.pid}
    clock = TaskClock()
    clock.wrap_all()
    prefect_cpu_before = cpu_seconds(prefect_pids)
    pool_cpu_before = cpu_seconds(pool_pids)
    feed_cpu_before = cpu_seconds(feed_pids)
    site_cpu_before = site.ask("cpu")
    main_cpu_before = time.process_time()
    network_cpu_before = thread_cpu_s(NETWORK_THREAD)
    all_cpu_before = cpu_seconds(descendants() | {os.getpid()})
    started = time.perf_counter()
    if args.profile:
        import yappi

        yappi.set_clock_type("cpu")
        yappi.start()
    first = ingest(config_dir=str(config), force=True)
    ended = time.perf_counter()
    first_wall = ended - started
    # The run's phases without extraction: before the first page reaches the extraction processes
    # (due sources, polling, queueing, the first batch's fetch) and after the last store (alert
    # delivery, digest, summary, the flow run's end).
    figures["before_first_extraction_s"] = clock.first_started.get(EXTRACTION, ended) - started
    figures["after_last_store_s"] = ended - clock.last_ended.get("store-articles", ended)
    spans = sorted(clock.extraction_spans)
    figures["between_extraction_batches_s"] = sum(
        max(0.0, later[0] - earlier[1]) for earlier, later in itertools.pairwise(spans)
    )
    figures["before_first_extraction_cpu_share"] = (
        (clock.cpu_at_first_extraction or all_cpu_before) - all_cpu_before
    ) / max(1e-9, (os.cpu_count() or 1) * figures["before_first_extraction_s"])
    if args.profile:
        yappi.stop()
        stats = yappi.get_func_stats()
        stats.sort("tsub")
        stats.print_all(
            out=sys.stderr,
            columns={0: ("name", 70), 1: ("ncall", 10), 2: ("tsub", 8), 3: ("ttot", 8)},
        )
        yappi.get_thread_stats().print_all(out=sys.stderr)
    figures["ingest_wall_s"] = first_wall
    # CPU the loopback site took from the same two cores (elsewhere it is on other machines).
    figures["site_cpu_s"] = site.ask("cpu") - site_cpu_before
    # CPU of the flow's process (Prefect, HTTP client, store) and of the extraction processes,
    # which started with this ingest (the pool is created on the first batch).
    figures["main_cpu_s"] = time.process_time() - main_cpu_before
    figures["network_thread_cpu_s"] = thread_cpu_s(NETWORK_THREAD) - network_cpu_before
    ingest_task_cpu = dict(clock.cpu_by_task)
    figures["task_cpu_ms_per_article"] = {
        name: round(cpu / max(1, first["stored"]) * 1000, 3)
        for name, cpu in ingest_task_cpu.items()
    }
    # Before the first batch is fetched nothing extracts; after the last is extracted, one store.
    figures["pipeline_fill_drain_s"] = (
        clock.first_started.get(EXTRACTION, 0.0)
        - clock.first_started.get("fetch-extract-pages", 0.0)
        + clock.last.get("store-articles", 0.0)
    )
    figures["workers_cpu_s"] = cpu_seconds(pool_pids) - pool_cpu_before
    figures["feed_parse_cpu_s"] = cpu_seconds(feed_pids) - feed_cpu_before
    figures["prefect_server_cpu_s"] = cpu_seconds(prefect_pids) - prefect_cpu_before
    figures["ingest_stored"] = first["stored"]
    figures["ingest_failed"] = first["failed"]
    figures["ingest_articles_per_s"] = first["stored"] / first_wall
    # Prefect's part of the ingest wall: what its flow run and task runs cost when their bodies
    # do nothing, measured just after in this process, times the runs the ingest made. (Summing
    # the tasks' own times no longer works: the flow runs fetch, extract and store at once.)
    ingest_calls = {name: n for name, n in clock.calls.items() if name != EXTRACTION}
    figures["ingest_stage_s"] = {name: round(s, 3) for name, s in sorted(clock.by_task.items())}

    requests_before = site.ask("requests")
    started = time.perf_counter()
    second = ingest(config_dir=str(config), force=True)
    figures["no_change_pass_s"] = time.perf_counter() - started
    figures["no_change_stored"] = second["stored"]
    figures["no_change_requests"] = site.ask("requests") - requests_before
    check_passes(figures)
    figures["peak_rss_worker_mb"] = max_peak_rss_mb(pool_pids)
    close_extractors()
    # After the no-change pass: the API server is still recording these runs for a while, which
    # would slow a flow run started right after them.
    overhead = prefect_overheads()
    prefect_s = overhead["flow"] + sum(
        count * overhead["submit" if name in SUBMITTED_TASKS else "call"]
        for name, count in ingest_calls.items()
    )
    figures["prefect_flow_run_s"] = overhead["flow"]
    figures["prefect_task_run_ms"] = overhead["call"] * 1000
    figures["prefect_s"] = prefect_s
    figures["prefect_task_runs"] = sum(ingest_calls.values())
    figures["prefect_share"] = prefect_s / first_wall
    # The temporary API server's CPU is Prefect's too, and on 2 cores it is taken from extraction.
    ingest_cpu = sum(
        figures[k]
        for k in (
            "main_cpu_s",
            "workers_cpu_s",
            "feed_parse_cpu_s",
            "prefect_server_cpu_s",
            "site_cpu_s",
        )
    )
    figures["prefect_server_cpu_share"] = figures["prefect_server_cpu_s"] / ingest_cpu
    figures["prepare_cpu_ms_per_article"] = prepare_cpu_ms(database_url, config)

    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    figures["dedup_lookup_ms"] = dedup_lookup_ms(database_url)
    figures["dedup_archive_articles"] = first["stored"]

    from bench_query import measure

    figures.update(
        measure(articles=1000 if args.quick else 3000, rules=1000, repeat=2 if args.quick else 3)
    )
    # The limit again, after the ingest (and after Prefect's API server has recorded its runs).
    limit_after, limit_cpu_after = site.ask("limit")
    figures["extract_limit_before_after"] = [limit_before, limit_after]
    figures["extract_limit_articles_per_s"] = (limit_before + limit_after) / 2
    figures["limit_cpu_ms_per_page"] = (limit_cpu_before + limit_cpu_after) / 2 * 1000
    figures["ingest_vs_limit_ratio"] = (
        figures["ingest_articles_per_s"] / figures["extract_limit_articles_per_s"]
    )
    figures["cpu_ms_per_article"] = cpu_per_article(figures, ingest_task_cpu)
    # The ratio a machine with no other load would give (ingest is CPU-bound on 2 cores): plain
    # trafilatura's CPU per page over all the CPU the ingest spent per article. On a shared
    # machine the wall-time ratio also carries what the neighbours took during each part.
    figures["ingest_vs_limit_cpu_ratio"] = figures["limit_cpu_ms_per_page"] / sum(
        figures["cpu_ms_per_article"].values()
    )
    figures["quick_vs_full"] = fixed_cost_bias(figures, hosts_n * feeds_per_host * entries)
    figures["wall_s"] = time.perf_counter() - wall_started
    site.close()

    rows = [
        (
            "pages on the generated site",
            f"{figures['pages']} ({figures['feeds']} feeds on {hosts_n} hosts; median page {figures['page_kb_median']:.0f} KB)",
        ),
        (
            "limit: plain trafilatura.extract, 1 process/core",
            f"{figures['extract_limit_articles_per_s']:.1f} pages/s ({figures['limit_cpu_ms_per_page']:.1f} ms CPU per page;"
            f" mean of {limit_before:.1f} before the ingest and {limit_after:.1f} after it)",
        ),
        (
            "end-to-end ingest (Prefect flow)",
            f"{figures['ingest_articles_per_s']:.1f} articles/s ({figures['ingest_stored']} in {first_wall:.1f} s)",
        ),
        ("ratio ingest / limit", f"{figures['ingest_vs_limit_ratio']:.2f} (target >= 0.75)"),
        (
            "ratio by CPU: limit's CPU per page / ingest's per article",
            f"{figures['ingest_vs_limit_cpu_ratio']:.2f} ({figures['limit_cpu_ms_per_page']:.1f} / {sum(figures['cpu_ms_per_article'].values()):.1f} ms)",
        ),
        (
            "quick vs full: per-run fixed costs",
            f"{figures['quick_vs_full']['fixed_s']:.2f} s (flow run start/end {figures['prefect_flow_run_s']:.2f} s,"
            f" pipeline fill/drain {figures['pipeline_fill_drain_s']:.2f} s) = {figures['quick_vs_full']['fixed_ms_per_page_here']:.2f} ms/page here,"
            f" {figures['quick_vs_full']['fixed_ms_per_page_full']:.2f} ms/page over the full run's 4,500:"
            f" ratio here {figures['quick_vs_full']['ratio_here']:.2f}, with the full run's weight {figures['quick_vs_full']['ratio_projected_full']:.2f}",
        ),
        (
            "CPU per article (ms), by part",
            "; ".join(f"{name} {ms:.2f}" for name, ms in figures["cpu_ms_per_article"].items()),
        ),
        (
            "Prefect's share of the ingest wall",
            f"{figures['prefect_share'] * 100:.1f} % ({figures['prefect_s']:.2f} s: 1 flow run, {figures['prefect_task_runs']} task runs);"
            f" its API server: {figures['prefect_server_cpu_share'] * 100:.1f} % of the CPU",
        ),
        (
            "CPU in the ingest: flow process / extraction / feed parsing / API / site",
            f"{figures['main_cpu_s']:.1f} / {figures['workers_cpu_s']:.1f} / {figures['feed_parse_cpu_s']:.1f}"
            f" / {figures['prefect_server_cpu_s']:.1f} / {figures['site_cpu_s']:.1f} s"
            f" (of {2 * first_wall:.1f} core-s)",
        ),
        (
            "no extraction possible: before the first batch / after the last store",
            f"{figures['before_first_extraction_s']:.2f} s (due sources, polls, queueing, first fetch;"
            f" {figures['before_first_extraction_cpu_share'] * 100:.0f} % of the cores busy)"
            f" / {figures['after_last_store_s']:.2f} s (alerts, digest, summary, flow run end);"
            f" between batches {figures['between_extraction_batches_s']:.2f} s",
        ),
        (
            "time inside each task (summed)",
            ", ".join(f"{name} {s:.2f} s" for name, s in figures["ingest_stage_s"].items()),
        ),
        (
            "once per process: Prefect's API start / extraction pool / feed-parsing pool",
            f"{figures['prefect_startup_s']:.1f} s / {figures['extract_pool_start_s']:.1f} s"
            f" / {figures['feed_pool_start_s']:.1f} s",
        ),
        (
            "no-change pass",
            f"{figures['no_change_pass_s']:.2f} s ({figures['no_change_requests']} requests, {figures['no_change_stored']} stored)",
        ),
        (
            "query matching, 1,000 rules / 10,000 terms, 1 core",
            f"{figures['match_articles_per_s']:,.0f} articles/s (target >= 5,000)",
        ),
        (
            "near-duplicate lookup (SQLite archive)",
            f"{figures['dedup_lookup_ms']:.2f} ms/article at {figures['dedup_archive_articles']} articles",
        ),
        (
            "peak RSS: flow process / largest extraction process",
            f"{figures['peak_rss_mb']:.0f} MB / {figures['peak_rss_worker_mb']:.0f} MB"
            f" (flow process after its imports: {figures['rss_after_imports_mb']:.0f} MB)",
        ),
        ("benchmark wall time", f"{figures['wall_s']:.0f} s"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"newsmon benchmark ({figures['mode']}, {figures['cores']} cores)")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
