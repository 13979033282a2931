"""A run that fails prints its traceback once (issue 15: twice, 45 lines for one error)."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from io import StringIO
from pathlib import Path

import pytest

from tests.e2e.test_cli import run


def _tracebacks(text: str) -> int:
    """Printed tracebacks, a chained one ("The above exception was ...") counted once."""
    return (
        text.count("Traceback (most recent call last)")
        - text.count("The above exception was the direct cause of the following exception")
        - text.count("During handling of the above exception, another exception occurred")
    )


def test_a_failed_ingest_prints_its_traceback_once(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a feed on a port nothing listens on: due, and fails fast
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        f"sources:\n  - {{name: wire, url: 'http://127.0.0.1:{port}/feed'}}\n", encoding="utf-8"
    )
    database = tmp_path / "n.db"
    env = {"NEWSMON_DATABASE_URL": f"sqlite:///{database}", "PREFECT_HOME": str(tmp_path / "ph")}
    assert run("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    with sqlite3.connect(database) as connection:  # the run fails in a task, the flow re-raises
        connection.execute("DROP TABLE entry_queue")

    result = run("ingest", "--config", str(config), cwd=tmp_path, env=env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert _tracebacks(result.stderr) == 1, result.stderr
    assert "no such table: entry_queue" in result.stderr.splitlines()[-1]
    assert result.stderr.splitlines()[-1].startswith("error: the ingest run failed")


def test_the_run_console_prints_an_error_traceback_once_and_every_other_error() -> None:
    from newsmon.tasks.console_log import OneTracebackConsoleHandler

    out = StringIO()
    handler = OneTracebackConsoleHandler(stream=out)
    logger = logging.getLogger("tests.console_log")
    logger.propagate, logger.handlers = False, [handler]

    def fail(message: str) -> BaseException:
        try:
            raise ValueError(message)
        except ValueError as err:
            return err

    first, other = fail("no such table"), fail("something else")
    logger.error("task failed", exc_info=first)
    try:
        raise RuntimeError("flow failed") from first
    except RuntimeError as wrapped:
        logger.error("flow failed", exc_info=wrapped)  # raised from the first: message only
    logger.error("flow failed again", exc_info=first)
    logger.error("another task failed", exc_info=other)
    text = out.getvalue()
    assert _tracebacks(text) == 2, text
    assert all(m in text for m in ("task failed", "flow failed", "flow failed again", "another"))


def test_the_temporary_api_does_not_print_a_recorder_write_its_shutdown_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In Prefect's temporary API (PREFECT__SERVER_EPHEMERAL) only, and only a cancelled write."""
    from newsmon.tasks.console_log import TemporaryApiShutdownFilter

    out = StringIO()
    logger = logging.getLogger("tests.console_log.recorder")
    logger.propagate, logger.handlers = False, [logging.StreamHandler(out)]
    logger.filters = [TemporaryApiShutdownFilter()]

    def log(error: BaseException, message: str) -> None:
        try:
            raise error
        except BaseException:
            logger.error(message, exc_info=True)

    monkeypatch.setenv("PREFECT__SERVER_EPHEMERAL", "1")
    log(asyncio.CancelledError(), "cancelled on the temporary API")
    log(OSError("disk full"), "failed on the temporary API")
    monkeypatch.delenv("PREFECT__SERVER_EPHEMERAL")
    log(asyncio.CancelledError(), "cancelled on a server")
    text = out.getvalue()
    assert "cancelled on the temporary API" not in text
    assert "failed on the temporary API" in text and "disk full" in text
    assert "cancelled on a server" in text and _tracebacks(text) == 2


def test_the_shipped_logging_config_filters_the_recorder_of_the_temporary_api() -> None:
    import yaml

    from newsmon.app.commands.preflight import prefect_logging_config

    config = yaml.safe_load(prefect_logging_config().read_text(encoding="utf-8"))
    recorder = config["loggers"]["prefect.server.services.task_run_recorder"]
    (name,) = recorder["filters"]
    assert config["filters"][name]["()"] == "newsmon.tasks.console_log.TemporaryApiShutdownFilter"
