"""run.py's generated site, old and new side by side in one run: what a page served costs the site
process (it shares the machine's cores with the measured pipeline), and proof that both serve the
same bytes.

- old: `LegacySiteHost`, run.py's `SiteHost` before `FastLoopbackHost` (a `LoopbackHost`: a thread
  per connection, {BASE} replaced and the ETag hashed on every request);
- new: run.py's `SiteHost` (pre-built answers on one event loop).

1. Identity: the old site answers every path (200, then 304 to its ETag), 404s, a wrong ETag, a
   query string, and the connection cases (HTTP/1.0 with and without keep-alive, Connection:
   close, two pipelined requests, a request split over three packets, POST and HEAD); it stops,
   the new site listens on the same ports (so the same base URLs) and gets the same requests.
   Every response must be the same bytes except the Date header's value, and the connection must
   be left open or closed the same way.
2. CPU: both sites up (other ports); the same pages fetched from each by `--clients` keep-alive
   connections per host, old and new alternated twice; the site process's CPU per request.

    .venv/bin/python benchmarks/site_cpu.py [--clients 4] [--rounds 2] [--rate 0]

127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import socket
import sys
import threading
import time
from typing import Any

from harness import Answer, LoopbackHost, SiteProcess, Sites
from run import SiteHost, build_site

SIZE = (5, 30, 15)  # hosts, feeds per host, entries per feed: 2,250 article pages and 150 feeds


class LegacySiteHost(LoopbackHost):
    """run.py's SiteHost as it was (commit 986ab96)."""

    def __init__(self, contents: dict[str, bytes]) -> None:
        super().__init__()
        self.contents = contents

    def answer(self, path: str, headers: Any) -> Answer:
        body = self.contents.get(path)
        if body is None:
            return 404, {}, b""
        body = body.replace(b"{BASE}", self.base_url.encode())
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        kind = "application/rss+xml" if path.endswith(".xml") else "text/html; charset=utf-8"
        return 200, {"Content-Type": kind, "ETag": etag}, body


def build_old() -> Sites:
    contents, _ = build_site(*SIZE)
    hosts = [LegacySiteHost(c) for c in contents]
    return Sites(hosts, hello=([h.port for h in hosts], [list(c) for c in contents]))


def build_new(ports: list[int] | None = None) -> Sites:
    contents, _ = build_site(*SIZE)
    hosts = [
        SiteHost(c, port) for c, port in zip(contents, ports or [0] * len(contents), strict=True)
    ]
    return Sites(hosts, hello=([h.port for h in hosts], [list(c) for c in contents]))


# --- a raw HTTP/1.1 client ----------------------------------------------------------------------


def request(path: str, port: int, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    """A request as an HTTP client library sends it (httpx's headers), `extra` header lines added."""
    lines = [
        f"{method} {path} HTTP/{version}",
        f"Host: 127.0.0.1:{port}",
        "Accept: */*",
        "Accept-Encoding: gzip, deflate",
        "Connection: keep-alive",
        "User-Agent: newsmon/bench",
        *extra,
    ]
    if any(line.lower().startswith("connection:") for line in extra):
        lines.remove("Connection: keep-alive")
    if version == "1.0" and not extra:
        lines.remove("Connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self, head_only: bool = False) -> bytes:
        """One whole response, raw; b"" when the server closed first."""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(262144)
            if not chunk:
                return b""
            self.buffer += chunk
        end = self.buffer.index(b"\r\n\r\n") + 4
        length = 0
        if not head_only:
            match = re.search(rb"\r\nContent-Length: (\d+)\r\n", self.buffer[:end])
            length = int(match.group(1)) if match else 0
        while len(self.buffer) < end + length:
            chunk = self.sock.recv(262144)
            if not chunk:
                break
            self.buffer += chunk
        raw, self.buffer = self.buffer[: end + length], self.buffer[end + length :]
        return raw

    def closed(self, wait: float = 0.3) -> bool:
        """Whether the server closed the connection (nothing more is expected from it)."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(None)

    def close(self) -> None:
        self.sock.close()


def masked(raw: bytes) -> bytes:
    """A response with its Date header's value blanked (the one thing that may differ)."""
    end = raw.find(b"\r\n\r\n")
    head, n = re.subn(
        rb"\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} [\d:]{8} GMT\r\n",
        b"\r\nDate: *\r\n",
        raw[:end],
    )
    assert n == 1 or not raw, raw[:end]
    return head + raw[end:]


def etag_of(raw: bytes) -> str:
    match = re.search(rb"\r\nETag: ([^\r]*)\r\n", raw)
    assert match, raw[:300]
    return match.group(1).decode()


def transcript(ports: list[int], paths: list[list[str]]) -> list[tuple[str, bytes]]:
    """(case, masked response or connection state) for every identity case, in order."""
    out: list[tuple[str, bytes]] = []
    for port, host_paths in zip(ports, paths, strict=True):
        conn = Connection(port)
        etags: dict[str, str] = {}
        for path in [*host_paths, "/missing.html", "/robots.txt"]:
            conn.send(request(path, port))
            raw = conn.response()
            out.append((f"{port} GET {path}", masked(raw)))
            if raw.startswith(b"HTTP/1.1 200"):
                etags[path] = etag_of(raw)
                conn.send(request(path, port, f"If-None-Match: {etags[path]}"))
                out.append((f"{port} 304 {path}", masked(conn.response())))
        first = host_paths[0]
        for case, extra, target in (
            ("wrong etag", ['If-None-Match: "0000000000000000"'], first),
            ("lower-case header", [f"if-none-match: {etags[first]}"], first),
            ("query string", [], first + "?utm=1&x=2"),
            ("double slash", [], "/" + first),
            ("weak etag", [f"If-None-Match: W/{etags[first]}"], first),
            ("two If-None-Match", [f"If-None-Match: {etags[first]}", 'If-None-Match: "x"'], first),
        ):
            conn.send(request(target, port, *extra))
            out.append((f"{port} {case}", masked(conn.response())))
        out.append((f"{port} keep-alive still open", str(not conn.closed()).encode()))
        conn.close()
    port, first, second = ports[0], paths[0][0], paths[0][1]
    cases: list[tuple[str, list[bytes], int, bool]] = [  # case, packets, responses, HEAD
        ("HTTP/1.0", [request(first, port, version="1.0")], 1, False),
        (
            "HTTP/1.0 keep-alive",
            [request(first, port, "Connection: keep-alive", version="1.0")] * 2,
            2,
            False,
        ),
        ("Connection: close", [request(first, port, "Connection: close")], 1, False),
        ("pipelined", [request(first, port) + request(second, port)], 2, False),
        (
            "split",
            [request(first, port)[:7], request(first, port)[7:30], request(first, port)[30:]],
            1,
            False,
        ),
        (
            "split in the blank line",
            [request(second, port)[:-1], request(second, port)[-1:]],
            1,
            False,
        ),
        ("POST", [request(first, port, method="POST")], 1, False),
        ("HEAD", [request(first, port, method="HEAD")], 1, True),
    ]
    for case, packets, responses, head_only in cases:
        conn = Connection(port)
        for packet in packets:
            conn.send(packet)
            time.sleep(0.05)
        for n in range(responses):
            out.append((f"{case} #{n}", masked(conn.response(head_only))))
        out.append((f"{case} closed after", str(conn.closed()).encode()))
        conn.close()
    return out


# --- CPU per request ----------------------------------------------------------------------------


def fetch_all(ports: list[int], paths: list[list[str]], clients: int, rate: float = 0) -> int:
    """Every path of every host, once, by `clients` threads each with a keep-alive connection per
    host, `rate` requests a second in all (0: as fast as they can); the responses checked (200,
    whole body). Returns the number of requests."""
    work = [(i, path) for i, host_paths in enumerate(paths) for path in host_paths]
    errors: list[str] = []

    def client(share: list[tuple[int, str]]) -> None:
        conns: dict[int, Connection] = {}
        started = time.perf_counter()
        for n, (i, path) in enumerate(share):
            if rate:
                time.sleep(max(0.0, started + n * clients / rate - time.perf_counter()))
            conn = conns.get(i) or conns.setdefault(i, Connection(ports[i]))
            conn.send(request(path, ports[i]))
            raw = conn.response()
            if not raw.startswith(b"HTTP/1.1 200 OK\r\n"):
                errors.append(f"{path}: {raw[:60]!r}")
        for conn in conns.values():
            conn.close()

    threads = [threading.Thread(target=client, args=(work[n::clients],)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:5]
    return len(work)


def measure(
    name: str, site: SiteProcess, paths: list[list[str]], clients: int, rate: float
) -> dict[str, float]:
    ports = site.hello[0]
    site.ask("reset")
    cpu_before = site.ask("cpu")
    started = time.perf_counter()
    n = fetch_all(ports, paths, clients, rate)
    wall = time.perf_counter() - started
    cpu = site.ask("cpu") - cpu_before
    logged = site.ask("requests")
    stats = site.ask("stats")
    assert logged == n == sum(len(s) for s in stats), (logged, n)
    figures = {"requests": n, "cpu_ms_per_request": cpu / n * 1000, "requests_per_s": n / wall}
    print(
        f"{name:4} {n} requests: site CPU {figures['cpu_ms_per_request']:.3f} ms/request, "
        f"{figures['requests_per_s']:.0f} requests/s",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4, help="keep-alive connections per host")
    parser.add_argument("--rounds", type=int, default=2, help="old/new alternations")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="requests a second (0: as fast as the site answers; the old one manages ~300)",
    )
    args = parser.parse_args()

    old = SiteProcess(build_old)
    ports, paths = old.hello
    print(f"{len(ports)} hosts, {sum(map(len, paths))} paths", flush=True)
    before = transcript(ports, paths)
    old.close()
    new = SiteProcess(build_new, ports)
    assert new.hello[0] == ports
    after = transcript(ports, paths)
    differ = [case for (case, a), (_, b) in zip(before, after, strict=True) if a != b]
    print(
        f"identity: {len(before)} responses/connection states compared, {len(differ)} differ"
        + (f": {differ[:10]}" if differ else ""),
        flush=True,
    )
    new.close()

    old, new = SiteProcess(build_old), SiteProcess(build_new)
    try:
        for site in (old, new):  # warm-up: first connections, threads
            fetch_all(site.hello[0], [p[:50] for p in site.hello[1]], args.clients)
        results: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            for name, site in (("old", old), ("new", new)):
                results[name].append(
                    measure(name, site, paths, args.clients, args.rate)["cpu_ms_per_request"]
                )
    finally:
        old.close()
        new.close()
    o, n = (sum(results[k]) / len(results[k]) for k in ("old", "new"))
    print(f"mean site CPU per request: old {o:.3f} ms, new {n:.3f} ms ({o / n:.1f}x less)")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
