"""A scriptable HTTP server on 127.0.0.1 for tests: static routes, handlers, slow and hanging hosts.

Every test that needs "a website" uses this instead of the network. Usage:

    with LocalServer() as server:
        server.route("/feed.xml", rss_bytes, content_type="application/rss+xml")
        fetch(server.url("/feed.xml"))
        assert server.requests[0].headers["user-agent"].startswith("newsmon/")

tests/conftest.py makes fixtures of it: `local_server` (also named `server`), a fresh LocalServer per
test, and `connections`, the ConnectLog of `forbid_non_loopback`, which every test runs under.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote, urlsplit

Handler = Callable[["RecordedRequest"], tuple[int, dict[str, str], bytes]]

_TEXT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".xml": None,  # sniffed: RSS or Atom
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]  # lower-case keys
    body: bytes = b""

    @property
    def route(self) -> str:
        """The path without its query string (what routes match on)."""
        return urlsplit(self.path).path


@dataclass
class _Drip:
    chunk: bytes
    interval_s: float
    chunks: int


@dataclass
class _Routes:
    static: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    handlers: dict[str, Handler] = field(default_factory=dict)
    hanging: set[str] = field(default_factory=set)
    drips: dict[str, _Drip] = field(default_factory=dict)


def xml_content_type(body: bytes) -> str:
    """application/atom+xml, application/rss+xml or application/xml, by the root element."""
    head = body[:1024]
    if b"<feed" in head:
        return "application/atom+xml"
    if b"<rss" in head or b"<rdf:RDF" in head:
        return "application/rss+xml"
    return "application/xml"  # sitemaps and other XML


def guess_content_type(path: str, body: bytes) -> str:
    """Content type by suffix; without one, sniffed (XML root element, markup -> HTML)."""
    suffix = Path(urlsplit(path).path).suffix.lower()
    head = body[:1024].lstrip().lower()
    if suffix == ".xml" or (not suffix and head.startswith((b"<?xml", b"<rss", b"<feed"))):
        return xml_content_type(body)
    if suffix in _TEXT_TYPES:
        return _TEXT_TYPES[suffix] or "application/octet-stream"
    if not suffix and head.startswith(b"<"):
        return "text/html; charset=utf-8"
    return "application/octet-stream"


class LocalServer:
    """ThreadingHTTPServer on 127.0.0.1 (free port) in a daemon thread; unknown paths -> 404."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._routes = _Routes()
        self._released = threading.Event()  # set by close(): hanging handlers return
        self._sockets: set[socket.socket] = set()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # close() waits for one poll: keep tests quick
            name=f"localserver-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def url(self, path: str) -> str:
        """Absolute URL of `path` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Serve a fixed response at `path` (query ignored). A given Content-Length is sent as is."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        elif not any(k.lower() == "content-type" for k in all_headers):
            all_headers["Content-Type"] = guess_content_type(path, data)
        with self._lock:
            self._routes.static[path] = (status, all_headers, data)

    def route_handler(self, path: str, fn: Handler) -> None:
        """Answer `path` with fn(request) -> (status, headers, body); runs in a server thread."""
        with self._lock:
            self._routes.handlers[path] = fn

    def hang(self, path: str) -> None:
        """A slow host: accept the request at `path`, never answer until the server closes."""
        with self._lock:
            self._routes.hanging.add(path)

    def drip(self, path: str, *, chunk: bytes, interval_s: float, chunks: int) -> None:
        """Send `chunks` x `chunk` as a chunked body, `interval_s` apart (no Content-Length)."""
        with self._lock:
            self._routes.drips[path] = _Drip(chunk, interval_s, chunks)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Recorded requests whose path (without query) is `path`."""
        with self._lock:
            return [r for r in self.requests if r.route == path]

    def close(self) -> None:
        """Release hanging handlers, stop serving, drop open connections."""
        self._released.set()
        self._server.shutdown()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Called from handler threads.

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _lookup(self, path: str) -> tuple[str, Any] | None:
        with self._lock:
            routes = self._routes
            if path in routes.hanging:
                return ("hang", None)
            if path in routes.drips:
                return ("drip", routes.drips[path])
            if path in routes.handlers:
                return ("handler", routes.handlers[path])
            if path in routes.static:
                return ("static", routes.static[path])
        return None

    def _fallback(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        """The answer for a path with no route (StaticSite overrides it)."""
        return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"not found\n"

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)


class StaticSite(LocalServer):
    """A LocalServer that also serves a folder, with `{{BASE_URL}}`-style placeholders replaced."""

    def __init__(self, root: Path, replacements: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.root = root.resolve()
        self.replacements = {"{{BASE_URL}}": self.base_url, **(replacements or {})}

    def _fallback(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        target = (self.root / unquote(request.route).lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(self.root) or not target.is_file():
            return super()._fallback(request)
        data = target.read_bytes()
        if target.suffix.lower() in _TEXT_TYPES:
            # On bytes, so files in any ASCII-compatible encoding (windows-1256...) work too.
            for placeholder, value in self.replacements.items():
                data = data.replace(placeholder.encode(), value.encode())
        return 200, {"Content-Type": guess_content_type(target.name, data)}, data


def serve_directory(root: Path, *, replacements: Mapping[str, str] | None = None) -> StaticSite:
    """Serve the files under `root`; in .xml/.html/.txt/.json files placeholders are replaced.

    `{{BASE_URL}}` is replaced by the server's own base URL unless `replacements` says otherwise.
    Routes added with `route()` etc. take precedence over files.
    """
    return StaticSite(root, replacements)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalServer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers; close() drops idle sockets
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def handle(self) -> None:
        # The client may go away between keep-alive requests.
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()

    def finish(self) -> None:
        self.server.owner._track(self.connection, add=False)
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        owner._record(request)
        found = owner._lookup(request.route)
        try:
            if found is None:
                self._respond(*owner._fallback(request))
            elif found[0] == "hang":
                owner._released.wait()
                self.close_connection = True
            elif found[0] == "drip":
                self._drip(found[1])
            elif found[0] == "handler":
                self._respond(*found[1](request))
            else:
                self._respond(*found[1])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up: that is what some tests do

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def _respond(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        names = {k.lower() for k in headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        elif headers.get("Content-Length", headers.get("content-length")) != str(len(body)):
            self.close_connection = True  # a deliberately wrong length: the stream ends at close
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drip(self, drip: _Drip) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        released = self.server.owner._released
        for index in range(drip.chunks):
            if index and released.wait(drip.interval_s):
                self.close_connection = True
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(drip.chunk), drip.chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class ConnectLog:
    """Every TCP connect the HTTP client attempted; `routes` maps a fake public IP to loopback."""

    attempts: list[tuple[str, int]] = field(default_factory=list)
    routes: dict[str, str] = field(default_factory=dict)


def forbid_non_loopback(monkeypatch: Any) -> ConnectLog:
    """Make any connect to an address other than 127.0.0.1 (and any system DNS lookup) fail a test.

    Patches the socket layer (newsmon.fetch.stream, under the SSRF guard), so a test can never reach a
    private or public address even if the guard is broken. Call from a fixture with pytest's
    `monkeypatch`; add `log.routes["93.184.216.34"] = "127.0.0.1"` to let a test pose as a public host.
    """
    import httpcore

    import newsmon.fetch.connection
    from newsmon.fetch.stream import AsyncioBackend

    log = ConnectLog()
    original = AsyncioBackend.connect_tcp

    async def connect_tcp(
        self: AsyncioBackend, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        log.attempts.append((host, port))
        target = log.routes.get(host, host)
        if target != "127.0.0.1":
            raise AssertionError(
                f"a test tried to connect to {host}:{port}; only 127.0.0.1 is allowed"
            )
        return await original(self, target, port, *args, **kwargs)

    async def no_system_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"a test tried to resolve {host!r} with the system resolver")

    monkeypatch.setattr(AsyncioBackend, "connect_tcp", connect_tcp)
    monkeypatch.setattr(newsmon.fetch.connection, "system_resolver", no_system_dns)
    return log
