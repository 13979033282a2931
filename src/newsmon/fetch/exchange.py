"""One HTTP exchange as httpx's client made it, without the client's layers: the request (URL
normalised, IDNA host, headers in its order, the jar's cookies) and the answer's headers and
reason phrase (decoded as httpx decodes them).

`newsmon.fetch.http.Fetcher` sends these requests through `newsmon.fetch.connection.HostConnections`
(httpcore connections); httpx's client, transport and httpcore's pool cost ~40 % of the network
thread's CPU per page above them (benchmarks/fetch_cpu.py). tests/unit/test_http.py checks that
the requests are the ones httpx's client built.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpcore
import httpx

# What a request can raise besides the fetcher's own errors: httpx's URL parsing, and httpcore's
# connection (errors httpx's transport re-raised as its own of the same names and messages).
TRANSPORT_ERRORS = (
    httpx.InvalidURL,
    httpx.UnsupportedProtocol,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


class RequestMaker:
    """GET requests with a client's headers and cookie jar (kept: consent redirects need it)."""

    def __init__(
        self, *, user_agent: str, accept: str, accept_encoding: str, timeouts: dict[str, float]
    ) -> None:
        # httpx's client defaults updated with ours: its Connection stays, first; Host goes
        # before them, a request's own headers and the jar's cookies after.
        self._headers = httpx.Headers(
            {
                "Connection": "keep-alive",
                "User-Agent": user_agent,
                "Accept": accept,
                "Accept-Encoding": accept_encoding,
            }
        )
        self._cookies = httpx.Cookies()
        self._timeouts = timeouts  # httpcore's: connect, read, write, pool

    def request(
        self, url: str, headers: Mapping[str, str] | None = None
    ) -> tuple[httpx.URL, httpcore.Request]:
        """The GET of `url` (and the URL as httpx parsed it); raises httpx.InvalidURL or
        httpx.UnsupportedProtocol as httpx's client did."""
        target = httpx.URL(url)
        if target.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{target.scheme}://'."
            )
        if headers or self._cookies or target.username or target.password:
            # The rare path (a conditional feed poll, cookies an earlier answer set, credentials
            # in the URL): built by httpx's own request and auth, as its client did.
            merged = self._headers.copy()
            merged.update(headers)
            built = httpx.Request("GET", target, headers=merged, cookies=self._cookies)
            if target.username or target.password:
                # Sent as Basic auth, as httpx's client sent a URL's user:password.
                auth = httpx.BasicAuth(target.username, target.password)
                built = next(auth.sync_auth_flow(built))
            raw = built.headers.raw
        else:
            raw = [(b"Host", target.netloc), *self._headers.raw]
        request = httpcore.Request(
            b"GET",
            httpcore.URL(
                scheme=target.raw_scheme,
                host=target.raw_host,
                port=target.port,
                target=target.raw_path,
            ),
            headers=raw,
            extensions={"timeout": self._timeouts},
        )
        return target, request

    def remember_cookies(
        self, target: httpx.URL, status: int, raw_headers: list[tuple[bytes, bytes]]
    ) -> None:
        """Keep the cookies of an answer that sets some (the jar wants httpx's objects: the
        caller asks only for an answer with a Set-Cookie header)."""
        response = httpx.Response(status, headers=raw_headers, request=httpx.Request("GET", target))
        self._cookies.extract_cookies(response)


def check_redirect(location: str, requested: httpx.URL) -> None:
    """Raise as httpx's client did on a redirect's Location it could not follow: it built the
    next request even when it was not following redirects, and its errors were the answer's
    (httpx's `_redirect_url`: a Location it cannot parse is a protocol error; one it cannot
    join to the URL asked for, an invalid URL)."""
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL as err:
        raise httpcore.RemoteProtocolError(f"Invalid URL in location header: {err}.") from None
    if url.scheme and not url.host:
        url = url.copy_with(host=requested.host)
    if url.is_relative_url:
        requested.join(url)
    # httpx then carried the fragment over, from a URL it had parsed already: that cannot fail.


def answer_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """An answer's headers as httpx's `Headers.items()` gave them: lower-case names, repeated
    headers joined with ", ", all decoded as ASCII, else UTF-8, else Latin-1."""
    for encoding in ("ascii", "utf-8"):
        try:
            return _decoded(raw, encoding)
        except UnicodeDecodeError:
            continue
    return _decoded(raw, "iso-8859-1")  # decodes any byte


def _decoded(raw: list[tuple[bytes, bytes]], encoding: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode(encoding).lower()
        text = value.decode(encoding)
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def reason_phrase(response: httpcore.Response) -> str:
    """The answer's reason phrase, or the standard one for its status (as httpx gave it)."""
    phrase = response.extensions.get("reason_phrase")
    if isinstance(phrase, bytes):
        return phrase.decode("ascii", errors="ignore")
    return httpx.codes.get_reason_phrase(response.status)
