"""`newsmon serve` against a real Prefect server: what it registers, a backfill started through the
API with custom parameters (what the UI's "Custom run" does), its results and artifacts, and a
clean stop on SIGTERM.

The last test stops the shared `newsmon serve`; tests after it (test_ui.py, test_work_pool.py)
need only the server and the finished backfill run.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsmon.store.archive import iter_alerts, iter_articles
from newsmon.store.db import make_engine
from tests.deploy.conftest import (
    BACKFILL_PARAMETERS,
    QUIET_CRON,
    SERVE_GRACE_S,
    PrefectServer,
    Served,
    wait_until,
)
from tests.localserver import LocalServer
from tests.pages import ECONOMY_PARAGRAPHS, article_page, rss_feed

pytestmark = pytest.mark.slow

WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _stored(database_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return list(iter_articles(session)), list(iter_alerts(session))
    finally:
        engine.dispose()


def _property(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """A parameter's schema, with `X | None` (anyOf X, null) unwrapped to X."""
    prop = dict(schema["properties"][name])
    options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
    if options:
        assert len(options) == 1, prop
        prop.update(options[0])
    return prop


def test_serve_registers_ingest_on_its_schedule_and_backfill_on_demand(
    served: Served, prefect_server: PrefectServer
) -> None:
    with prefect_server.api(), _client() as client:
        ingest = client.read_deployment_by_name("ingest/ingest")
        backfill = client.read_deployment_by_name("backfill/backfill")

    assert ingest.entrypoint == "newsmon.flows.ingest.ingest"
    assert ingest.parameters == {}  # the config is the serving process's NEWSMON_CONFIG_DIR
    assert ingest.tags == ["newsmon"]
    assert not ingest.paused
    [schedule] = ingest.schedules
    assert schedule.active
    assert schedule.schedule.cron == QUIET_CRON  # `serve --cron`; the default is */15
    assert schedule.schedule.timezone == "UTC"
    ingest_schema = ingest.parameter_openapi_schema
    assert _property(ingest_schema, "force")["type"] == "boolean"
    names = ["alrafidain-news", "euphrates-monitor", "levant-wire", "sham-post", "tigris-herald"]
    assert sorted(_property(ingest_schema, "sources")["items"]["enum"]) == names
    assert _property(ingest_schema, "shard")["type"] == "string"  # "K/N", for several workers
    # Issue 15: every field described, no server path to edit, no `X | None` toggle.
    for schema in (ingest_schema, backfill.parameter_openapi_schema):
        assert "config_dir" not in schema["properties"]
        for name, prop in schema["properties"].items():
            assert prop.get("description"), name
            assert "anyOf" not in prop, name

    assert backfill.entrypoint == "newsmon.flows.backfill.backfill"
    assert backfill.schedules == []  # on demand only
    assert backfill.parameters == {}
    assert not backfill.paused
    # The typed form the UI renders: a day as typed (YYYY-MM-DD, as the text says), the source
    # names to pick from, a choice, a switch.
    schema = backfill.parameter_openapi_schema
    assert schema["required"] == ["since"]
    since = _property(schema, "since")
    assert (since["type"], since["pattern"]) == ("string", r"^\d{4}-\d{2}-\d{2}$")
    assert "format" not in since
    assert _property(schema, "until")["pattern"] == since["pattern"]
    assert sorted(_property(schema, "sources")["items"]["enum"]) == names
    mode = _property(schema, "mode")
    assert mode["enum"] == ["discover", "reprocess"] and mode["default"] == "discover"
    deliver = _property(schema, "deliver_alerts")
    assert deliver["type"] == "boolean" and deliver["default"] is False
    # Parameter descriptions (from the flow's docstring) are shown above each field.
    assert "UTC" in since["description"]


def test_the_server_schedules_ingest_runs_for_serve_to_pick_up(
    served: Served, prefect_server: PrefectServer
) -> None:
    """The server's scheduler turns the cron schedule into scheduled runs (with SQLAlchemy 2.1 it
    failed on every pass and no scheduled run ever existed)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    def scheduled_runs() -> list[Any]:
        with prefect_server.api(), _client() as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["ingest"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )

    runs = wait_until(scheduled_runs, timeout=120, what="scheduled ingest runs")
    for run in runs:
        assert run.auto_scheduled
        assert run.parameters == {}
        start = run.expected_start_time.astimezone(UTC)
        assert (start.day, start.hour, start.minute) == (1, 0, 0)  # QUIET_CRON's slots


def test_backfill_custom_run_stores_the_articles_of_the_chosen_sources(
    served: Served, backfill_run: Any
) -> None:
    assert backfill_run.state is not None
    assert backfill_run.state.is_completed(), backfill_run.state
    assert backfill_run.parameters == BACKFILL_PARAMETERS
    assert all(source in backfill_run.name for source in BACKFILL_PARAMETERS["sources"])

    articles, alerts = _stored(served.database_url)
    per_source = Counter(a["source"] for a in articles)
    assert set(per_source) == set(BACKFILL_PARAMETERS["sources"]), per_source
    assert all(count >= 3 for count in per_source.values()), per_source
    assert all(a["published_at"] and a["published_at"].startswith("2026-11") for a in articles)
    # deliver_alerts=False: the alerts the backfill raised are recorded, not sent.
    assert alerts, "the demo rules match some of these articles"
    assert all(alert["delivered_at"] is None for alert in alerts)
    assert served.receiver.received == []


def test_backfill_run_leaves_table_markdown_and_progress_artifacts(
    served: Served, backfill_run: Any, prefect_server: PrefectServer
) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with prefect_server.api(), _client() as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[backfill_run.id])
            )
        )
    by_type = {artifact.type: artifact for artifact in artifacts}
    assert set(by_type) >= {"table", "markdown", "progress"}, [a.key for a in artifacts]

    table = by_type["table"]
    assert table.key == "backfill-summary"
    rows = {row["source"]: row for row in _table_rows(table.data)}
    articles, _ = _stored(served.database_url)
    stored = Counter(a["source"] for a in articles)
    for source in BACKFILL_PARAMETERS["sources"]:
        assert rows[source]["stored"] == stored[source], rows[source]
    assert by_type["progress"].data == 100.0
    markdown = str(by_type["markdown"].data)
    assert any(article["title"] in markdown for article in articles)


def _table_rows(data: Any) -> list[dict[str, Any]]:
    import json

    return json.loads(data) if isinstance(data, str) else list(data)


def test_task_runs_are_named_after_what_they_work_on(
    backfill_run: Any, prefect_server: PrefectServer
) -> None:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with prefect_server.api(), _client() as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[backfill_run.id]))
        )
    names = [task_run.name for task_run in task_runs]
    for source in BACKFILL_PARAMETERS["sources"]:
        assert any(source in name for name in names), names


def _one_source_config(directory: Path, name: str, feed_url: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "sources.yaml").write_text(
        f"sources:\n  - name: {name}\n    url: {feed_url}\n", encoding="utf-8"
    )
    return directory


def test_sigterm_lets_runs_in_progress_finish_then_cancels_the_rest(
    served: Served, backfill_run: Any, prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """Two ingest runs are in progress when serve gets SIGTERM: one can finish within the grace
    period and does; the other hangs on a page, is cancelled when the grace period ends.
    serve then pauses the schedules and exits 0, leaving no process behind.
    """
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment

    served.require_running()
    release = threading.Event()

    def page_when_released(_request: Any) -> tuple[int, dict[str, str], bytes]:
        release.wait(120)
        page = article_page("Oil exports hold steady in October", ECONOMY_PARAGRAPHS)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode("utf-8")

    with LocalServer() as quick_site, LocalServer() as stuck_site:
        quick_site.route(
            "/feed.xml",
            rss_feed("Quick", [("Oil exports hold steady", quick_site.url("/story"), WHEN)]),
            content_type="application/rss+xml",
        )
        quick_site.route_handler("/story", page_when_released)
        stuck_site.route(
            "/feed.xml",
            rss_feed("Stuck", [("Militants killed in Anbar", stuck_site.url("/story"), WHEN)]),
            content_type="application/rss+xml",
        )
        stuck_site.hang("/story")
        quick_config = _one_source_config(tmp_path / "quick", "quick", quick_site.url("/feed.xml"))
        stuck_config = _one_source_config(tmp_path / "stuck", "stuck", stuck_site.url("/feed.xml"))

        with prefect_server.api():
            quick, stuck = (
                run_deployment(
                    name="ingest/ingest",
                    parameters={"config_dir": str(config), "force": True},
                    timeout=0,
                )
                for config in (quick_config, stuck_config)
            )
            wait_until(
                lambda: quick_site.requests_to("/story") and stuck_site.requests_to("/story"),
                timeout=180,
                what="both ingest runs to be fetching their article page",
                process=served.process,
            )
            served.process.process.send_signal(signal.SIGTERM)
            served.stopped_by = "test_sigterm_lets_runs_in_progress_finish_then_cancels_the_rest"
            release.set()
            code = served.process.process.wait(SERVE_GRACE_S + 90)
            output = served.process.output()
            assert code == 0, output

            with _client() as client:
                quick_state = client.read_flow_run(quick.id).state
                stuck_state = client.read_flow_run(stuck.id).state
                ingest = client.read_deployment_by_name("ingest/ingest")
                backfill = client.read_deployment_by_name("backfill/backfill")

    assert quick_state.type == StateType.COMPLETED, (quick_state, output)
    assert stuck_state.type == StateType.CANCELLED, (stuck_state, output)
    # Paused while nothing serves them; the next `newsmon serve` resumes them.
    assert ingest.paused and backfill.paused
    # The cancelled run's own children (extraction forkserver, feed-parse workers) end as they
    # see it gone, a moment after serve itself: a bounded wait for that, not a fixed sleep.
    gone_by = time.monotonic() + 20
    while served.process.group_alive() and time.monotonic() < gone_by:
        time.sleep(0.1)
    assert not served.process.group_alive(), "serve left a process behind"
    assert "cancelling 'ingest forced'" in output
    articles, _ = _stored(served.database_url)
    assert "quick" in {a["source"] for a in articles}
    assert "stuck" not in {a["source"] for a in articles}


def test_serve_console_has_the_runners_lines_not_every_tasks(
    served: Served, backfill_run: Any
) -> None:
    """Issue 15: serve's console got every task's INFO line (the Prefect 2 variables newsmon set
    to quiet them name nothing in Prefect 3); the runs' INFO lines belong in the UI only."""
    assert backfill_run.state is not None and backfill_run.state.is_completed()
    output = served.process.output()
    assert "| INFO    | Task run" not in output, output[-3000:]
    assert "| INFO    | Flow run" not in output, output[-3000:]
    assert "serving ingest/ingest, backfill/backfill" in output
