"""The shared HTTP client: timeouts, per-host politeness, size caps and the SSRF guard.

Every feed and page request of a run goes through one `Fetcher`, so the limits hold for the run
as a whole. The SSRF guard sits in the connection layer (a custom httpcore network backend): a host
name is resolved once, every address is checked, and the socket is opened to the checked address,
so a DNS answer that changes between check and connect (rebinding) cannot reach an internal host.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import ipaddress
import re
import select
import socket
import ssl
import typing
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urldefrag, urljoin

import anyio
import httpcore
import httpx

# Text decoding lives in newsmon.fetch.charset; these names stay importable from here.
from newsmon.fetch.charset import declared_encoding as declared_encoding
from newsmon.fetch.charset import decode_body as decode_body
from newsmon.fetch.charset import decode_text
from newsmon.fetch.charset import detect_encoding as detect_encoding
from newsmon.fetch.politeness import HostLimit, Politeness
from newsmon.fetch.ssrf import PrivateAccess
from newsmon.fetch.ssrf import (
    refusal_reason as refusal_reason,  # re-exported: the guard's public check
)
from newsmon.urls import host_key, is_http_url

try:
    import brotli
except ImportError:  # pragma: no cover - brotli comes with httpx[brotli]
    brotli = None
try:
    import zstandard
except ImportError:  # pragma: no cover - zstandard comes with httpx[zstd]
    zstandard = None  # type: ignore[assignment]

Resolver = Callable[[str, int], Awaitable[list[str]]]
FetchKind = Literal[
    "timeout", "connect", "protocol", "too_large", "blocked", "redirects", "status",
    "content_type", "invalid_url", "robots",
]  # fmt: skip
# Called with each URL about to be requested (the first and every redirect target); raises a
# FetchError to refuse it (robots.txt rules use this).
RequestCheck = Callable[[str], Awaitable[None]]

ACCEPT_ENCODING = ", ".join(
    ["gzip", "deflate"] + (["br"] if brotli else []) + (["zstd"] if zstandard else [])
)
DEFAULT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Failures that asking again cannot cure; everything else (timeouts, connection failures, 5xx,
# 429, 403, 408, a broken stream) may pass and is retried on later runs.
_PERMANENT_KINDS = frozenset(
    {"too_large", "blocked", "redirects", "content_type", "invalid_url"}
)  # robots.txt refusals decide for themselves (an unreachable robots.txt may come back)
_PERMANENT_STATUSES = frozenset({400, 404, 405, 406, 410, 414, 451, 501})
# Decompressed output is produced at most this much at a time, so a bomb never sits in memory.
_DECODE_CHUNK = 64 * 1024
# Idle connections are kept this long for reuse (a host polled at 1 request/s reuses its own).
KEEPALIVE_EXPIRY_S = 5.0


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


# --- the SSRF guard -------------------------------------------------------------------------


_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.I)


def ip_literal(host: str) -> str | None:
    """The IP address a host name spells, or None for a name to resolve.

    Besides dotted quads and IPv6, the legacy IPv4 spellings `inet_aton` and browsers accept:
    `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1` all mean 127.0.0.1. Parsed here, without
    the resolver, so the guard judges the address they mean whatever resolver is in use.
    """
    candidate = host.strip("[]")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    if not _LEGACY_IPV4.fullmatch(candidate):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(candidate.rstrip(".")))
    except OSError:
        return "255.255.255.255"  # numeric but out of range: refused as reserved, never resolved


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, in its order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _AddressRefused(Exception):
    """Raised inside the transport; `Fetcher.fetch` turns it into a BlockedAddressError."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(host, address, reason)
        self.host, self.address, self.reason = host, address, reason


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, refuses non-public addresses, then connects to the very address checked."""

    def __init__(
        self,
        resolver: Resolver | None,
        *,
        allow_private_hosts: bool = False,
        private_access: PrivateAccess | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._resolver = resolver  # None: the system resolver, looked up at each call
        self._access = private_access or PrivateAccess(allow_all=allow_private_hosts)
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first reachable checked address of `host` (TLS SNI stays the name)."""
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            reason = self._access.refusal(host, address)
            if reason is not None:
                raise _AddressRefused(host, address, reason)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
                return _SocketCachingStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                failure = err
        assert failure is not None  # addresses is never empty here
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never used: the guard only knows TCP."""
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Delegate to the wrapped backend."""
        await self._inner.sleep(seconds)

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        literal = ip_literal(host)
        if literal is not None:
            return [literal]  # a literal address is checked like a resolved one
        resolver = self._resolver or system_resolver
        try:
            with anyio.fail_after(timeout):
                addresses = list(await resolver(host, port))
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout:g} s") from None
        except OSError as err:
            raise httpcore.ConnectError(f"could not resolve {host}: {err}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        return addresses


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool rebuilt on the guarded network backend."""

    def __init__(
        self, backend: httpcore.AsyncNetworkBackend, ssl_context: ssl.SSLContext, keepalive: int
    ) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx 0.28 takes no network backend; replacing the (still empty) pool it built keeps
        # httpx's request, stream and exception mapping. tests/unit/test_http.py pins this.
        # Requests in flight are capped by the Politeness registry (per host and overall), so
        # the pool sets no cap of its own: it only keeps idle connections for reuse.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=None,
            max_keepalive_connections=keepalive,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
            network_backend=backend,
        )


class _SocketCachingStream(httpcore.AsyncNetworkStream):
    """A connection's stream that answers httpcore's "is_readable" from the socket it keeps.

    httpcore asks every idle connection of a pool whether its socket is readable each time it
    assigns a request; through anyio that lookup rebuilds a dict of the socket's attributes (a
    getpeername() among them) on every call: a tenth of ingest's HTTP CPU (benchmarks/run.py
    --profile). The socket of a connection never changes, TLS or not.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _SocketCachingStream(tls)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return _is_readable(self._socket)
        if info == "socket":
            return self._socket
        return self._inner.get_extra_info(info)


def _is_readable(sock: socket.socket | None) -> bool:
    """Would a read return at once (data, or the end of a closed connection)? As httpcore does."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _PerHostTransport(httpx.AsyncBaseTransport):
    """One small connection pool per host (scheme, name, port), created on first use.

    One shared pool does not suit a run over dozens of hosts: capped at the in-flight limit it
    closed one host's idle connection to open the next one's (1,000 polls on 50 hosts made 1,000
    connections), and uncapped, httpcore checks every idle connection on every request.
    """

    def __init__(self, policy: HttpPolicy, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend
        self._ssl_context = httpx.create_ssl_context(trust_env=False)  # loaded once, shared
        self._keepalive = max(policy.max_per_host, 1)
        self._pools: dict[tuple[bytes, bytes, int | None], _GuardedTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        transport = self._pools.get(key)
        if transport is None:
            transport = _GuardedTransport(self._backend, self._ssl_context, self._keepalive)
            self._pools[key] = transport
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for transport in pools:
            await transport.aclose()


# --- decompression with bounded output ------------------------------------------------------


class _Decoder:
    """Streaming decompression yielding at most ~_DECODE_CHUNK bytes per piece (bomb-safe)."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self._zlib: typing.Any = None
        self._first = True
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding == "br" and brotli:
            self._brotli = brotli.Decompressor()
        elif encoding == "zstd" and zstandard:
            self._zstd_out: list[bytes] = []
            self._zstd = zstandard.ZstdDecompressor().stream_writer(
                typing.cast(typing.IO[bytes], _Collector(self._zstd_out, limit)),
                write_size=_DECODE_CHUNK,
            )
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Decompressed pieces of `data` (the caller counts them and stops at its cap)."""
        if self._zlib is not None:
            yield from self._inflate(data)
        elif self.encoding == "br":
            out = self._brotli.process(data, output_buffer_limit=_DECODE_CHUNK)
            yield out
            # A full buffer means more output is pending even when all input was taken.
            while not self._brotli.is_finished() and (
                len(out) >= _DECODE_CHUNK or not self._brotli.can_accept_more_data()
            ):
                out = self._brotli.process(b"", output_buffer_limit=_DECODE_CHUNK)
                yield out
        elif self.encoding == "zstd":
            # zstandard has no output limit per call: the collector stops it at the cap instead.
            self._zstd.write(data)
            yield from self._zstd_out
            self._zstd_out.clear()
        else:
            yield data

    def _first_inflate(self, data: bytes) -> bytes:
        try:
            return bytes(self._zlib.decompress(data, _DECODE_CHUNK))
        except zlib.error:
            if self.encoding != "deflate":
                raise
            # "deflate" is sent both zlib-wrapped (as specified) and raw (by some servers).
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return bytes(self._zlib.decompress(data, _DECODE_CHUNK))

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        try:
            out = (
                self._first_inflate(data)
                if self._first
                else self._zlib.decompress(data, _DECODE_CHUNK)
            )
        except zlib.error:
            if not (self._first and _not_compressed(data)):
                raise
            # Labelled gzip/deflate but sent as is (misconfigured servers do): read it as it is,
            # as feedparser and browsers do, rather than refuse it.
            self._zlib, self.encoding, self._first = None, "identity", False
            yield data
            return
        self._first = False
        while True:
            yield out
            if not self._zlib.unconsumed_tail and len(out) < _DECODE_CHUNK:
                return
            out = self._zlib.decompress(self._zlib.unconsumed_tail, _DECODE_CHUNK)


def _not_compressed(head: bytes) -> bool:
    """Does a body labelled gzip/deflate start like plain text instead (markup, a BOM)?

    Asked only once the body failed to decompress from its first bytes on.
    """
    return head.lstrip(b" \t\r\n").startswith((b"<", codecs.BOM_UTF8, b"\xff\xfe", b"\xfe\xff"))


class _OverLimit(Exception):
    """More decompressed output than the caller's cap."""


class _Collector:
    """A file-like sink for zstandard's stream_writer that refuses output beyond `limit`."""

    def __init__(self, out: list[bytes], limit: int) -> None:
        self._out = out
        self._left = limit

    def write(self, data: bytes) -> int:
        self._left -= len(data)
        if self._left < 0:
            raise _OverLimit
        self._out.append(bytes(data))
        return len(data)


# --- the client -----------------------------------------------------------------------------


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
        self._client = httpx.AsyncClient(
            transport=_PerHostTransport(policy, backend),
            trust_env=False,
            follow_redirects=False,  # followed by `fetch`, each hop through the guard
            timeout=httpx.Timeout(
                connect=policy.connect_timeout_s,
                read=policy.read_timeout_s,
                write=policy.read_timeout_s,
                pool=policy.total_timeout_s,
            ),
            headers={
                "User-Agent": policy.user_agent,
                "Accept": DEFAULT_ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

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
            except _AddressRefused as err:
                what = err.address if err.host == err.address else f"{err.host} ({err.address})"
                raise BlockedAddressError(
                    url,
                    f"{_via(url, current)}refused by the SSRF guard: {what} is a {err.reason}",
                ) from None
            except (httpx.HTTPError, httpx.InvalidURL) as err:
                raise _transport_error(url, current, err, self.policy) from None
            remaining -= spent
            if isinstance(outcome, FetchResult):
                return FetchResult(
                    url, current, outcome.status, outcome.headers, outcome.body, tuple(redirects)
                )
            target = urldefrag(urljoin(current, outcome.strip())).url
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
                    async with self._client.stream("GET", current, headers=headers) as response:
                        outcome = await self._answer(url, current, response, cap, content_types)
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
        response: httpx.Response,
        cap: int,
        content_types: Collection[str] | None,
    ) -> FetchResult | str:
        status = response.status_code
        location = response.headers.get("location")
        if status in _REDIRECT_STATUSES and location:
            return location
        if not (200 <= status < 300 or status == 304):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if status in (429, 503):
                self.politeness.pause(host_key(current), retry_after)
            detail = f"{_via(url, current)}HTTP {status} {response.reason_phrase}".rstrip()
            if retry_after is not None:
                detail += f" (retry after {retry_after:g} s)"
            raise HttpStatusError(url, status, detail, retry_after)
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_types is not None and status != 304 and media_type not in content_types:
            wanted = ", ".join(sorted(content_types))
            raise FetchError(
                url,
                "content_type",
                f"{_via(url, current)}Content-Type is {media_type or 'missing'}, not {wanted}",
            )
        body = await _read_capped(url, current, response, cap)
        headers = {name.lower(): value for name, value in response.headers.items()}
        return FetchResult(url, current, status, headers, body)


async def _read_capped(url: str, current: str, response: httpx.Response, cap: int) -> bytes:
    """The decompressed body, aborted as soon as it exceeds `cap` bytes."""
    too_large = FetchError(url, "too_large", f"{_via(url, current)}body is over {_size(cap)}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        too_large.detail += f" (Content-Length {_size(int(declared))})"
        raise too_large
    encoding = response.headers.get("content-encoding", "").strip().lower()
    try:
        decoder = _Decoder(encoding, cap)
    except ValueError as err:
        raise FetchError(url, "content_type", f"{_via(url, current)}{err}") from None
    chunks: list[bytes] = []
    size = 0
    # Raw bytes, decompressed here: httpx's aiter_bytes inflates each network chunk in one
    # piece, and 64 KB of brotli can expand to gigabytes before any cap could be checked.
    async for raw in response.aiter_raw():
        try:
            for piece in decoder.decode(raw):
                size += len(piece)
                if size > cap:
                    raise _OverLimit
                chunks.append(piece)
        except _OverLimit:
            raise too_large from None
        except Exception as err:  # zlib.error, brotli.error, zstandard.ZstdError
            detail = f"could not decompress the {encoding} body ({err})"
            raise FetchError(url, "protocol", f"{_via(url, current)}{detail}") from None
    return b"".join(chunks)


def _transport_error(url: str, current: str, err: Exception, policy: HttpPolicy) -> FetchError:
    via = _via(url, current)
    if isinstance(err, httpx.ConnectTimeout):
        return FetchError(url, "timeout", f"{via}timed out connecting ({err or 'no answer'})")
    if isinstance(err, httpx.ReadTimeout):
        return FetchError(url, "timeout", f"{via}no data for {policy.read_timeout_s:g} s (read)")
    if isinstance(err, httpx.TimeoutException):
        return FetchError(url, "timeout", f"{via}timed out ({type(err).__name__})")
    if isinstance(err, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return FetchError(url, "invalid_url", f"{via}invalid URL ({err})")
    if isinstance(err, httpx.ConnectError):
        return FetchError(url, "connect", f"{via}could not connect ({err or 'refused'})")
    if isinstance(err, httpx.NetworkError):
        return FetchError(url, "connect", f"{via}connection failed ({err or type(err).__name__})")
    return FetchError(url, "protocol", f"{via}bad HTTP response ({err or type(err).__name__})")


def _via(url: str, current: str) -> str:
    """Names the redirect hop in an error message when it is not the URL asked for."""
    return "" if current == url else f"(redirected to {current}) "


def _size(n: int) -> str:
    return f"{n / 2**20:.3g} MiB" if n >= 2**20 else f"{n:,} bytes"
