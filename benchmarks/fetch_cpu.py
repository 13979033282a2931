"""The HTTP client's CPU per page, two checkouts side by side on the same loopback pages.

Run:  .venv/bin/python benchmarks/fetch_cpu.py [--other /path/to/other/src] [--rounds 4]
                                               [--hosts 10] [--pages 1500] [--batch 100]

The benchmark site of benchmarks/run.py (its ~66 KB article pages on their own 127.0.0.1 ports,
in a process of their own) is fetched with `newsmon.fetch.concurrent.fetch_pages` through one
Fetcher, batch after batch as the flow's fetch task does, by client processes that import
newsmon from this checkout's src or from `--other` (e.g. an extract of main: `git archive main
src | tar -x -C /tmp/main`), alternately, `--rounds` times each. Each client reports the CPU of
its event loop's thread over all the batches (what benchmarks/run.py reports as the network
thread) and a digest of every page it got (URL, status, HTML), which must be equal.

`--callgrind N` counts instructions instead (valgrind): a client fetching N pages less one
fetching none, per page; steadier than CPU time on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CLIENT = r"""
import asyncio, hashlib, json, sys, time
from newsmon.fetch.concurrent import fetch_pages
from newsmon.fetch.http import Fetcher, HttpPolicy
from newsmon.records import FeedEntry

urls, batch, digests = json.loads(sys.stdin.read()), int(sys.argv[1]), sys.argv[2] == "digest"
policy = HttpPolicy(user_agent="bench", max_per_host=4, max_connections=64, host_rps=100000.0,
                    allow_private_hosts=True)
entries = [FeedEntry(source=f"s{i % 30}", url=u) for i, u in enumerate(urls)]

async def main():
    digest = hashlib.sha256()
    async with Fetcher(policy) as fetcher:
        await fetch_pages(fetcher, entries[:20])  # connections opened, imports done
        cpu, pages_n = 0.0, 0
        for start in range(20, len(entries), batch):
            started = time.thread_time()
            pages, failures = await fetch_pages(fetcher, entries[start:start + batch])
            cpu += time.thread_time() - started  # the digest below is not the client's
            assert not failures, failures[:1]
            pages_n += len(pages)
            for page in pages if digests else ():
                digest.update(f"{page.entry.url}|{page.final_url}|{page.status}|".encode())
                digest.update(page.html.encode())
    return {"cpu_s": cpu, "pages": pages_n, "digest": digest.hexdigest()}

print(json.dumps(asyncio.run(main())))
"""


def run_client(
    src: Path, urls: list[str], batch: int, wrapper: Sequence[str] = ()
) -> dict[str, float | str]:
    """One client process's figures; under a `wrapper` (valgrind) without the pages' digest."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [*wrapper, sys.executable, "-c", CLIENT, str(batch), "" if wrapper else "digest"],
        input=json.dumps(urls),
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        raise RuntimeError(f"the client failed ({src}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def instructions(src: Path, urls: list[str], batch: int) -> int:
    """Instructions a client process executes (valgrind's callgrind), imports and all."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        run_client(src, urls, batch, wrapper)
        totals = [line for line in out.read_text().splitlines() if line.startswith("totals:")]
        return int(totals[0].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--other", type=Path, help="another checkout's src folder")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--pages", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--callgrind",
        type=int,
        metavar="N",
        help="instead: instructions per page (valgrind), fetching N pages less fetching none",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from harness import SiteProcess
    from run import build_site_hosts

    feeds_per_host = max(1, args.pages // (args.hosts * 15))
    site = SiteProcess(build_site_hosts, args.hosts, feeds_per_host, 15, True)
    try:
        base_urls, feeds, sizes = site.hello
        urls = [
            f"{base_urls[host]}{path.rsplit('/', 1)[0]}/{e}.html"
            for e in range(15)
            for host, path, _ in feeds
        ][: args.pages]
        checkouts = {"this": ROOT / "src"}
        if args.other:
            checkouts["other"] = args.other
        if args.callgrind:
            for name, src in reversed(checkouts.items()):
                counts = [
                    instructions(src, urls[: 20 + n], args.batch) for n in (0, args.callgrind)
                ]
                per_page = (counts[1] - counts[0]) / args.callgrind
                print(f"{name:6} instructions per page: {per_page:,.0f}")
            return
        results: dict[str, list[dict[str, float | str]]] = {name: [] for name in checkouts}
        for _ in range(args.rounds):
            for name, src in checkouts.items():
                results[name].append(run_client(src, urls, args.batch))
    finally:
        site.close()
    digests = {name: {str(r["digest"]) for r in runs} for name, runs in results.items()}
    print(f"{len(urls)} pages of ~{statistics.median(sizes) / 1024:.0f} KB on {args.hosts} hosts")
    for name, runs in results.items():
        per_page = [float(r["cpu_s"]) / float(r["pages"]) * 1000 for r in runs]
        print(
            f"{name:6} network thread CPU ms/page: median {statistics.median(per_page):.3f} "
            f"(min {min(per_page):.3f}; runs {', '.join(f'{v:.3f}' for v in per_page)}); digest {'/'.join(sorted(digests[name]))[:16]}"
        )
    same = len(set().union(*digests.values())) == 1
    print("same pages from every client:", same)


if __name__ == "__main__":
    main()
