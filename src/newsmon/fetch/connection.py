"""The connection layer under the HTTP client: the SSRF guard at connect time, keep-alive
connections per host.

The guard is a custom httpcore network backend: a host name is resolved once, every address is
checked (the rules are `newsmon.fetch.ssrf`), and the socket is opened to the checked address, so a
DNS answer that changes between check and connect (rebinding) cannot reach an internal host.
`HostConnections` keeps httpcore's HTTP/1.1 connections on that backend per host. The client that
sends requests through it, with its limits and errors, is `newsmon.fetch.http`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import typing
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import httpcore
import httpx

from newsmon.fetch.ssrf import PrivateAccess
from newsmon.fetch.stream import AsyncioBackend

Resolver = Callable[[str, int], Awaitable[list[str]]]
# Idle connections are kept this long for reuse (a host polled at 1 request/s reuses its own).
KEEPALIVE_EXPIRY_S = 5.0

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


class AddressRefused(Exception):
    """Raised inside the transport; `newsmon.fetch.http.Fetcher` turns it into a BlockedAddressError."""

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
        self._inner = inner or AsyncioBackend()

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
                raise AddressRefused(host, address, reason)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
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


_Origin = tuple[bytes, bytes, int | None]  # scheme, host, port (httpcore's Origin is not hashable)


class HostConnections:
    """Keep-alive HTTP/1.1 connections per origin (scheme, host, port), one request at a time on
    each, opened through the guarded network backend.

    In place of httpx's client and transport and httpcore's connection pool, whose layers (URL
    and header models, cookie merging, the pool's bookkeeping over its connections for every
    request and response) cost ~40 % of the network thread's CPU per page
    (benchmarks/fetch_cpu.py); requests in flight are capped by the Politeness registry (per host
    and overall) before they reach here, so there is nothing to queue: a request takes an idle
    connection of its origin or opens one. Each origin keeps at most `keepalive` idle
    connections, each for KEEPALIVE_EXPIRY_S (one a server closed meanwhile is dropped, as
    httpcore's pool does). One shared pool did not suit a run over dozens of hosts: capped, it
    closed one host's idle connection to open the next one's.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, *, keepalive: int) -> None:
        self._backend = backend
        self._ssl_context = httpx.create_ssl_context(trust_env=False)  # loaded once, shared
        self._keepalive = max(keepalive, 1)  # idle connections kept per origin
        self._idle: dict[_Origin, list[httpcore.AsyncHTTPConnection]] = {}
        self._active: set[httpcore.AsyncHTTPConnection] = set()  # requests in flight
        self._closed = False

    @contextlib.asynccontextmanager
    async def send(self, request: httpcore.Request) -> AsyncIterator[httpcore.Response]:
        """The response to `request` (its body streamed); the connection is kept for reuse or
        closed when the block ends."""
        if self._closed:
            raise RuntimeError("Cannot send a request, as the fetcher has been closed.")
        url = request.url
        origin = (url.scheme, url.host, url.port)
        connection = await self._idle_connection(origin)
        if connection is None:
            connection = httpcore.AsyncHTTPConnection(
                url.origin,
                ssl_context=self._ssl_context,
                keepalive_expiry=KEEPALIVE_EXPIRY_S,
                network_backend=self._backend,
            )
        self._active.add(connection)
        try:
            try:
                response = await connection.handle_async_request(request)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await connection.aclose()
                raise
            try:
                yield response
            finally:
                with anyio.CancelScope(shield=True):
                    # A response read to its end leaves the connection idle; one left unread
                    # closes it (httpcore).
                    await response.aclose()
                    await self._release(origin, connection)
        finally:
            self._active.discard(connection)

    async def _idle_connection(self, origin: _Origin) -> httpcore.AsyncHTTPConnection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            await connection.aclose()
        return None

    async def _release(self, origin: _Origin, connection: httpcore.AsyncHTTPConnection) -> None:
        idle = self._idle.setdefault(origin, [])
        if self._closed or not connection.is_idle() or len(idle) >= self._keepalive:
            await connection.aclose()
        else:
            idle.append(connection)

    async def aclose(self) -> None:
        """Close every connection, those of requests in flight too (they fail), as httpcore's
        pool did; a request after this raises RuntimeError."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for connection in [*self._active, *(c for cs in idle.values() for c in cs)]:
            await connection.aclose()
