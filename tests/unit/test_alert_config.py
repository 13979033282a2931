"""alerts.yaml pacing keys and secret references: optional, validated, explained."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from newsmon.alerts.pacing import DeliveryPolicy
from newsmon.config.loading import ConfigError, load_config

SOURCES = "sources:\n  - {name: wire, url: 'https://wire.example/rss'}\n"


def load(tmp_path: Path, alerts: str):  # type: ignore[no-untyped-def]
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (tmp_path / "alerts.yaml").write_text(alerts, encoding="utf-8")
    return load_config(tmp_path)


def test_the_contract_example_still_loads_with_immediate_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "alerts:\n  - name: isis-anbar\n"
        "    query: '(ISIS OR \"Islamic State\" OR Daesh) AND Anbar'\n"
        "    notify:\n      - json://127.0.0.1:8765/hook\n",
    )
    [rule] = config.alerts
    assert (rule.mode, rule.every, rule.quiet_hours, rule.timezone, rule.max_per_hour) == (
        "immediate",
        None,
        None,
        "UTC",
        None,
    )
    assert DeliveryPolicy.of(rule).describe() == "immediate"


def test_pacing_keys(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "alerts:\n  - name: digest\n    query: Anbar\n    notify: ['json://127.0.0.1:1/x']\n"
        "    mode: digest\n    every: 2h\n    quiet_hours: '22:00-07:00'\n"
        "    timezone: Asia/Baghdad\n    max_per_hour: 3\n",
    )
    policy = DeliveryPolicy.of(config.alerts[0])
    assert policy.every == timedelta(hours=2) and policy.max_per_hour == 3
    assert str(policy.quiet_hours) == "22:00-07:00 Asia/Baghdad"


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ("    mode: weekly\n", "mode: Input should be 'immediate' or 'digest'"),
        ("    every: 1h\n", "every: only used with mode: digest"),
        ("    mode: digest\n    every: 10s\n", "every: duration '10s' is shorter than the minimum"),
        ("    quiet_hours: '10pm-7am'\n", "quiet_hours: quiet_hours must look like '22:00-07:00'"),
        ("    timezone: Baghdad\n", "timezone: unknown time zone 'Baghdad'"),
        ("    max_per_hour: 0\n", "max_per_hour: Input should be greater than or equal to 1"),
    ],
)
def test_invalid_pacing_is_refused_with_the_reason(tmp_path: Path, keys: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "alerts:\n  - name: r\n    query: Anbar\n" + keys)
    [line] = caught.value.problems
    assert "alerts.yaml: alerts[0] (r):" in line and problem in line


def test_malformed_secret_reference_is_refused_without_showing_the_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            "alerts:\n  - name: r\n    query: Anbar\n"
            "    notify: ['mailto://desk:${prefect-secret:SMTP}@mail.example.org']\n",
        )
    [line] = caught.value.problems
    assert "notify:" in line and "'mailto://***@mail.example.org'" in line
    assert "a Prefect Secret block name is lowercase" in line
