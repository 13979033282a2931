"""The shared HTTP client against a loopback server: limits, redirects, decoding, SSRF guard.

Only 127.0.0.1 is ever dialled: `forbid_non_loopback` fails a test on any other connect (or any
system DNS lookup), and SSRF cases use stub resolvers, so a broken guard fails loudly, offline.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import pickle
import socket
import threading
import time
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cache
from typing import Any

import brotli
import httpx
import pytest
import zstandard

from newsmon.fetch.charset import decode_body
from newsmon.fetch.connection import Resolver, ip_literal
from newsmon.fetch.decompress import ACCEPT_ENCODING
from newsmon.fetch.http import (
    DEFAULT_ACCEPT,
    BlockedAddressError,
    Fetcher,
    FetchError,
    FetchResult,
    HttpPolicy,
    HttpStatusError,
    parse_retry_after,
)
from newsmon.fetch.ssrf import refusal_reason
from tests.localserver import ConnectLog, LocalServer, RecordedRequest

PUBLIC_IP = "93.184.216.34"  # a global address; `connections.routes` sends it to 127.0.0.1
UA = "newsmon-test/0.1 (+https://github.com/newsmon/newsmon)"


def policy(**overrides: Any) -> HttpPolicy:
    values: dict[str, Any] = {
        "user_agent": UA,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 5.0,
        "total_timeout_s": 5.0,
        "allow_private_hosts": True,
    }
    return HttpPolicy(**{**values, **overrides})


def stub_resolver(
    table: dict[str, list[str]], calls: list[tuple[str, int]] | None = None
) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append((host, port))
        if host not in table:
            raise socket.gaierror(f"stub resolver: unknown host {host}")
        return table[host]

    return resolve


def fetch(
    url: str, *, rules: HttpPolicy | None = None, resolver: Resolver | None = None, **kwargs: Any
) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(rules or policy(), resolver=resolver) as fetcher:
            return await fetcher.fetch(url, **kwargs)

    return asyncio.run(run())


def fetch_error(url: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, **kwargs)
    return caught.value


# --- plain responses --------------------------------------------------------------------------


def test_ok_response_has_body_lowercase_headers_and_sends_our_headers(server: LocalServer) -> None:
    server.route("/a", "héllo", content_type="text/plain; charset=utf-8", headers={"X-Thing": "1"})
    result = fetch(server.url("/a"))
    assert (result.status, result.body, result.text()) == (200, "héllo".encode(), "héllo")
    assert result.headers["content-type"] == "text/plain; charset=utf-8"
    assert result.headers["x-thing"] == "1"
    assert result.url == result.final_url == server.url("/a")
    assert result.redirects == ()
    sent = server.requests[0].headers
    assert sent["user-agent"] == UA
    assert {"gzip", "deflate", "br", "zstd"} <= {
        e.strip() for e in sent["accept-encoding"].split(",")
    }


def test_requests_carry_the_headers_httpx_client_sent_in_its_order(server: LocalServer) -> None:
    # The fetcher builds its requests itself (fetch/connection.HostConnections, no httpx client):
    # the same headers in the same order as httpx's client built them, with a request's own
    # headers (a conditional feed poll) and with a cookie from an earlier answer.
    server.route("/a", "x", content_type="text/plain", headers={"Set-Cookie": "seen=1; Path=/"})
    server.route("/b", "x", content_type="text/plain")
    own = {"If-None-Match": '"v1"', "Accept": "application/rss+xml"}

    async def run() -> None:
        async with Fetcher(policy()) as fetcher:
            await fetcher.fetch(server.url("/b"))
            await fetcher.fetch(server.url("/b"), headers=own)
            await fetcher.fetch(server.url("/a"))  # sets a cookie
            await fetcher.fetch(server.url("/b"))
            await fetcher.fetch(server.url("/b"), headers=own)

    asyncio.run(run())
    client = httpx.AsyncClient(
        headers={"User-Agent": UA, "Accept": DEFAULT_ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
    )
    expected = []
    cookie = {"seen": "1"}
    for headers, cookies in [
        (None, None),
        (own, None),
        (None, None),
        (None, cookie),
        (own, cookie),
    ]:
        built = client.build_request("GET", server.url("/b"), headers=headers, cookies=cookies)
        expected.append(built.headers.multi_items())
    assert [list(r.headers.items()) for r in server.requests] == expected
    assert server.requests[3].headers["cookie"] == "seen=1"


def test_keep_alive_connections_are_reused_and_a_closed_one_is_replaced(
    server: LocalServer, connections: ConnectLog
) -> None:
    server.route("/a", "x", content_type="text/plain")
    server.route("/bye", "x", content_type="text/plain", headers={"Connection": "close"})

    async def run() -> list[int]:
        async with Fetcher(policy()) as fetcher:
            statuses = [(await fetcher.fetch(server.url("/a"))).status for _ in range(5)]
            statuses.append((await fetcher.fetch(server.url("/bye"))).status)  # server closes
            statuses.append((await fetcher.fetch(server.url("/a"))).status)
            return statuses

    assert asyncio.run(run()) == [200] * 7
    assert connections.attempts == [("127.0.0.1", server.port)] * 2


def test_caller_headers_are_sent_and_304_is_returned(server: LocalServer) -> None:
    server.route("/feed", status=304, headers={"ETag": '"v1"'})
    result = fetch(
        server.url("/feed"), headers={"If-None-Match": '"v1"', "Accept": "application/rss+xml"}
    )
    assert result.status == 304
    assert result.body == b""
    assert server.requests[0].headers["if-none-match"] == '"v1"'
    assert server.requests[0].headers["accept"] == "application/rss+xml"


def test_404_raises_status_error(server: LocalServer) -> None:
    error = fetch_error(server.url("/missing"))
    assert isinstance(error, HttpStatusError)
    assert (error.kind, error.status, error.retry_after_s) == ("status", 404, None)
    assert str(error) == f"{server.url('/missing')}: HTTP 404 Not Found"


def test_429_with_retry_after_seconds(server: LocalServer) -> None:
    server.route("/busy", "slow down", status=429, headers={"Retry-After": "120"})
    error = fetch_error(server.url("/busy"))
    assert isinstance(error, HttpStatusError)
    assert (error.status, error.retry_after_s) == (429, 120.0)
    assert "HTTP 429 Too Many Requests (retry after 120 s)" in str(error)


def test_503_with_retry_after_http_date(server: LocalServer) -> None:
    when = datetime.now(UTC) + timedelta(minutes=10)
    server.route("/down", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    error = fetch_error(server.url("/down"))
    assert isinstance(error, HttpStatusError)
    assert error.status == 503
    assert error.retry_after_s is not None and 590 <= error.retry_after_s <= 600


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30.0
    assert parse_retry_after("Sat, 21 Nov 2026 12:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Sat, 21 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") is None


def test_errors_survive_pickling() -> None:
    errors = [
        FetchError("https://x.test/a", "timeout", "timed out after 30 s (total)"),
        HttpStatusError("https://x.test/a", 429, "HTTP 429 Too Many Requests", 60.0),
        BlockedAddressError("https://x.test/a", "refused by the SSRF guard"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy), copy.kind) == (type(error), str(error), error.kind)
    assert pickle.loads(pickle.dumps(errors[1])).retry_after_s == 60.0


def test_invalid_urls_are_refused_without_a_request(connections: ConnectLog) -> None:
    for url in ("ftp://example.com/x", "not a url", "http://"):
        assert fetch_error(url).kind == "invalid_url"
    assert connections.attempts == []


def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = fetch_error(f"http://127.0.0.1:{port}/")
    assert error.kind == "connect"
    assert str(error).startswith(f"http://127.0.0.1:{port}/: could not connect")


def test_content_types_refuses_other_media_before_reading_the_body(server: LocalServer) -> None:
    server.route("/photo", b"\x89PNG" + b"\0" * 1000, content_type="image/png")
    error = fetch_error(server.url("/photo"), content_types={"text/html"})
    assert error.kind == "content_type"
    assert "Content-Type is image/png, not text/html" in str(error)
    server.route("/page", "<p>x</p>", content_type="text/html; charset=utf-8")
    assert fetch(server.url("/page"), content_types={"text/html"}).status == 200


# --- timeouts ---------------------------------------------------------------------------------


def test_hanging_host_hits_the_total_timeout(server: LocalServer) -> None:
    server.hang("/never")
    started = time.monotonic()
    error = fetch_error(
        server.url("/never"), rules=policy(total_timeout_s=1.0, read_timeout_s=30.0)
    )
    elapsed = time.monotonic() - started
    assert error.kind == "timeout"
    assert str(error) == f"{server.url('/never')}: timed out after 1 s (total)"
    assert 0.9 <= elapsed < 2.5


def test_hanging_host_hits_the_read_timeout_first_when_shorter(server: LocalServer) -> None:
    server.hang("/never")
    error = fetch_error(
        server.url("/never"), rules=policy(total_timeout_s=10.0, read_timeout_s=0.5)
    )
    assert error.kind == "timeout"
    assert "no data for 0.5 s (read)" in str(error)


def test_slow_drip_cannot_outlast_the_total_timeout(server: LocalServer) -> None:
    # Each chunk arrives well within the read timeout; only the total timeout can stop this.
    server.drip("/drip", chunk=b"<p>x</p>", interval_s=0.2, chunks=50)
    started = time.monotonic()
    error = fetch_error(server.url("/drip"), rules=policy(total_timeout_s=1.0, read_timeout_s=5.0))
    assert error.kind == "timeout"
    assert "timed out after 1 s (total)" in str(error)
    assert time.monotonic() - started < 2.5


# --- size caps --------------------------------------------------------------------------------


def test_oversized_content_length_is_refused_before_reading(server: LocalServer) -> None:
    server.route("/big", b"x" * 100, headers={"Content-Length": str(50 * 2**20)})
    error = fetch_error(server.url("/big"), rules=policy(max_page_bytes=2**20))
    assert error.kind == "too_large"
    assert str(error) == f"{server.url('/big')}: body is over 1 MiB (Content-Length 50 MiB)"


def test_max_bytes_argument_overrides_the_page_cap(server: LocalServer) -> None:
    server.route("/feed", b"x" * 5000)
    assert fetch_error(server.url("/feed"), max_bytes=4096).kind == "too_large"
    assert len(fetch(server.url("/feed"), max_bytes=5000).body) == 5000


def test_oversized_streamed_body_without_length_is_cut_at_the_cap(server: LocalServer) -> None:
    server.drip("/stream", chunk=b"y" * 65536, interval_s=0, chunks=64)  # 4 MiB, chunked
    error = fetch_error(server.url("/stream"), rules=policy(max_page_bytes=2**20))
    assert error.kind == "too_large"
    assert "body is over 1 MiB" in str(error)


@cache
def bomb(encoding: str) -> bytes:
    zeros = b"\0" * (50 * 2**20)
    if encoding == "gzip":
        return gzip.compress(zeros, compresslevel=9)
    if encoding == "br":
        return brotli.compress(zeros, quality=5)
    return zstandard.ZstdCompressor(level=3).compress(zeros)


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_decompression_bomb_is_cut_at_the_cap_in_little_memory(
    server: LocalServer, encoding: str
) -> None:
    payload = bomb(encoding)
    assert len(payload) < 100_000  # 50 MiB of zeros
    server.route("/bomb", payload, headers={"Content-Encoding": encoding}, content_type="text/html")
    tracemalloc.start()
    try:
        error = fetch_error(server.url("/bomb"), rules=policy(max_page_bytes=2**20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "too_large"
    assert peak < 6 * 2**20, f"peak {peak / 2**20:.1f} MiB while refusing a {encoding} bomb"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("br", brotli.compress),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
        ("identity", lambda data: data),
    ],
)
def test_compressed_bodies_are_decoded(server: LocalServer, encoding: str, compress: Any) -> None:
    text = ("<p>خبر عاجل: news body</p>\n" * 20_000).encode()  # > one 64 KiB decode piece
    server.route(
        "/page", compress(text), headers={"Content-Encoding": encoding}, content_type="text/html"
    )
    assert fetch(server.url("/page")).body == text


def test_corrupt_compressed_body_is_a_protocol_error(server: LocalServer) -> None:
    server.route("/bad", b"this is not gzip at all", headers={"Content-Encoding": "gzip"})
    error = fetch_error(server.url("/bad"))
    assert error.kind == "protocol"
    assert "could not decompress the gzip body" in str(error)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "x-gzip"])
def test_markup_labelled_compressed_but_sent_as_is_is_read(
    server: LocalServer, encoding: str
) -> None:
    # feedparser reads these (its suite: compression/*-not-compressed); refusing lost the feed.
    body = b"<feed><title>gzip</title></feed>"
    server.route("/feed", body, headers={"Content-Encoding": encoding}, content_type="text/xml")
    assert fetch(server.url("/feed")).body == body


def test_unknown_content_encoding_is_refused(server: LocalServer) -> None:
    server.route("/odd", b"...", headers={"Content-Encoding": "compress"})
    error = fetch_error(server.url("/odd"))
    assert error.kind == "content_type"
    assert "unsupported Content-Encoding 'compress'" in str(error)


# --- redirects --------------------------------------------------------------------------------


def test_redirects_are_followed_with_relative_locations(server: LocalServer) -> None:
    server.route("/old", status=301, headers={"Location": "/middle?x=1"})
    server.route("/middle", status=302, headers={"Location": "final#part"})
    server.route("/final", "done", content_type="text/plain")
    result = fetch(server.url("/old"))
    assert result.body == b"done"
    assert result.url == server.url("/old")
    assert result.final_url == server.url("/final")
    assert result.redirects == (server.url("/middle?x=1"), server.url("/final"))


def test_redirect_loop_is_detected(server: LocalServer) -> None:
    server.route("/a", status=302, headers={"Location": "/b"})
    server.route("/b", status=307, headers={"Location": "/a"})
    error = fetch_error(server.url("/a"))
    assert error.kind == "redirects"
    a, b = server.url("/a"), server.url("/b")
    assert str(error) == f"{a}: redirect loop: {a} -> {b} -> {a} -> {b} -> {a}"
    assert len(server.requests) == 4


def test_redirect_back_after_a_cookie_is_set_is_not_a_loop(server: LocalServer) -> None:
    def article(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if "consent=yes" in request.headers.get("cookie", ""):
            return 200, {"Content-Type": "text/html"}, b"<p>story</p>"
        return 302, {"Location": "/consent"}, b""

    server.route_handler("/article", article)
    server.route(
        "/consent",
        status=302,
        headers={"Location": "/article", "Set-Cookie": "consent=yes; Path=/"},
    )
    result = fetch(server.url("/article"))
    assert result.body == b"<p>story</p>"
    assert result.redirects == (server.url("/consent"), server.url("/article"))


def test_too_many_redirects(server: LocalServer) -> None:
    for hop in range(10):
        server.route(f"/r{hop}", status=302, headers={"Location": f"/r{hop + 1}"})
    error = fetch_error(server.url("/r0"), rules=policy(max_redirects=3))
    assert error.kind == "redirects"
    assert str(error) == f"{server.url('/r0')}: more than 3 redirects"
    assert len(server.requests) == 4


def test_redirect_to_another_scheme_is_refused(
    server: LocalServer, connections: ConnectLog
) -> None:
    server.route("/a", status=302, headers={"Location": "file:///etc/passwd"})
    error = fetch_error(server.url("/a"))
    assert error.kind == "redirects"
    assert "file:///etc/passwd" in str(error)


@pytest.mark.parametrize(
    ("location", "kind", "detail"),
    [
        ("/a\tb", "protocol", "Invalid URL in location header"),
        ("http://[::1/", "protocol", "Invalid URL in location header"),
        ("http:x", "invalid_url", "invalid URL"),
        ("javascript:x", "invalid_url", "invalid URL"),
    ],
)
def test_a_location_that_cannot_be_followed_fails_as_httpx_client_failed(
    server: LocalServer, location: str, kind: str, detail: str
) -> None:
    # httpx's client judged a redirect's Location (it built the next request even when not
    # following); the fetcher, which no longer goes through it, judges it the same way.
    server.route("/a", status=302, headers={"Location": location})
    error = fetch_error(server.url("/a"))
    assert (error.kind, error.permanent) == (kind, kind == "invalid_url")
    assert detail in str(error)


def test_credentials_in_the_url_are_sent_as_basic_auth(server: LocalServer) -> None:
    server.route("/feed", "x", content_type="text/plain")
    fetch(server.url("/feed").replace("http://", "http://reader:s%40cret@"))
    fetch(server.url("/feed"))
    token = base64.b64encode(b"reader:s@cret").decode()
    assert server.requests[0].headers["authorization"] == f"Basic {token}"
    assert "authorization" not in server.requests[1].headers


def test_closing_the_fetcher_stops_requests_in_flight_and_refuses_new_ones(
    server: LocalServer,
) -> None:
    arrived, release = threading.Event(), threading.Event()

    def slow(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        arrived.set()
        release.wait(10)
        return 200, {"Content-Type": "text/plain"}, b"late"

    server.route_handler("/slow", slow)
    server.route("/a", "x", content_type="text/plain")

    async def run() -> tuple[FetchError, str]:
        fetcher = Fetcher(policy())
        await fetcher.fetch(server.url("/a"))  # an idle connection to close as well
        in_flight = asyncio.create_task(fetcher.fetch(server.url("/slow")))
        await asyncio.to_thread(arrived.wait, 10)
        await fetcher.aclose()
        with pytest.raises(FetchError) as stopped:
            await in_flight
        with pytest.raises(RuntimeError) as refused:
            await fetcher.fetch(server.url("/a"))
        return stopped.value, str(refused.value)

    try:
        stopped, refused = asyncio.run(run())
    finally:
        release.set()
    assert stopped.kind in ("connect", "protocol"), stopped
    assert "closed" in refused


def test_error_after_a_redirect_names_the_hop(server: LocalServer) -> None:
    server.route("/moved", status=301, headers={"Location": "/gone"})
    error = fetch_error(server.url("/moved"))
    assert (
        str(error)
        == f"{server.url('/moved')}: (redirected to {server.url('/gone')}) HTTP 404 Not Found"
    )


# --- politeness -------------------------------------------------------------------------------


class InFlight:
    """Holds requests in server threads until released, counting how many are in flight."""

    def __init__(self, limit: int) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.limit = limit
        self.full = threading.Event()  # `limit` requests are in flight together
        self.release = threading.Event()

    def handler(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            if self.now >= self.limit:
                self.full.set()
        try:
            self.release.wait(timeout=10)
        finally:
            with self.lock:
                self.now -= 1
        return 200, {"Content-Type": "text/plain"}, b"ok"

    async def run(self, fetcher: Fetcher, urls: list[str], log: ConnectLog) -> int:
        """Fetch all URLs at once; the number of connects made when the limit was reached."""
        tasks = [asyncio.create_task(fetcher.fetch(url)) for url in urls]
        try:
            assert await asyncio.to_thread(self.full.wait, 5), "the limit was never reached"
            # All tasks started together: a limiter letting more through would have connected
            # them all long before `limit` requests made it through the server.
            connects = len(log.attempts)
        finally:
            self.release.set()
        assert [r.body for r in await asyncio.gather(*tasks)] == [b"ok"] * len(urls)
        return connects


def test_per_host_concurrency_never_exceeds_max_per_host(
    server: LocalServer, connections: ConnectLog
) -> None:
    gate = InFlight(limit=2)
    server.route_handler("/slot", gate.handler)

    async def run() -> int:
        async with Fetcher(policy(max_per_host=2, max_connections=32)) as fetcher:
            urls = [server.url(f"/slot?n={n}") for n in range(8)]
            return await gate.run(fetcher, urls, connections)

    try:
        assert asyncio.run(run()) == 2
    finally:
        gate.release.set()
    assert gate.peak == 2


def test_global_limit_holds_across_hosts(server: LocalServer, connections: ConnectLog) -> None:
    gate = InFlight(limit=3)
    server.route_handler("/slot", gate.handler)
    hosts = {f"h{n}.test": ["127.0.0.1"] for n in range(9)}

    async def run() -> int:
        rules = policy(max_per_host=5, max_connections=3)
        async with Fetcher(rules, resolver=stub_resolver(hosts)) as fetcher:
            urls = [f"http://{host}:{server.port}/slot" for host in hosts]
            return await gate.run(fetcher, urls, connections)

    try:
        assert asyncio.run(run()) == 3
    finally:
        gate.release.set()
    assert gate.peak == 3


def test_a_busy_host_does_not_block_other_hosts(server: LocalServer) -> None:
    lock, both_in, release = threading.Lock(), threading.Event(), threading.Event()
    arrived: list[str] = []

    def stuck(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with lock:
            arrived.append(request.path)
            if len(arrived) == 2:
                both_in.set()
        release.wait(timeout=10)
        return 200, {}, b"late"

    server.route_handler("/stuck", stuck)
    server.route("/ok", "fine", content_type="text/plain")
    resolver = stub_resolver({"slow.test": ["127.0.0.1"], "fast.test": ["127.0.0.1"]})
    port = server.port

    async def run() -> list[FetchResult]:
        async with Fetcher(policy(max_per_host=2), resolver=resolver) as fetcher:
            slow = [fetcher.fetch(f"http://slow.test:{port}/stuck") for _ in range(2)]
            stuck_tasks = [asyncio.create_task(call) for call in slow]
            queued = asyncio.create_task(fetcher.fetch(f"http://slow.test:{port}/ok"))
            assert await asyncio.to_thread(both_in.wait, 5)
            fast = await fetcher.fetch(f"http://fast.test:{port}/ok")  # both slow.test slots busy
            assert not queued.done()
            release.set()
            return [fast, *await asyncio.gather(*stuck_tasks, queued)]

    try:
        fast, *others = asyncio.run(run())
    finally:
        release.set()
    assert fast.body == b"fine"
    assert [r.body for r in others] == [b"late", b"late", b"fine"]
    assert [r.headers["host"] for r in server.requests_to("/ok")] == [
        f"fast.test:{port}",
        f"slow.test:{port}",
    ]


# --- SSRF guard -------------------------------------------------------------------------------

BLOCKED = {
    "10.0.0.5": "private address",
    "172.16.3.4": "private address",
    "192.168.1.1": "private address",
    "127.0.0.1": "loopback address",
    "127.8.9.10": "loopback address",
    "169.254.169.254": "link-local address",
    "100.64.1.1": "shared (CGNAT) address",
    "0.0.0.0": "unspecified address",
    "224.0.0.251": "multicast address",
    "240.0.0.1": "reserved address",
    "255.255.255.255": "reserved address",
    "192.0.2.10": "private address",  # documentation range (TEST-NET-1)
    "::1": "loopback address",
    "::": "unspecified address",
    "fc00::1": "private address",
    "fd12:3456::1": "private address",
    "fe80::1": "link-local address",
    "ff02::1": "multicast address",
    "::ffff:10.0.0.1": "private address (embedded in ::ffff:a00:1)",
    "::ffff:169.254.169.254": "link-local address (embedded in ::ffff:a9fe:a9fe)",
    "2002:a00:1::1": "private address (embedded in 2002:a00:1::1)",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1": "loopback address (embedded in 64:ff9b::7f00:1)",  # NAT64 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe": "private address (embedded in 2001:0:4136:e378:8000:63bf:f5ff:fffe)",
    "fec0::1": "site-local address",
    "::7f00:1": "reserved address",  # IPv4-compatible (deprecated) form of 127.0.0.1
    "64:ff9b:1::a00:1": "reserved address",  # local-use NAT64 (RFC 8215)
    "100::1": "reserved address",  # discard-only (RFC 6666)
    "198.18.0.1": "private address",  # benchmarking (RFC 2544)
}


@pytest.mark.parametrize(("address", "reason"), BLOCKED.items())
def test_refusal_reason_for_non_public_addresses(address: str, reason: str) -> None:
    assert refusal_reason(address) == reason


@pytest.mark.parametrize(
    "address", [PUBLIC_IP, "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(address) is None


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["::1"],
        ["fd00::7"],
        ["::ffff:192.168.0.1"],
        [PUBLIC_IP, "10.0.0.5"],
    ],
)
def test_host_resolving_to_a_blocked_address_is_refused_before_connecting(
    connections: ConnectLog, addresses: list[str]
) -> None:
    calls: list[tuple[str, int]] = []
    resolver = stub_resolver({"evil.test": addresses}, calls)
    error = fetch_error(
        "http://evil.test/latest/meta-data",
        rules=policy(allow_private_hosts=False),
        resolver=resolver,
    )
    assert isinstance(error, BlockedAddressError)
    assert error.kind == "blocked"
    assert "refused by the SSRF guard: evil.test (" in str(error)
    assert calls == [("evil.test", 80)]
    assert connections.attempts == []  # not even the public address of a mixed answer


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:a00:5]/",
    ],
)
def test_literal_ip_urls_are_checked_too(connections: ConnectLog, url: str) -> None:
    calls: list[tuple[str, int]] = []
    error = fetch_error(
        url, rules=policy(allow_private_hosts=False), resolver=stub_resolver({}, calls)
    )
    assert isinstance(error, BlockedAddressError)
    assert calls == []
    assert connections.attempts == []


def test_loopback_is_refused_when_private_hosts_are_not_allowed(
    server: LocalServer, connections: ConnectLog
) -> None:
    server.route("/a", "secret")
    resolver = stub_resolver({"public.test": ["127.0.0.1"]})
    error = fetch_error(
        f"http://public.test:{server.port}/a",
        rules=policy(allow_private_hosts=False),
        resolver=resolver,
    )
    assert isinstance(error, BlockedAddressError)
    assert "public.test (127.0.0.1) is a loopback address" in str(error)
    assert "NEWSMON_ALLOW_PRIVATE_HOSTS" in str(error)
    assert connections.attempts == []
    assert server.requests == []


def test_connection_goes_to_the_resolved_ip_with_the_host_name_in_host(
    server: LocalServer, connections: ConnectLog
) -> None:
    server.route("/a", "hello")
    calls: list[tuple[str, int]] = []
    result = fetch(
        f"http://site.test:{server.port}/a",
        resolver=stub_resolver({"site.test": ["127.0.0.1"]}, calls),
    )
    assert result.body == b"hello"
    assert calls == [("site.test", server.port)]
    assert connections.attempts == [("127.0.0.1", server.port)]  # the IP, never the name again
    assert server.requests[0].headers["host"] == f"site.test:{server.port}"


def test_public_host_is_connected_by_its_checked_ip(
    server: LocalServer, connections: ConnectLog
) -> None:
    # A rebinding resolver answers differently on every call; only the first answer is used.
    answers = iter([[PUBLIC_IP], ["10.0.0.5"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    connections.routes[PUBLIC_IP] = "127.0.0.1"
    server.route("/a", "public page")
    result = fetch(
        f"http://news.test:{server.port}/a",
        rules=policy(allow_private_hosts=False),
        resolver=rebinding,
    )
    assert result.body == b"public page"
    assert connections.attempts == [(PUBLIC_IP, server.port)]


def test_redirect_from_an_allowed_host_to_a_blocked_one_is_refused(
    server: LocalServer, connections: ConnectLog
) -> None:
    connections.routes[PUBLIC_IP] = "127.0.0.1"
    server.route("/start", status=302, headers={"Location": "http://evil.test/admin"})
    resolver = stub_resolver({"news.test": [PUBLIC_IP], "evil.test": ["169.254.169.254"]})
    start = f"http://news.test:{server.port}/start"
    error = fetch_error(start, rules=policy(allow_private_hosts=False), resolver=resolver)
    assert isinstance(error, BlockedAddressError)
    assert str(error).startswith(
        f"{start}: (redirected to http://evil.test/admin) refused by the SSRF guard"
    )
    assert "link-local" in str(error)
    assert connections.attempts == [(PUBLIC_IP, server.port)]


def test_redirect_to_a_literal_private_ip_is_refused(
    server: LocalServer, connections: ConnectLog
) -> None:
    connections.routes[PUBLIC_IP] = "127.0.0.1"
    server.route("/start", status=302, headers={"Location": "http://10.0.0.5/"})
    resolver = stub_resolver({"news.test": [PUBLIC_IP]})
    error = fetch_error(
        f"http://news.test:{server.port}/start",
        rules=policy(allow_private_hosts=False),
        resolver=resolver,
    )
    assert isinstance(error, BlockedAddressError)
    assert connections.attempts == [(PUBLIC_IP, server.port)]


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.0.0.5.", "10.0.0.5"),
        ("3232235777", "192.168.1.1"),
        ("[::ffff:a00:5]", "::ffff:a00:5"),
        ("news.example", None),
        ("1e100.net", None),
        ("cafe", None),
    ],
)
def test_ip_literal_reads_legacy_ipv4_spellings(host: str, address: str | None) -> None:
    assert ip_literal(host) == address


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/",
        "http://0177.1/",  # octal
        "http://127.1/",
        "http://0/",
        "http://0xa9fea9fe/latest/meta-data/",  # 169.254.169.254
        "http://[fec0::1]/",  # IPv6 site-local (deprecated, still routed in old networks)
        "http://[::7f00:1]/",  # IPv4-compatible IPv6 of 127.0.0.1
        "http://[64:ff9b:1::a00:1]/",  # local-use NAT64 prefix (RFC 8215)
    ],
)
def test_odd_ip_spellings_are_judged_by_the_address_they_mean(
    connections: ConnectLog, url: str
) -> None:
    calls: list[tuple[str, int]] = []
    error = fetch_error(
        url, rules=policy(allow_private_hosts=False), resolver=stub_resolver({}, calls)
    )
    assert isinstance(error, BlockedAddressError), error
    assert calls == []  # never handed to a resolver, which might read it differently
    assert connections.attempts == []


def test_dotted_quads_with_octal_parts_are_invalid_urls(connections: ConnectLog) -> None:
    calls: list[tuple[str, int]] = []
    error = fetch_error("http://0177.0.0.1/", resolver=stub_resolver({}, calls))
    assert error.kind == "invalid_url"  # httpx refuses the ambiguous spelling outright
    assert calls == [] and connections.attempts == []


def test_redirect_to_a_decimal_ip_is_refused(server: LocalServer, connections: ConnectLog) -> None:
    connections.routes[PUBLIC_IP] = "127.0.0.1"
    server.route("/start", status=302, headers={"Location": "http://2852039166/latest/"})
    resolver = stub_resolver({"news.test": [PUBLIC_IP]})
    error = fetch_error(
        f"http://news.test:{server.port}/start",
        rules=policy(allow_private_hosts=False),
        resolver=resolver,
    )
    assert isinstance(error, BlockedAddressError)
    assert "2852039166 (169.254.169.254) is a link-local address" in str(error)
    assert connections.attempts == [(PUBLIC_IP, server.port)]


def test_legacy_ipv4_spelling_connects_to_the_address_it_means(
    server: LocalServer, connections: ConnectLog
) -> None:
    server.route("/a", "hello")
    calls: list[tuple[str, int]] = []
    result = fetch(f"http://127.1:{server.port}/a", resolver=stub_resolver({}, calls))
    assert result.body == b"hello"
    assert calls == []
    assert connections.attempts == [("127.0.0.1", server.port)]


def test_unresolvable_host_is_a_connect_error(connections: ConnectLog) -> None:
    error = fetch_error("http://nowhere.test/", resolver=stub_resolver({}))
    assert error.kind == "connect"
    assert "could not resolve nowhere.test" in str(error)
    assert connections.attempts == []


# --- text decoding ----------------------------------------------------------------------------

ARABIC = "مقتل ثلاثة من عناصر داعش في الأنبار"


def test_windows_1256_page_with_meta_charset(server: LocalServer) -> None:
    page = f'<html><head><meta charset="windows-1256"><title>{ARABIC}</title></head><body><p>{ARABIC}</p></body></html>'
    server.route("/ar", page.encode("cp1256"), content_type="text/html")
    assert ARABIC in fetch(server.url("/ar")).text()


def test_windows_1256_page_with_meta_http_equiv(server: LocalServer) -> None:
    page = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1256"></head><body>{ARABIC}</body></html>'
    server.route("/ar", page.encode("cp1256"), content_type="text/html")
    assert ARABIC in fetch(server.url("/ar")).text()


def test_iso_8859_6_from_the_content_type_header(server: LocalServer) -> None:
    page = f"<html><body><p>{ARABIC}</p></body></html>"
    server.route("/ar", page.encode("iso-8859-6"), content_type="text/html; charset=ISO-8859-6")
    assert ARABIC in fetch(server.url("/ar")).text()


def test_utf8_bom_wins_over_a_wrong_header() -> None:
    body = "\ufeff<p>naïve café — ok</p>".encode()
    assert (
        decode_body(body, content_type="text/html; charset=iso-8859-1") == "<p>naïve café — ok</p>"
    )


def test_xml_declaration_encoding() -> None:
    feed = f'<?xml version="1.0" encoding="windows-1256"?><rss><channel><title>{ARABIC}</title></channel></rss>'
    assert ARABIC in decode_body(feed.encode("cp1256"), content_type="application/rss+xml")


def test_latin1_label_is_read_as_windows_1252() -> None:
    assert (
        decode_body("“quoted”".encode("cp1252"), content_type="text/html; charset=ISO-8859-1")
        == "“quoted”"
    )


def test_undeclared_encodings_utf8_then_detection() -> None:
    assert decode_body(f"<p>{ARABIC}</p>".encode()) == f"<p>{ARABIC}</p>"
    long_arabic = f"<html><body><p>{ARABIC}. {ARABIC}؟ {ARABIC}.</p></body></html>" * 5
    assert ARABIC in decode_body(long_arabic.encode("cp1256"))


def test_unknown_charset_label_falls_back() -> None:
    assert (
        decode_body(b"plain ascii", content_type="text/html; charset=x-unknown-thing")
        == "plain ascii"
    )
    assert decode_body(b"\xff\xfe\xfa broken", content_type=None)  # never raises
