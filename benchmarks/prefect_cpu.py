"""Prefect's CPU per task run, API server and client, two Prefect environments side by side.

Run:  .venv/bin/python benchmarks/prefect_cpu.py [--other PATH] [--rounds 3] [--batches 60]
                                                 [--profile DIR]

Each measurement is a fresh process with a fresh PREFECT_HOME, whose Prefect environment is set by
`prepare_prefect()` of this checkout's app/commands/preflight.py or of `--other` (default: main's,
from `git show main:...`), alternately, `--rounds` times each. It starts Prefect's temporary API
(as `newsmon ingest` does), lets it settle, then runs one flow shaped like the ingest flow's page
pipeline: per batch a submitted fetch task, a called extract task, a submitted store task, with
the real parameter shapes (the settings, a config of the benchmark's sources, a batch of feed
entries, all `as_is`) and empty bodies; one warning logged per fetch task (a failed page). After
the flow it waits until the server has recorded every task run and gone quiet.

Reported per task run: the server's CPU (from /proc, from the flow's start to quiet, less what the
server burns idle in that time, measured before the flow for as long) and the flow process's CPU
(`time.process_time()` over the flow and the wait: Prefect's client threads flush after the
flow). `--profile DIR` runs the server under cProfile (one round of this checkout's environment)
and writes DIR/server.prof.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PREFLIGHT = "src/newsmon/app/commands/preflight.py"
QUIET_CPU_S = 0.02  # server CPU in a second above its idle rate that is still quiet


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.add(int(entry.name))
    return found


def idle_rate(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def wait_quiet(pid: int, idle: float) -> None:
    """Until the server used at most its idle CPU (and a margin) over a second."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if idle_rate(pid, 1.0) <= idle + QUIET_CPU_S:
            return
    raise RuntimeError("the server never went quiet")


def wait_until(done: Any) -> None:
    deadline = time.monotonic() + 180
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("the server never recorded every task run")
        time.sleep(1.0)


def profile_server(path: Path) -> None:
    """Run Prefect's temporary API server under yappi (every thread, CPU clock): SIGUSR2 clears
    its figures, SIGUSR1 writes them to `path` (pstats format)."""
    import subprocess as real

    from prefect.server.api import server as prefect_server

    class Profiled:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        def Popen(args: list[str], **kwargs: Any) -> Any:
            if list(args[1:3]) == ["-m", "uvicorn"]:
                args = [args[0], __file__, "--profiled-server", str(path), *args[3:]]
            return real.Popen(args, **kwargs)

    prefect_server.subprocess = Profiled()  # type: ignore[assignment]


def profiled_server(path: str, uvicorn_args: list[str]) -> None:
    import runpy
    import signal

    import yappi

    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)
    signal.signal(signal.SIGUSR2, lambda *_: yappi.clear_stats())
    signal.signal(signal.SIGUSR1, lambda *_: yappi.get_func_stats().save(path, type="pstat"))
    sys.argv = ["uvicorn", *uvicorn_args]
    runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)


def child(preflight: str, batches: int, profile: str | None) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_preflight", preflight)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.prepare_prefect()
    os.environ["PREFECT_LOGGING_HANDLERS_RUNS_CONSOLE_LEVEL"] = "CRITICAL"

    from prefect import flow, get_client, task
    from prefect.cache_policies import NO_CACHE
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.logging import get_run_logger
    from prefect.utilities.annotations import quote

    from newsmon.config.loading import load_config
    from newsmon.records import FeedEntry
    from newsmon.settings import Settings

    if profile:
        profile_server(Path(profile))
    config = load_config(Path(os.environ["BENCH_CONFIG"]))
    settings = Settings()
    entries = [
        FeedEntry(source=config.sources[i % len(config.sources)].name, url=f"http://x/{i}")
        for i in range(settings.batch_size)
    ]

    @task(name="fetch-pages", task_run_name="fetch {label}", cache_policy=NO_CACHE)
    def fetch(settings: Any, entries: Any, label: str, config: Any = None) -> tuple[list, list]:
        get_run_logger().warning("page failed (%s): %s", entries[0].source, "HTTP 404")
        return [], []

    @task(name="extract-pages", task_run_name="extract {label}", cache_policy=NO_CACHE)
    def extract(settings: Any, pages: Any, hints: Any, label: str) -> list:
        return []

    @task(name="store-articles", task_run_name="store {label}", cache_policy=NO_CACHE, retries=2)
    def store(settings: Any, config: Any, extracted: Any, failures: Any, label: str) -> int:
        return 0

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        return None

    @flow(name="bench-pipeline")
    def pipeline() -> str:
        from prefect.runtime import flow_run

        hints = quote({s.name: s.language for s in config.sources})
        stores = []
        for index in range(batches):
            label = f"batch {index + 1}/{batches}"
            fetched = fetch.submit(
                quote(settings), quote(entries), label=label, config=quote(config)
            )
            pages, _ = fetched.result()
            extract(quote(settings), quote(pages), hints, label=label)
            stores.append(
                store.submit(
                    quote(settings),
                    quote(config),
                    quote([]),
                    quote([]),
                    label=label,
                    wait_for=stores[-1:] or None,
                )
            )
        for future in stores:
            future.result()
        return str(flow_run.id)

    warm_up()
    server = children(os.getpid())
    assert len(server) == 1, server
    pid = server.pop()
    time.sleep(3.0)
    idle = min(idle_rate(pid, 3.0) for _ in range(2))
    if profile:
        os.kill(pid, signal.SIGUSR2)
    server_before, client_before, started = cpu_seconds(pid), time.process_time(), time.monotonic()
    run_id = pipeline()
    client_flow = time.process_time() - client_before
    time.sleep(3.0)  # Prefect's client threads send what is left (logs, events)
    client_cpu = time.process_time() - client_before

    def recorded() -> bool:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])), limit=200
            )
        return len(runs) >= 3 * batches and all(r.state and r.state.is_final() for r in runs)

    wait_until(recorded)
    wait_quiet(pid, idle)
    if profile:
        os.kill(pid, signal.SIGUSR1)
        time.sleep(5.0)
    elapsed = time.monotonic() - started
    server_cpu = cpu_seconds(pid) - server_before
    runs = 3 * batches
    print(
        json.dumps(
            {
                "task_runs": runs,
                "server_ms": 1000 * (server_cpu - idle * elapsed) / runs,
                "server_raw_ms": 1000 * server_cpu / runs,
                "idle_ms_per_s": 1000 * idle,
                "client_ms": 1000 * client_cpu / runs,
                "client_flow_ms": 1000 * client_flow / runs,
                "elapsed_s": elapsed,
            }
        )
    )


def measure(
    preflight: Path, batches: int, profile: Path | None = None, extra: dict[str, str] | None = None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="prefect-cpu-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSMON_"))}
        env.update(
            PREFECT_HOME=home,
            NEWSMON_DATABASE_URL=f"sqlite:///{home}/n.db",
            PYTHONPATH=str(ROOT / "src"),
        )
        env.update(extra or {})
        args = [sys.executable, __file__, "--child", str(preflight), "--batches", str(batches)]
        if profile:
            args += ["--profile", str(profile)]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(done.stderr[-3000:])
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--other", type=Path, help="another preflight.py (default: main's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--child")
    parser.add_argument(
        "--variant", action="append", default=[], help="NAME:K=V,K=V over this checkout's"
    )
    if sys.argv[1:2] == ["--profiled-server"]:
        profiled_server(sys.argv[2], sys.argv[3:])
        return
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batches, str(args.profile) if args.profile else None)
        return
    config = Path(tempfile.mkdtemp(prefix="prefect-cpu-config-"))
    sources = [{"name": f"s{i}", "url": f"http://127.0.0.1:9/{i}.xml"} for i in range(300)]
    (config / "sources.yaml").write_text(
        "sources:\n" + "".join(f"  - {json.dumps(s)}\n" for s in sources), encoding="utf-8"
    )
    os.environ["BENCH_CONFIG"] = str(config)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        print(measure(ROOT / PREFLIGHT, args.batches, args.profile / "server.prof"))
        return
    other = args.other
    if other is None:
        other = config / "main_preflight.py"
        shown = subprocess.run(
            ["git", "show", f"main:{PREFLIGHT}"], cwd=ROOT, capture_output=True, text=True
        )
        other.write_text(shown.stdout, encoding="utf-8")
    variants: list[tuple[str, Path, dict[str, str]]] = [
        ("other", other, {}),
        ("this", ROOT / PREFLIGHT, {}),
    ]
    for spec in args.variant:
        name, _, pairs = spec.partition(":")
        extra = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
        variants.append((name, ROOT / PREFLIGHT, extra))
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in variants}
    for _ in range(args.rounds):
        for name, path, extra in variants:
            result = measure(path, args.batches, extra=extra)
            results[name].append(result)
            print(name, json.dumps({k: round(v, 2) for k, v in result.items()}), flush=True)
    for name, rows in results.items():
        print(
            f"{name}: server {statistics.median(r['server_ms'] for r in rows):.2f} ms/task run "
            f"(raw {statistics.median(r['server_raw_ms'] for r in rows):.2f}, idle "
            f"{statistics.median(r['idle_ms_per_s'] for r in rows):.1f} ms/s), client "
            f"{statistics.median(r['client_ms'] for r in rows):.2f} ms/task run"
        )


if __name__ == "__main__":
    main()
