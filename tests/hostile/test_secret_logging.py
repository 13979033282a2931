"""Secrets resolved into notify URLs never reach a log line, Apprise's own DEBUG lines included.

Issue 12, item 6: Apprise's debug lines printed a resolved `${VAR}` path token.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from newsmon.alerts.channels import Rendered, send_apprise

TOKEN = "Zq8PathT0kenFromEnv"
PASSWORD = "Pw0rdFromEnv99"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_lines() -> Iterator[list[str]]:
    collected = Collect()
    loggers = [logging.getLogger(), logging.getLogger("apprise")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(collected)
        logger.setLevel(logging.DEBUG)
    try:
        yield collected.lines
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(collected)
            logger.setLevel(level)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def message(fmt: str) -> Rendered:
    return Rendered(title="t", body="b", format=fmt)  # type: ignore[arg-type]


def test_resolved_path_token_and_password_are_masked_in_apprise_debug_lines(
    debug_lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_PASSWORD", PASSWORD)
    url = f"json://admin:${{HOOK_PASSWORD}}@127.0.0.1:{closed_port()}/${{HOOK_TOKEN}}/hook"
    error = send_apprise(url, message, timeout_s=2)
    assert error is not None  # the channel is down: Apprise logged its attempt
    text = "\n".join(debug_lines)
    assert "127.0.0.1" in text  # Apprise's DEBUG lines were collected: the check sees real text
    assert TOKEN not in text and PASSWORD not in text
    assert TOKEN not in error and PASSWORD not in error
    logging.getLogger("anything").warning("later line quoting %s", TOKEN)
    assert TOKEN not in debug_lines[-1] and "***" in debug_lines[-1]


def test_ordinary_words_are_not_masked(debug_lines: list[str]) -> None:
    send_apprise(f"json://127.0.0.1:{closed_port()}/hook?format=markdown", message, timeout_s=2)
    logging.getLogger("anything").warning("the markdown format of the hook")
    assert debug_lines[-1].endswith("the markdown format of the hook")
