"""The shared HTTP client: timeouts, per-host politeness, size caps, redirects and errors.

Every feed and page request of a run goes through one `Fetcher`, so the limits hold for the run
as a whole. Requests are made as httpx's client made them (`newsmon.fetch.exchange`) and sent on
connections of the connection layer (`newsmon.fetch.connection`), where the SSRF guard checks
every address; bodies are decompressed by `newsmon.fetch.decompress`.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urldefrag, urljoin

import httpcore
import httpx

from newsmon.fetch.charset import decode_text
from newsmon.fetch.connection import (
    AddressRefused,
    GuardedNetworkBackend,
    HostConnections,
    Resolver,
)
from newsmon.fetch.decompress import ACCEPT_ENCODING, Decoder, OverLimit
from newsmon.fetch.exchange import (
    TRANSPORT_ERRORS,
    RequestMaker,
    answer_headers,
    check_redirect,
    reason_phrase,
)
from newsmon.fetch.politeness import HostLimit, Politeness
from newsmon.fetch.ssrf import PrivateAccess
from newsmon.urls import host_key, is_http_url

FetchKind = Literal[
    "timeout", "connect", "protocol", "too_large", "blocked", "redirects", "status",
    "content_type", "invalid_url", "robots",
]  # fmt: skip
# Called with each URL about to be requested (the first and every redirect target); raises a
# FetchError to refuse it (robots.txt rules use this).
RequestCheck = Callable[[str], Awaitable[None]]

DEFAULT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Failures that asking again cannot cure; everything else (timeouts, connection failures, 5xx,
# 429, 403, 408, a broken stream) may pass and is retried on later runs.
_PERMANENT_KINDS = frozenset(
    {"too_large", "blocked", "redirects", "content_type", "invalid_url"}
)  # robots.txt refusals decide for themselves (an unreachable robots.txt may come back)
_PERMANENT_STATUSES = frozenset({400, 404, 405, 406, 410, 414, 451, 501})


@dataclass(frozen=True)
class HttpPolicy:
    """Limits of one run's HTTP traffic (built from Settings by `newsmon.fetch.concurrent.http_policy`)."""

    user_agent: str
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0  # whole request incl. redirects and body; not the queueing
    max_feed_bytes: int = 5 * 2**20
    max_page_bytes: int = 5 * 2**20  # counted after decompression, while streaming
    max_redirects: int = 5
    max_connections: int = 32
    max_per_host: int = 2
    host_rps: float | None = None  # request starts per second per host (None: no rate limit)
    allow_private_hosts: bool = False
    private_allowlist: tuple[str, ...] = ()  # CIDRs, addresses or host names (PrivateAccess)


class FetchError(Exception):
    """A request that failed; `kind` says how, `str(err)` names the URL and the reason."""

    def __init__(self, url: str, kind: FetchKind, detail: str) -> None:
        super().__init__(url, kind, detail)
        self.url = url
        self.kind: FetchKind = kind
        self.detail = detail
        # Would asking again later get the same answer? (too large, a redirect loop, ...)
        self.permanent = kind in _PERMANENT_KINDS

    def __str__(self) -> str:
        return f"{self.url}: {self.detail}"


class HttpStatusError(FetchError):
    """A 4xx/5xx answer (or a 3xx that cannot be followed); Retry-After parsed when present."""

    def __init__(self, url: str, status: int, detail: str, retry_after_s: float | None) -> None:
        super().__init__(url, "status", detail)
        self.status = status
        # 404, 410 and their kind say the page is not there; 5xx, 429, 403, 408 may pass.
        self.permanent = status in _PERMANENT_STATUSES
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[type[HttpStatusError], tuple[str, int, str, float | None]]:
        return (type(self), (self.url, self.status, self.detail, self.retry_after_s))


class BlockedAddressError(FetchError):
    """Refused by the SSRF guard: the host resolves to a non-public address."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(url, "blocked", detail)

    def __reduce__(self) -> tuple[type[BlockedAddressError], tuple[str, str]]:
        return (type(self), (self.url, self.detail))


@dataclass(frozen=True)
class FetchResult:
    """A successful (2xx) or not-modified (304) response, body decompressed."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]  # lower-case keys; repeated headers joined with ", "
    body: bytes
    redirects: tuple[str, ...] = field(default=())

    def text(self) -> str:
        """The body as text, in the encoding the response declares or the bytes reveal."""
        content_type = self.headers.get("content-type")
        return decode_text(self.body, content_type=content_type, where=self.final_url).text


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After in seconds from delta-seconds or an HTTP-date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Fetcher:
    """One per run: a pooled client under the process's politeness limits. Use as `async with`.

    `politeness` is the registry of per-host rates and connection limits; pass the process's one
    (tasks/runtime.py) so that every Fetcher of the process shares it. Without it the Fetcher
    makes its own from the policy.
    """

    def __init__(
        self,
        policy: HttpPolicy,
        *,
        resolver: Resolver | None = None,
        politeness: Politeness | None = None,
    ) -> None:
        self.policy = policy
        self.politeness = politeness or Politeness(
            default=HostLimit(policy.host_rps, policy.max_per_host),
            max_connections=policy.max_connections,
        )
        backend = GuardedNetworkBackend(
            resolver,
            private_access=PrivateAccess.parse(
                policy.allow_private_hosts, policy.private_allowlist
            ),
        )
        self._connections = HostConnections(backend, keepalive=policy.max_per_host)
        self._requests = RequestMaker(
            user_agent=policy.user_agent,
            accept=DEFAULT_ACCEPT,
            accept_encoding=ACCEPT_ENCODING,
            timeouts={
                "connect": policy.connect_timeout_s,
                "read": policy.read_timeout_s,
                "write": policy.read_timeout_s,
                "pool": policy.total_timeout_s,
            },
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._connections.aclose()

    async def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        content_types: Collection[str] | None = None,
        check: RequestCheck | None = None,
    ) -> FetchResult:
        """GET `url`, following redirects; 2xx and 304 are returned, everything else raises.

        `content_types` (media types, e.g. {"text/html"}) refuses other responses before their
        body is read. `max_bytes` defaults to the policy's page cap. `check` vets the URL and
        every redirect target before it is requested (robots.txt).
        """
        if not is_http_url(url):
            raise FetchError(url, "invalid_url", "not an absolute http(s) URL")
        cap = self.policy.max_page_bytes if max_bytes is None else max_bytes
        remaining = self.policy.total_timeout_s
        redirects: list[str] = []
        current = url
        while True:
            if check is not None:
                await check(current)
            try:
                outcome, spent = await self._hop(
                    url, current, headers, cap, content_types, remaining
                )
            except AddressRefused as err:
                what = err.address if err.host == err.address else f"{err.host} ({err.address})"
                raise BlockedAddressError(
                    url,
                    f"{_via(url, current)}refused by the SSRF guard: {what} is a {err.reason}",
                ) from None
            except TRANSPORT_ERRORS as err:
                raise _transport_error(url, current, err, self.policy) from None
            remaining -= spent
            if isinstance(outcome, FetchResult):
                return FetchResult(
                    url, current, outcome.status, outcome.headers, outcome.body, tuple(redirects)
                )
            try:
                target = urldefrag(urljoin(current, outcome.strip())).url
            except ValueError as err:  # urllib's own refusals (a bracket out of place, ...)
                detail = f"{_via(url, current)}redirected to an invalid URL {outcome!r} ({err})"
                raise FetchError(url, "invalid_url", detail) from None
            if not is_http_url(target):
                raise FetchError(url, "redirects", f"{_via(url, current)}redirected to {target!r}")
            # A second visit is allowed: cookie-consent flows go A -> B (sets cookie) -> A.
            if [urldefrag(url).url, *redirects].count(target) >= 2:
                chain = " -> ".join([url, *redirects, target])
                raise FetchError(url, "redirects", f"redirect loop: {chain}")
            if len(redirects) >= self.policy.max_redirects:
                raise FetchError(
                    url, "redirects", f"more than {self.policy.max_redirects} redirects"
                )
            redirects.append(target)
            current = target

    async def _hop(
        self,
        url: str,
        current: str,
        headers: Mapping[str, str] | None,
        cap: int,
        content_types: Collection[str] | None,
        remaining: float,
    ) -> tuple[FetchResult | str, float]:
        """One request: a FetchResult, or the Location of a redirect; with the seconds it took.

        Waiting for the host's turn is not part of the request's time budget: only the request
        itself is (the timeout below), so the seconds returned start once the slot is held. A
        redirect's next hop on a busy host queues again, and that wait must not eat the budget.
        """
        key = host_key(current)
        async with self.politeness.slot(key):
            started = asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    target, request = self._requests.request(current, headers)
                    async with self._connections.send(request) as response:
                        outcome = await self._answer(
                            url, current, target, response, cap, content_types
                        )
                return outcome, asyncio.get_running_loop().time() - started
            except TimeoutError:
                raise FetchError(
                    url,
                    "timeout",
                    f"{_via(url, current)}timed out after {self.policy.total_timeout_s:g} s (total)",
                ) from None

    async def _answer(
        self,
        url: str,
        current: str,
        target: httpx.URL,
        response: httpcore.Response,
        cap: int,
        content_types: Collection[str] | None,
    ) -> FetchResult | str:
        status = response.status
        headers = answer_headers(response.headers)
        if "set-cookie" in headers or "set-cookie2" in headers:
            self._requests.remember_cookies(target, status, response.headers)
        location = headers.get("location")
        if status in _REDIRECT_STATUSES and location:
            check_redirect(location, target)
            return location
        if not (200 <= status < 300 or status == 304):
            retry_after = parse_retry_after(headers.get("retry-after"))
            if status in (429, 503):
                self.politeness.pause(host_key(current), retry_after)
            detail = f"{_via(url, current)}HTTP {status} {reason_phrase(response)}".rstrip()
            if retry_after is not None:
                detail += f" (retry after {retry_after:g} s)"
            raise HttpStatusError(url, status, detail, retry_after)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_types is not None and status != 304 and media_type not in content_types:
            wanted = ", ".join(sorted(content_types))
            raise FetchError(
                url,
                "content_type",
                f"{_via(url, current)}Content-Type is {media_type or 'missing'}, not {wanted}",
            )
        body = await _read_capped(url, current, response, headers, cap)
        return FetchResult(url, current, status, headers, body)


async def _read_capped(
    url: str, current: str, response: httpcore.Response, headers: Mapping[str, str], cap: int
) -> bytes:
    """The decompressed body, aborted as soon as it exceeds `cap` bytes."""
    too_large = FetchError(url, "too_large", f"{_via(url, current)}body is over {_size(cap)}")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        too_large.detail += f" (Content-Length {_size(int(declared))})"
        raise too_large
    encoding = headers.get("content-encoding", "").strip().lower()
    try:
        decoder = Decoder(encoding, cap)
    except ValueError as err:
        raise FetchError(url, "content_type", f"{_via(url, current)}{err}") from None
    chunks: list[bytes] = []
    size = 0
    # Raw bytes, decompressed here: httpx's aiter_bytes inflated each network chunk in one
    # piece, and 64 KB of brotli can expand to gigabytes before any cap could be checked.
    async for raw in response.aiter_stream():
        try:
            for piece in decoder.decode(raw):
                size += len(piece)
                if size > cap:
                    raise OverLimit
                chunks.append(piece)
        except OverLimit:
            raise too_large from None
        except Exception as err:  # zlib.error, brotli.error, zstandard.ZstdError
            detail = f"could not decompress the {encoding} body ({err})"
            raise FetchError(url, "protocol", f"{_via(url, current)}{detail}") from None
    return b"".join(chunks)


def _transport_error(url: str, current: str, err: Exception, policy: HttpPolicy) -> FetchError:
    via = _via(url, current)
    if isinstance(err, httpcore.ConnectTimeout):
        return FetchError(url, "timeout", f"{via}timed out connecting ({err or 'no answer'})")
    if isinstance(err, httpcore.ReadTimeout):
        return FetchError(url, "timeout", f"{via}no data for {policy.read_timeout_s:g} s (read)")
    if isinstance(err, httpcore.TimeoutException):
        return FetchError(url, "timeout", f"{via}timed out ({type(err).__name__})")
    if isinstance(err, httpx.InvalidURL | httpx.UnsupportedProtocol | httpcore.UnsupportedProtocol):
        return FetchError(url, "invalid_url", f"{via}invalid URL ({err})")
    if isinstance(err, httpcore.ConnectError):
        return FetchError(url, "connect", f"{via}could not connect ({err or 'refused'})")
    if isinstance(err, httpcore.NetworkError):
        return FetchError(url, "connect", f"{via}connection failed ({err or type(err).__name__})")
    return FetchError(url, "protocol", f"{via}bad HTTP response ({err or type(err).__name__})")


def _via(url: str, current: str) -> str:
    """Names the redirect hop in an error message when it is not the URL asked for."""
    return "" if current == url else f"(redirected to {current}) "


def _size(n: int) -> str:
    return f"{n / 2**20:.3g} MiB" if n >= 2**20 else f"{n:,} bytes"
