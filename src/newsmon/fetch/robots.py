"""robots.txt for article pages (RFC 9309): fetched once per site and cached, parsed by Protego.

Feeds are not checked: a feed URL is one a person chose to subscribe to, and the feed is published
to be polled. Article pages are what a crawler would take, so they follow the site's rules.

What an answer means follows RFC 9309 section 2.3.1: a 2xx body is parsed; a 4xx other than 429
means "no robots.txt" (allow everything); a 429, a 5xx, a timeout or a refused connection means the
site is unreachable, and every page is refused until the file can be read (the pages are retried
on a later run, unlike pages the rules disallow, which are given up). Protego was chosen over
`urllib.robotparser` because it implements the RFC's longest-match precedence and the `*` / `$`
wildcards that news sites use (`Disallow: /*?s=`); urllib applies rules in file order and reads
wildcards literally.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from protego import Protego

from newsmon.fetch.http import Fetcher, FetchError, HttpStatusError
from newsmon.urls import canonical_url, host_key

# RFC 9309 2.5: crawlers must parse at least the first 500 KiB; larger files are refused whole.
ROBOTS_MAX_BYTES = 512 * 1024
# An unreachable robots.txt is tried again after this long (the default TTL is for good answers).
UNREACHABLE_TTL_S = 300.0
# A Crawl-delay is honoured up to this: a page batch of one site must still finish within a run.
MAX_CRAWL_DELAY_S = 10.0
AGENT = "newsmon"  # the product token rules are matched against (our User-Agent starts with it)


class RobotsRefusal(FetchError):
    """A page robots.txt does not let us fetch; `permanent` when the rules say so (not an outage)."""

    def __init__(self, url: str, detail: str, *, permanent: bool = False) -> None:
        super().__init__(url, "robots", detail)
        self.permanent = permanent

    def __reduce__(self) -> tuple[type[RobotsRefusal], tuple[str, str], dict[str, bool]]:
        return (type(self), (self.url, self.detail), {"permanent": self.permanent})

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        if state is not None:  # always a dict from `__reduce__`: None is BaseException's signature
            self.permanent = state["permanent"]


@dataclass(frozen=True)
class RobotsRules:
    """What one site's robots.txt says (or why it could not be read), and until when it holds."""

    robots_url: str
    parser: Protego | None  # None: no rules (no robots.txt, or unreachable)
    unreachable: str | None  # the reason every page is refused, when the file could not be read
    expires_at: float

    def refusal(self, url: str, agent: str = AGENT) -> RobotsRefusal | None:
        """Why `url` may not be fetched, or None if it may."""
        if self.unreachable is not None:
            return RobotsRefusal(
                url,
                f"not fetched: {self.robots_url} could not be read ({self.unreachable}); "
                "retried on a later run",
                permanent=False,
            )
        if self.parser is not None and not self.parser.can_fetch(url, agent):
            return RobotsRefusal(
                url, f"disallowed by robots.txt ({self.robots_url})", permanent=True
            )
        return None


def robots_url(url: str) -> str:
    """The robots.txt governing `url`: one per scheme, host and port (RFC 9309 2.3)."""
    # By host key: one robots.txt (and one cache entry) per server however its address is spelt.
    return f"{urlsplit(canonical_url(url)).scheme}://{host_key(url)}/robots.txt"


class RobotsCache:
    """robots.txt per site for a process: fetched on first need, kept `ttl_s`, shared by loops.

    Concurrent requests for one site's rules wait for a single fetch (a thread-safe future, so
    tasks running their own event loops share it too).
    """

    def __init__(
        self,
        *,
        ttl_s: float = 3600.0,
        agent: str = AGENT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.agent = agent
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: dict[str, RobotsRules] = {}
        self._pending: dict[str, concurrent.futures.Future[RobotsRules]] = {}
        self.fetches = 0  # robots.txt requests made (for reports and tests)

    async def check(self, fetcher: Fetcher, url: str) -> None:
        """Raise RobotsRefusal if `url` may not be fetched (a `Fetcher.fetch` check)."""
        refusal = (await self.rules(fetcher, url)).refusal(url, self.agent)
        if refusal is not None:
            raise refusal

    async def rules(self, fetcher: Fetcher, url: str) -> RobotsRules:
        """The rules for `url`'s site, from the cache or fetched now."""
        key = robots_url(url)
        with self._lock:
            cached = self._rules.get(key)
            if cached is not None and cached.expires_at > self._clock():
                return cached
            pending = self._pending.get(key)
            owner = pending is None
            if pending is None:
                pending = self._pending[key] = concurrent.futures.Future()
        if not owner:
            return await asyncio.wrap_future(pending)
        try:
            rules = await self._fetch(fetcher, key)
        except BaseException as err:
            with self._lock:
                del self._pending[key]
            pending.set_exception(err)
            raise
        with self._lock:
            self._rules[key] = rules
            del self._pending[key]
        pending.set_result(rules)
        return rules

    async def _fetch(self, fetcher: Fetcher, key: str) -> RobotsRules:
        self.fetches += 1
        now = self._clock()
        try:
            result = await fetcher.fetch(
                key, headers={"Accept": "text/plain, */*;q=0.5"}, max_bytes=ROBOTS_MAX_BYTES
            )
        except HttpStatusError as err:
            if 400 <= err.status < 500 and err.status != 429:
                return RobotsRules(key, None, None, now + self.ttl_s)  # no robots.txt: allowed
            return RobotsRules(key, None, f"HTTP {err.status}", now + UNREACHABLE_TTL_S)
        except FetchError as err:
            return RobotsRules(key, None, err.detail, now + UNREACHABLE_TTL_S)
        if result.status == 304:  # we send no validators; a server that answers 304 anyway
            return RobotsRules(key, None, None, now + self.ttl_s)
        parser = Protego.parse(result.body.decode("utf-8", errors="replace"))
        delay = _crawl_delay(parser, self.agent)
        if delay:
            # The site's rate limit applies to the whole host, feeds included, for this process.
            fetcher.politeness.slow_down(host_key(key), 1.0 / min(delay, MAX_CRAWL_DELAY_S))
        return RobotsRules(key, parser, None, now + self.ttl_s)


def _crawl_delay(parser: Protego, agent: str) -> float | None:
    """Seconds between requests the rules ask for (Crawl-delay, or Request-rate), if any."""
    delay = parser.crawl_delay(agent)
    rate = parser.request_rate(agent)
    if rate is not None and rate.requests > 0:
        per_request = rate.seconds / rate.requests
        delay = max(delay or 0.0, per_request)
    return float(delay) if delay and delay > 0 else None
