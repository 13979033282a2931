"""What the benchmarks build around newsmon: loopback sites in a process of their own, the
environment a measured run gets (database, Prefect, sources.yaml), scratch PostgreSQL databases.

Benchmarks are run as scripts (`.venv/bin/python benchmarks/NAME.py`), so this folder is first on
sys.path and they import this module as `harness`; so do the processes they spawn.

run.py could reuse (it does not yet; it still has its own copies):
- `LoopbackHost` and `SiteProcess(..., daemon=False)` for its `_Handler`/`_Server`/`SiteHost`/
  `serve_site`/`RemoteSite` ("limit", which starts a process pool, becomes an entry of
  `Sites.commands`; "requests" and "cpu" are built in);
- `bench_environment` for its os.environ block, `start_prefect` for its warm-up flow,
  `write_sources` for the sources.yaml half of its `write_config` (-88 lines, tried on a copy).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import importlib.util
import json
import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from newsmon.app.commands import preflight

# As newsmon's commands set them for Prefect's temporary API; none for a checkout from before
# they existed (polling.py runs another checkout's code for before/after figures).
PREFECT_SERVER_TUNING: dict[str, str] = getattr(preflight, "PREFECT_SERVER_TUNING", {})
# The services of Prefect's temporary API that `newsmon ingest` turns off (event persister,
# triggers), for a benchmark whose flow runs on the temporary API as the command's does; never
# for a Prefect server a benchmark starts (the command never turns them off there).
PREFECT_TEMPORARY_API_SERVICES_OFF: dict[str, str] = getattr(
    preflight, "PREFECT_TEMPORARY_API_SERVICES_OFF", {}
)

ROOT = Path(__file__).resolve().parents[1]

Answer = tuple[int, Mapping[str, str], bytes]


# --- loopback sites ---------------------------------------------------------------------------


class LoopbackHost:
    """One site: a threaded HTTP server on its own 127.0.0.1 port, serving GETs from `answer`.

    Every request's arrival (time.monotonic()) goes to `log`, as a site's access log would have it.
    A subclass overrides `answer`; the base answers 404 to everything.
    """

    def __init__(self) -> None:
        self.log: list[float] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()

    def answer(self, path: str, headers: Message) -> Answer:
        """(status, headers, body) for a GET of `path` (query string removed)."""
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of new connections is queued, as a real server's would be
    owner: LoopbackHost


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        host = self.server.owner
        host.log.append(time.monotonic())
        status, headers, body = host.answer(self.path.split("?", 1)[0], self.headers)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FastLoopbackHost:
    """One site on its own 127.0.0.1 port like `LoopbackHost`, for benchmarks whose site must cost
    little CPU (it shares the machine's cores with the measured pipeline): every host of the
    process is served by one asyncio event loop thread, requests are parsed by hand (request line,
    Connection, If-None-Match) and a subclass answers with pre-built bytes.

    On the wire the same as `_Handler` for what the benchmarks send (GET, HTTP/1.0 or 1.1,
    keep-alive, pipelined requests): status line, Server, Date, then the subclass's headers and
    Content-Length, in that order; another method gets the same 501 and the connection closes. A
    malformed request line or a header block over 64 KiB closes the connection without an answer
    (`_Handler` answers some with an error page). Arrivals go to `log`, as `LoopbackHost`'s do.
    A subclass overrides `respond`; the base answers 404 (empty body) to everything.
    """

    def __init__(self, port: int = 0) -> None:
        """Listens on `port` (default: one the system picks)."""
        self.log: list[float] = []
        self._loop = _event_loop()
        self._connections: set[_FastProtocol] = set()
        self._server = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(lambda: _FastProtocol(self), "127.0.0.1", port, backlog=128),
            self._loop,
        ).result()
        self.port: int = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"

    @staticmethod
    def head(headers: Mapping[str, str], length: int) -> bytes:
        """The header lines after Date as `_Handler` sends them: `headers`, Content-Length, the
        blank line."""
        lines = [f"{name}: {value}\r\n" for name, value in headers.items()]
        lines.append(f"Content-Length: {length}\r\n\r\n")
        return "".join(lines).encode("latin-1")

    def respond(self, path: str, if_none_match: str | None) -> tuple[int, bytes, bytes]:
        """(status, `head(...)` of its headers, body) for a GET of `path` (query string removed);
        `if_none_match` is the request's first If-None-Match header, as sent."""
        return 404, _EMPTY_404_HEAD, b""

    def close(self) -> None:
        """Stop listening and drop this host's open connections."""

        async def stop() -> None:
            self._server.close()
            for connection in list(self._connections):
                if connection.transport is not None:
                    connection.transport.abort()
            await self._server.wait_closed()

        with contextlib.suppress(RuntimeError):  # the loop is gone (interpreter exiting)
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)


_EMPTY_404_HEAD = FastLoopbackHost.head({}, 0)
_SERVER_LINE = (
    f"Server: {BaseHTTPRequestHandler.server_version} {BaseHTTPRequestHandler.sys_version}\r\n"
).encode("latin-1")
_STATUS_LINES: dict[int, bytes] = {
    status: f"HTTP/1.1 {status} {status.phrase}\r\n".encode("latin-1") + _SERVER_LINE
    for status in HTTPStatus
}
_MAX_HEAD = 65536
_loop_lock = threading.Lock()
_shared_loop: asyncio.AbstractEventLoop | None = None
_date_cache: tuple[int, bytes] = (0, b"")


def _event_loop() -> asyncio.AbstractEventLoop:
    """The process's one event loop for `FastLoopbackHost`s, running in a daemon thread."""
    global _shared_loop
    with _loop_lock:
        if _shared_loop is None:
            _shared_loop = asyncio.new_event_loop()
            threading.Thread(
                target=_shared_loop.run_forever, name="loopback-sites", daemon=True
            ).start()
        return _shared_loop


def _date_line() -> bytes:
    """The Date header line `_Handler` would send now (formatted once a second)."""
    global _date_cache
    now = time.time()
    second = int(now)
    if _date_cache[0] != second:
        _date_cache = (second, f"Date: {formatdate(now, usegmt=True)}\r\n".encode("latin-1"))
    return _date_cache[1]


def _error_response(code: int, message: str, method: str) -> bytes:
    """`BaseHTTPRequestHandler.send_error(code, message)`, bytes for bytes."""
    explain = BaseHTTPRequestHandler.responses[code][1]
    content = BaseHTTPRequestHandler.error_message_format % {
        "code": code,
        "message": html.escape(message, quote=False),
        "explain": html.escape(explain, quote=False),
    }
    body = content.encode("UTF-8", "replace")
    return b"".join(
        (
            f"HTTP/1.1 {code} {message}\r\n".encode("latin-1"),
            _SERVER_LINE,
            _date_line(),
            FastLoopbackHost.head(
                {"Connection": "close", "Content-Type": BaseHTTPRequestHandler.error_content_type},
                len(body),
            ),
            b"" if method == "HEAD" else body,
        )
    )


class _FastProtocol(asyncio.Protocol):
    """One client connection of a `FastLoopbackHost`: requests answered in order of arrival."""

    def __init__(self, host: FastLoopbackHost) -> None:
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.paused = False  # the client reads slower than we answer: wait for it
        self.done = False  # answered "close", or gave up on the request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # A whole page fits in the write buffer: no pause/resume for every page a client is slow
        # to read.
        transport.set_write_buffer_limits(high=1 << 20)
        self.host._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.host._connections.discard(self)
        self.done = True

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.done:
            self.transport.resume_reading()
            self._answer_buffered()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._answer_buffered()

    def _answer_buffered(self) -> None:
        buffer = self.buffer
        transport = self.transport
        assert transport is not None
        # is_closing(): a write failed (the client went away); connection_lost() comes later.
        while not self.paused and not self.done and not transport.is_closing():
            end = buffer.find(b"\r\n\r\n")
            skip = 4
            bare = buffer.find(b"\n\n", 0, len(buffer) if end < 0 else end)
            if bare >= 0:
                end, skip = bare, 2
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    self._give_up()
                return
            request = bytes(buffer[:end])
            del buffer[: end + skip]
            self._answer(request)

    def _give_up(self) -> None:
        self.done = True
        self.buffer.clear()
        assert self.transport is not None
        self.transport.close()

    def _answer(self, request: bytes) -> None:
        lines = request.split(b"\n")
        words = lines[0].rstrip(b"\r").decode("iso-8859-1").split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self._give_up()
            return
        method, path, version = words
        minor = version[7:]
        if not minor.isdigit() or len(minor) > 10:
            self._give_up()
            return
        close = int(minor) < 1
        if_none_match: str | None = None
        connection: bytes | None = None
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            name = name.lower()
            if name == b"if-none-match" and if_none_match is None:
                if_none_match = value.lstrip(b" \t").rstrip(b"\r").decode("iso-8859-1")
            elif name == b"connection" and connection is None:
                connection = value.lstrip(b" \t").rstrip(b"\r").lower()
        if connection == b"close":
            close = True
        elif connection == b"keep-alive":
            close = False
        assert self.transport is not None
        if method != "GET":
            self.transport.write(_error_response(501, f"Unsupported method ({method!r})", method))
            self._give_up()
            return
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        host = self.host
        host.log.append(time.monotonic())
        status, head, body = host.respond(path.split("?", 1)[0], if_none_match)
        self.transport.write(b"".join((_STATUS_LINES[status], _date_line(), head, body)))
        if close:
            self._give_up()


@dataclass
class Sites:
    """What a site builder returns, in the sites' process.

    `hello` is sent to the parent once the hosts listen (default: their base URLs); `commands` adds
    to the built-in ones (see `SiteProcess`).
    """

    hosts: Sequence[LoopbackHost]
    hello: Any = None
    commands: dict[str, Callable[[], Any]] = field(default_factory=dict)


class SiteProcess:
    """Loopback hosts in a process of their own (spawned): in production the sites are other
    machines, so their HTTP handling must not take the measured process's GIL, CPU or memory.

    `build(*args)` runs in that process and returns `Sites`; it must be importable by name (a
    module-level function of the benchmark). The parent's handle: `hello`, `pid`, `ask(command)`
    with the built-in commands "stats" (each host's sorted arrival times), "reset" (clear them),
    "requests" (all hosts' count so far), "cpu" (seconds the process used) and "stop".

    `daemon=False` lets a command start processes of its own (a pool); the caller must then
    close() it even when the benchmark fails, or the interpreter waits for it at exit.
    """

    def __init__(self, build: Callable[..., Sites], *args: Any, daemon: bool = True) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs, build, args), daemon=daemon)
        self._process.start()
        self.hello: Any = self._conn.recv()
        self.pid = self._process.pid

    def ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def close(self) -> None:
        self.ask("stop")
        self._process.join(timeout=10)


def _serve(conn: Any, build: Callable[..., Sites], args: tuple[Any, ...]) -> None:
    sites = build(*args)
    hosts = sites.hosts

    def reset() -> str:
        for host in hosts:
            host.log = []
        return "ok"

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    commands: dict[str, Callable[[], Any]] = {
        "stats": lambda: [sorted(host.log) for host in hosts],
        "reset": reset,
        "requests": lambda: sum(len(host.log) for host in hosts),
        "cpu": cpu,
        **sites.commands,
    }
    conn.send([host.base_url for host in hosts] if sites.hello is None else sites.hello)
    while True:
        try:
            command = conn.recv()
        except EOFError:  # the benchmark died: do not outlive it
            command = "stop"
        if command in commands:
            conn.send(commands[command]())
            continue
        for host in hosts:
            host.close()
        with contextlib.suppress(OSError):
            conn.send("stopped")
        return


# --- the measured run's environment -------------------------------------------------------------


def bench_environment(database_url: str, **settings: str) -> dict[str, str]:
    """Environment variables for a measured newsmon run: its database, loopback hosts allowed,
    Prefect without telemetry and quiet; `settings` (NEWSMON_HOST_RPS=..., PREFECT_HOME=...) on top.
    """
    return {
        "NEWSMON_DATABASE_URL": database_url,
        "NEWSMON_ALLOW_PRIVATE_HOSTS": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        # A loaded machine can take longer than the default 20 s to start the temporary API.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        **PREFECT_SERVER_TUNING,
        **settings,
    }


def start_prefect() -> float:
    """Start Prefect's temporary API with a trivial flow, so the first measured flow is timed on
    its own; the seconds it took (a one-off per process)."""
    from prefect import flow

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        return None

    started = time.perf_counter()
    warm_up()
    return time.perf_counter() - started


def write_sources(directory: Path, sources: Iterable[Mapping[str, object]]) -> Path:
    """`directory`/sources.yaml listing `sources` (name, url, any other keys); the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    # One JSON object a line: a YAML flow mapping.
    lines = ["sources:", *(f"  - {json.dumps(dict(source))}" for source in sources)]
    (directory / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def load_module(path: Path, name: str) -> ModuleType:
    """A Python file outside this folder (a corpus's own scorer) as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- scratch PostgreSQL databases ---------------------------------------------------------------


def default_postgres_url() -> str:
    """NEWSMON_BENCH_POSTGRES_URL, else NEWSMON_TEST_POSTGRES_URL, else the local server."""
    return (
        os.environ.get("NEWSMON_BENCH_POSTGRES_URL")
        or os.environ.get("NEWSMON_TEST_POSTGRES_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )


def libpq_url(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL as psycopg takes it (no driver name), optionally for another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_database(admin_url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """Database `name`, created empty (dropped first if a past run left it), dropped at the end
    unless `keep`; its SQLAlchemy URL. `admin_url` is only used to create and drop it."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with psycopg.connect(libpq_url(admin_url), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
