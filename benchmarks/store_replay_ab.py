"""Two versions of the store side by side on one archive (`store_replay.py`'s replay): each version
is a worker process importing newsmon from its own source folder, the batches are stored by the
two alternately (A then B, then B then A: the machine's load falls on both alike), and the store
CPU per article of each is printed, with every table's digest (`store_replay.digest`) and DIFF
where the versions differ.

    .venv/bin/python benchmarks/store_replay_ab.py /tmp/newsmon-bench-XXXX \\
        main=/tmp/main-src this=src [--postgres] [--no-alerts]

A source folder holds the `newsmon` package (e.g. `git archive main src | tar -x -C /tmp/x`,
then /tmp/x/src).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(bench: Path, postgres: bool, alerts: bool) -> None:
    """Prepare the batches, then store one per line read, answering with its CPU seconds; at the
    end of input, print the digest."""
    from sqlalchemy.orm import Session

    import store_replay as replay
    from newsmon.config.loading import load_config
    from newsmon.rules.prepare import Rules, prepare_articles
    from newsmon.store.articles import store_articles
    from newsmon.store.db import make_engine, upgrade
    from newsmon.store.page_claims import release_pages

    with tempfile.TemporaryDirectory() as folder:
        config = load_config(replay.replay_config(bench, Path(folder) / "config", alerts))
    rules = Rules(config)
    notify_urls = {a.name: a.notify for a in config.alerts}
    story_alerts = {a.name: a.updates for a in config.alerts if a.once_per == "story"}
    drafts = replay.read_drafts(bench)
    batches = [prepare_articles(drafts[s : s + 100], rules) for s in range(0, len(drafts), 100)]
    print(len(batches), flush=True)
    with replay.database(postgres) as url:
        engine = make_engine(url)
        upgrade(engine)
        for batch in batches:
            sys.stdin.readline()
            now = max(r.draft.fetched_at for r in batch) + timedelta(seconds=1)
            started = time.process_time()
            with Session(engine) as session, session.begin():
                store_articles(
                    session, batch, notify_urls=notify_urls, now=now, story_alerts=story_alerts
                )
                release_pages(session, [r.draft.url for r in batch])
            print(time.process_time() - started, flush=True)
        print(json.dumps(replay.digest(engine)), flush=True)
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path)
    parser.add_argument("versions", nargs=2, help="LABEL=SOURCE_FOLDER, twice")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-alerts", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.bench, args.postgres, not args.no_alerts)
        return 0
    flags = ["--postgres"] * args.postgres + ["--no-alerts"] * args.no_alerts
    procs = {}
    for version in args.versions:
        label, source = version.split("=", 1)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(source).resolve()), str(HERE)]))
        procs[label] = subprocess.Popen(
            [sys.executable, __file__, str(args.bench), *args.versions, *flags, "--worker"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    labels = list(procs)
    counts = {int(procs[label].stdout.readline()) for label in labels}  # type: ignore[union-attr]
    assert len(counts) == 1, counts  # both versions replay the same batches
    batches = counts.pop()
    cpu = dict.fromkeys(labels, 0.0)
    for i in range(batches):
        for label in labels if i % 2 == 0 else labels[::-1]:
            proc = procs[label]
            proc.stdin.write("go\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            cpu[label] += float(proc.stdout.readline())  # type: ignore[union-attr]
    digests = {label: json.loads(procs[label].stdout.readline()) for label in labels}  # type: ignore[union-attr]
    for proc in procs.values():
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait()
    articles = int(digests[labels[0]]["article"].split()[0])
    times = ", ".join(f"{label} {cpu[label] / articles * 1000:.2f}" for label in labels)
    print(f"{args.bench.name}: {articles} articles, store CPU ms/article: {times}")
    for table in digests[labels[0]]:
        values = [digests[label][table] for label in labels]
        print(f"  {table:24} " + "  ".join(values) + ("" if len(set(values)) == 1 else "  DIFF"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
