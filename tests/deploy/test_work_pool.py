"""The work-pool route as docs/OPERATIONS.md gives it: `prefect work-pool create`, `prefect deploy --all` of
deploy/prefect.yaml, `prefect worker start`; the worker runs an ingest in NEWSMON_HOME.

It shares the server with test_deployments.py, so the deployments are deployed under other names
(`ingest/ingest-pool`, ...) than the served ones; prefect.yaml is otherwise used as it is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsmon.app.demo.run import SITE, write_demo_config
from newsmon.app.demo.server import AlertReceiver, StaticSite
from newsmon.flows.deployments import newsmon_deployments
from newsmon.store.archive import iter_articles
from newsmon.store.db import make_engine
from tests.deploy.conftest import NEWSMON, PREFECT, REPO, PrefectServer, quiet_env

pytestmark = pytest.mark.slow


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{output}"
    return output


def test_prefect_yaml_deploys_to_a_process_pool_and_a_worker_runs_ingest(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment

    project = tmp_path / "deploy"
    project.mkdir()
    text = (REPO / "deploy" / "prefect.yaml").read_text(encoding="utf-8")
    renamed, count = re.subn(r"(?m)^  - name: (\w+)$", r"  - name: \1-pool", text)
    assert count == 2
    (project / "prefect.yaml").write_text(renamed, encoding="utf-8")
    env = quiet_env(PREFECT_API_URL=prefect_server.api_url, PREFECT_HOME=str(tmp_path / "ph"))

    _run([PREFECT, "work-pool", "create", "--type", "process", "newsmon"], cwd=project, env=env)
    _run([PREFECT, "--no-prompt", "deploy", "--all"], cwd=project, env=env)

    with prefect_server.api(), get_client(sync_client=True) as client:
        ingest = client.read_deployment_by_name("ingest/ingest-pool")
        backfill = client.read_deployment_by_name("backfill/backfill-pool")
    assert (ingest.work_pool_name, backfill.work_pool_name) == ("newsmon", "newsmon")
    assert ingest.entrypoint == "newsmon.flows.ingest.ingest"
    assert backfill.entrypoint == "newsmon.flows.backfill.backfill"
    [schedule] = ingest.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("*/15 * * * *", "UTC")
    assert backfill.schedules == []
    assert backfill.parameter_openapi_schema["required"] == ["since"]
    # As `prefect deploy` leaves them, the forms are the ones Prefect derives (prefect.yaml cannot
    # give another): the server path `config_dir` is a field, `sources` free text.
    assert "config_dir" in backfill.parameter_openapi_schema["properties"]

    # deploy/forms.py, as docs/OPERATIONS.md says, gives them `newsmon serve`'s forms.
    forms_config = write_demo_config(
        tmp_path / "forms-config", {"{{BASE_URL}}": "http://127.0.0.1:9", "{{RECEIVER_PORT}}": "9"}
    )
    applied = _run(
        [sys.executable, str(REPO / "deploy" / "forms.py"), "--config", str(forms_config)],
        cwd=project,
        env=env,
    )
    assert (
        "ingest/ingest-pool: form set" in applied and "backfill/backfill-pool: form set" in applied
    )
    served = {d.name: d for d in newsmon_deployments(str(forms_config))}
    with prefect_server.api(), get_client(sync_client=True) as client:
        for flow in ("ingest", "backfill"):
            pooled = client.read_deployment_by_name(f"{flow}/{flow}-pool").parameter_openapi_schema
            form = served[flow]._parameter_openapi_schema.model_dump()
            assert pooled["properties"] == form["properties"], flow
            assert pooled.get("required", []) == form.get("required", []), flow
            assert "config_dir" not in pooled["properties"]
            assert "tigris-herald" in pooled["properties"]["sources"]["items"]["enum"]
    assert ingest.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $NEWSMON_HOME }}"}}
    ]

    # A worker machine: newsmon installed, NEWSMON_HOME with .env and config/, the default
    # SQLite database (data/newsmon.db, relative to NEWSMON_HOME), migrated beforehand.
    home = tmp_path / "home"
    with StaticSite(SITE) as site, AlertReceiver() as receiver:
        write_demo_config(
            home / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )
        (home / ".env").write_text("NEWSMON_ALLOW_PRIVATE_HOSTS=true\n", encoding="utf-8")
        _run([NEWSMON, "db", "upgrade"], cwd=home, env=quiet_env())

        with prefect_server.api():
            flow_run = run_deployment(
                name="ingest/ingest-pool",
                parameters={"force": True, "sources": ["tigris-herald"]},
                timeout=0,
            )
        # Started elsewhere than NEWSMON_HOME: the deployment's pull step moves the run there.
        worker_env = quiet_env(
            PREFECT_API_URL=prefect_server.api_url,
            PREFECT_HOME=str(tmp_path / "worker-ph"),
            NEWSMON_HOME=str(home),
        )
        _run(
            [PREFECT, "worker", "start", "--pool", "newsmon", "--run-once"],
            cwd=tmp_path,
            env=worker_env,
        )

    with prefect_server.api(), get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run.id).state
    assert state is not None and state.type == StateType.COMPLETED, state
    engine = make_engine(f"sqlite:///{home / 'data' / 'newsmon.db'}")
    try:
        with Session(engine) as session:
            articles: list[dict[str, Any]] = list(iter_articles(session))
    finally:
        engine.dispose()
    assert Counter(a["source"] for a in articles)["tigris-herald"] >= 3
