"""`newsmon extract`: one page extracted as ingest would, for checking a site."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from newsmon.app.commands.output import fail
from newsmon.app.commands.preflight import settings_or_exit


def extract(
    path_or_url: Annotated[str, typer.Argument(help="An HTML file or an http(s) URL.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print title, text and metadata as JSON.")
    ] = False,
    ignore_robots: Annotated[
        bool,
        typer.Option("--ignore-robots", help="Fetch the URL even if robots.txt disallows it."),
    ] = False,
) -> None:
    """Extract one page as ingest would: clean text, or metadata with --json."""
    from newsmon.extract.page import ExtractionError, extract_page
    from newsmon.urls import canonical_url, is_http_url

    url: str | None = None
    if is_http_url(path_or_url):
        html, url = _fetch_one(path_or_url, robots=not ignore_robots)
    else:
        path = Path(path_or_url)
        if not path.is_file():
            fail(f"{path_or_url}: no such file (give an HTML file or an http(s) URL)", 2)
        html = _decode_file(path)
    try:
        result = extract_page(html, url)
    except ExtractionError as err:
        fail(f"{path_or_url}: {err}", 1)
    if not as_json:
        sys.stdout.write(result.text + "\n")
        return
    canonical = result.canonical_url or url
    record = {
        "title": result.title,
        "text": result.text,
        "published_at": result.published_at.isoformat().replace("+00:00", "Z")
        if result.published_at
        else None,
        "author": result.author,
        "language": result.language,
        "canonical_url": canonical_url(canonical) if canonical else None,
    }
    sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=2) + "\n")


def _decode_file(path: Path) -> str:
    from newsmon.fetch.charset import decode_body

    return decode_body(path.read_bytes(), content_type=None)


def _fetch_one(url: str, *, robots: bool = True) -> tuple[str, str]:
    import asyncio
    import functools

    from newsmon.fetch.concurrent import http_policy
    from newsmon.fetch.http import Fetcher, FetchError
    from newsmon.fetch.robots import RobotsCache

    settings = settings_or_exit()

    async def run() -> tuple[str, str]:
        async with Fetcher(http_policy(settings)) as fetcher:
            # The same rules as ingest: the page's robots.txt first.
            check = functools.partial(RobotsCache().check, fetcher) if robots else None
            result = await fetcher.fetch(url, check=check)
            return result.text(), result.final_url

    try:
        page = asyncio.run(run())
    except FetchError as err:
        fail(str(err), 1)
    return page
