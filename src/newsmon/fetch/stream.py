"""The socket streams under the HTTP client: asyncio transports read and written directly.

httpcore's own asyncio backend goes through anyio, which wraps every read and write in a cancel
scope (`fail_after`) and a stream object of its own: about a fifth of the network thread's CPU
per page (benchmarks/fetch_cpu.py). These streams give httpcore the same interface, errors and
timeouts on the event loop's transports: a read returns what is buffered without waiting, and a
timer is armed only when it must wait. The SSRF guard (`newsmon.fetch.connection`) decides which
address is connected to; this module only connects to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import select
import socket
import ssl
import typing

import httpcore

# Received data held before the transport stops reading from the socket (the body is consumed
# as it arrives; this bounds what a fast server can queue ahead of the reader).
_HIGH_WATER = 256 * 1024


class _Protocol(asyncio.Protocol):
    """Buffers what the transport receives and wakes the reader or the writer waiting on it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reader: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False  # reading from the socket paused (buffer above the high water)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        if self.drained is None or self.drained.done():
            self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _wake_reader(self) -> None:
        if self.reader is not None and not self.reader.done():
            self.reader.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _wait(waiter: asyncio.Future[None], timeout: float | None) -> None:
    """Await `waiter`, raising TimeoutError after `timeout` seconds (None: no limit)."""
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(max(timeout, 0.0), _expire, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection (plain or TLS) over an asyncio transport and `_Protocol`."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        protocol.transport = transport
        # The raw socket (under TLS too): httpcore asks every idle connection of a pool whether
        # it is readable each time it assigns a request.
        self._socket: socket.socket | None = transport.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            protocol.reader = asyncio.get_running_loop().create_future()
            try:
                await _wait(protocol.reader, timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout("timed out reading") from None
            finally:
                protocol.reader = None
        if protocol.buffer:
            data = bytes(protocol.buffer[:max_bytes])
            del protocol.buffer[:max_bytes]
            if protocol.paused and len(protocol.buffer) <= _HIGH_WATER:
                protocol.paused = False
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError(str(protocol.error or "the connection is closed"))
        self._transport.write(buffer)
        drained = protocol.drained
        if drained is not None and not drained.done():
            try:
                await _wait(drained, timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out writing") from None
        if protocol.error is not None:
            raise httpcore.WriteError(str(protocol.error))

    async def aclose(self) -> None:
        # As anyio closed them: end, close, and after one loop step abort whatever is left, so a
        # TLS connection does not linger waiting for the peer's close_notify.
        transport = self._transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            with contextlib.suppress(OSError):
                transport.write_eof()
        transport.close()
        try:
            await asyncio.sleep(0)
        finally:  # cancelled in that step too: still nothing left waiting for close_notify
            transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=timeout,
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError) as err:
            self._transport.abort()
            raise httpcore.ConnectError(str(err) or type(err).__name__) from None
        if tls is None:  # the connection closed during the handshake
            self._transport.abort()
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        return AsyncioStream(typing.cast(asyncio.Transport, tls), self._protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return self._socket
        if info == "is_readable":
            # Data or an end already received on an idle connection, or waiting on its socket.
            protocol = self._protocol
            return bool(protocol.buffer) or protocol.eof or _socket_readable(self._socket)
        return None


def _socket_readable(sock: socket.socket | None) -> bool:
    """Would a read of the socket return at once (data, or the end)? As httpcore asks."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connects to one address (already checked by the guard) and returns an `AsyncioStream`."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            for option in socket_options or ():
                sock.setsockopt(*option)
            if local_address:
                sock.bind((local_address, 0))
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (host, port))
                # TCP_NODELAY is set by asyncio's socket transport, as anyio's had it.
                transport, protocol = await loop.create_connection(_Protocol, sock=sock)
        except TimeoutError:
            sock.close()
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as err:
            sock.close()
            raise httpcore.ConnectError(str(err) or type(err).__name__) from None
        except BaseException:
            sock.close()
            raise
        return AsyncioStream(transport, protocol)

    # No connect_unix_socket: httpcore's base raises NotImplementedError, and the SSRF guard in
    # front of this backend (fetch/connection.py) refuses unix sockets without calling it.

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
