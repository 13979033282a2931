"""The socket streams under the HTTP client (newsmon.fetch.stream) against loopback servers: TLS,
bodies larger than the read buffer, kept connections the server closed, timeouts and errors."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from newsmon.fetch.connection import GuardedNetworkBackend
from newsmon.fetch.stream import AsyncioBackend

BIG = bytes(range(256)) * 4096  # 1 MiB: several times the stream's read buffer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = BIG if self.path == "/big" else b"hello " + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _serve(server: _Server) -> Iterator[str]:
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield f"{server.server_address[0]}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain() -> Iterator[str]:
    yield from _serve(_Server(("127.0.0.1", 0), _Handler))


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    cert_file, key_file = _certificate(tmp_path)
    server = _Server(("127.0.0.1", 0), _Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    client_context = ssl.create_default_context(cafile=str(cert_file))
    for address in _serve(server):
        yield address.replace("127.0.0.1", "localhost"), client_context


async def _localhost(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def _pool(context: ssl.SSLContext | None = None) -> httpcore.AsyncConnectionPool:
    backend = GuardedNetworkBackend(_localhost, allow_private_hosts=True)
    return httpcore.AsyncConnectionPool(ssl_context=context, network_backend=backend)


async def _get(pool: httpcore.AsyncConnectionPool, url: str) -> tuple[int, bytes]:
    response = await pool.request("GET", url)
    return response.status, response.content


def test_tls_through_the_guard_with_large_bodies_on_one_kept_connection(
    tls: tuple[str, ssl.SSLContext],
) -> None:
    address, context = tls

    async def run() -> list[tuple[int, bytes]]:
        async with _pool(context) as pool:
            answers = [await _get(pool, f"https://{address}/big") for _ in range(3)]
            answers.append(await _get(pool, f"https://{address}/small"))
            assert len(pool.connections) == 1  # kept alive and reused
            return answers

    answers = asyncio.run(run())
    assert answers[:3] == [(200, BIG)] * 3
    assert answers[3] == (200, b"hello /small")


def test_tls_with_a_certificate_for_another_name_is_a_connect_error(
    tls: tuple[str, ssl.SSLContext],
) -> None:
    address, context = tls

    async def run() -> None:
        async with _pool(context) as pool:
            await _get(pool, f"https://{address.replace('localhost', 'other.test')}/")

    with pytest.raises(httpcore.ConnectError):
        asyncio.run(run())


def test_plain_bodies_and_a_connection_the_server_closed_is_replaced(plain: str) -> None:
    async def run() -> list[tuple[int, bytes]]:
        async with _pool() as pool:
            answers = [await _get(pool, f"http://{plain}/big")]
            answers.append(await _get(pool, f"http://{plain}/close"))
            await asyncio.sleep(0)  # the server's close arrives
            answers.append(await _get(pool, f"http://{plain}/after"))
            return answers

    assert asyncio.run(run()) == [(200, BIG), (200, b"hello /close"), (200, b"hello /after")]


def test_a_silent_server_is_a_read_timeout_and_a_refused_port_a_connect_error() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def silent() -> None:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=1)
        try:
            await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1)
            await stream.read(1024, timeout=0.05)
        finally:
            await stream.aclose()

    try:
        with pytest.raises(httpcore.ReadTimeout):
            asyncio.run(silent())
    finally:
        listener.close()

    async def refused() -> None:
        await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=1)

    with pytest.raises(httpcore.ConnectError):
        asyncio.run(refused())


def test_the_end_of_a_closed_connection_reads_empty_and_is_readable() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def run() -> tuple[bytes, bytes, bool, bool]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=1)
        accepted, _ = await asyncio.get_running_loop().sock_accept(listener)
        idle = stream.get_extra_info("is_readable")
        accepted.sendall(b"bye")
        accepted.close()
        first = await stream.read(1024, timeout=1)
        rest = await stream.read(1024, timeout=1)
        closed = stream.get_extra_info("is_readable")
        await stream.aclose()
        return first, rest, idle, closed

    listener.setblocking(False)
    try:
        assert asyncio.run(run()) == (b"bye", b"", False, True)
    finally:
        listener.close()


def test_a_reader_that_falls_behind_pauses_the_socket_and_loses_nothing() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    sent = BIG * 2

    async def run() -> tuple[bool, bytes]:
        loop = asyncio.get_running_loop()
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=1)
        accepted, _ = await loop.sock_accept(listener)
        sender = threading.Thread(target=lambda: (accepted.sendall(sent), accepted.close()))
        sender.start()
        protocol = stream._protocol  # type: ignore[attr-defined]
        for _ in range(1_000_000):  # let the loop receive without reading, until it pauses
            if protocol.paused:
                break
            await asyncio.sleep(0)
        paused = protocol.paused
        received = bytearray()
        while chunk := await stream.read(65536, timeout=5):
            received += chunk
        sender.join()
        await stream.aclose()
        return paused, bytes(received)

    try:
        paused, received = asyncio.run(run())
    finally:
        listener.close()
    assert paused
    assert received == sent
