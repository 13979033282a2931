"""Loopback HTTP servers for the demo: the sample news site, and a receiver for alert webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote, urlsplit

_TYPES = {".html": "text/html; charset=utf-8", ".xml": None, ".txt": "text/plain; charset=utf-8"}


def _feed_type(body: bytes) -> str:
    head = body[:500]
    return "application/atom+xml" if b"<feed" in head else "application/rss+xml"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 with a free port, running in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StaticSite(LoopbackServer):
    """Serves a folder; `{{BASE_URL}}` and other placeholders in .html/.xml files are replaced."""

    def __init__(self, root: Path, replacements: Mapping[str, str] | None = None) -> None:
        self.root = root.resolve()
        self.replacements = dict(replacements or {})
        self.hits: list[str] = []
        # Called with each requested path (tests use it to act at an exact point of a run).
        self.on_request: Callable[[str], None] | None = None
        super().__init__(_StaticHandler)
        self.replacements.setdefault("{{BASE_URL}}", self.base_url)

    def body(self, path: str) -> tuple[bytes, str] | None:
        target = (self.root / unquote(path).lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        data = target.read_bytes()
        if target.suffix in _TYPES:
            text = data.decode("utf-8")
            for placeholder, value in self.replacements.items():
                text = text.replace(placeholder, value)
            data = text.encode("utf-8")
        content_type = _TYPES.get(target.suffix) or _feed_type(data)
        return data, content_type


class _StaticHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        site: StaticSite = self.server.owner  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        site.hits.append(path)
        if site.on_request is not None:
            site.on_request(path)
        found = site.body(path)
        if found is None:
            self.send_error(404)
            return
        body, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class AlertReceiver(LoopbackServer):
    """Collects the JSON bodies POSTed to it (Apprise json:// alerts)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(_ReceiverHandler)

    def add(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.received.append(payload)


class _ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver: AlertReceiver = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"raw": raw.decode("utf-8", "replace")}
        receiver.add({"path": self.path, **payload})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass
