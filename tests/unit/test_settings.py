"""Config loading: valid files load; every kind of mistake is refused with file, entry and reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from newsmon.alerts.redaction import redact_url
from newsmon.config.loading import ConfigError, load_config
from newsmon.config.models import parse_duration
from newsmon.settings import Settings

SOURCES = """
sources:
  - name: tigris-herald
    url: https://tigris.example/rss.xml
    language: en
    poll_every: 10m
  - name: rafidain
    url: https://rafidain.example/feed
    enabled: false
"""
TOPICS = """
topics:
  - name: counter-terrorism
    query: 'ISIS OR "Islamic State" OR Daesh OR داعش'
"""
ALERTS = """
alerts:
  - name: isis-anbar
    query: '(ISIS OR Daesh) AND Anbar'
    notify:
      - json://127.0.0.1:8765/hook
"""


def write(
    directory: Path, sources: str = SOURCES, topics: str = TOPICS, alerts: str = ALERTS
) -> Path:
    (directory / "sources.yaml").write_text(sources, encoding="utf-8")
    (directory / "topics.yaml").write_text(topics, encoding="utf-8")
    (directory / "alerts.yaml").write_text(alerts, encoding="utf-8")
    return directory


def problems(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value.problems


def test_valid_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    assert [s.name for s in config.sources] == ["tigris-herald", "rafidain"]
    assert config.sources[0].poll_every == timedelta(minutes=10)
    assert config.sources[1].poll_every == timedelta(minutes=15)
    assert config.sources[1].enabled is False
    assert config.topics[0].name == "counter-terrorism"
    assert config.alerts[0].notify == ("json://127.0.0.1:8765/hook",)


def test_topics_and_alerts_files_are_optional(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    config = load_config(tmp_path)
    assert config.topics == () and config.alerts == ()


def test_missing_sources_file_is_named(tmp_path: Path) -> None:
    assert problems(tmp_path) == [
        f"{tmp_path / 'sources.yaml'}: file not found (it lists the feeds to poll)"
    ]


def test_unknown_key_names_file_entry_and_key(tmp_path: Path) -> None:
    write(
        tmp_path, sources="sources:\n  - name: a\n    url: https://a.example/f\n    pol_every: 5m\n"
    )
    assert problems(tmp_path) == [
        f"{tmp_path / 'sources.yaml'}: sources[0] (a): pol_every: unknown key"
    ]


def test_bad_url_slug_language_and_duration_all_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        sources=(
            "sources:\n"
            "  - name: Bad_Name\n    url: ftp://x.example/feed\n"
            "  - name: ok\n    url: https://ok.example/f\n    language: english\n    poll_every: soon\n"
        ),
    )
    found = problems(tmp_path)
    assert any("sources[0] (Bad_Name): name:" in p and "lowercase" in p for p in found)
    assert any(
        "sources[0] (Bad_Name): url: not an http(s) URL: 'ftp://x.example/feed'" in p for p in found
    )
    assert any("sources[1] (ok): language:" in p and "ISO 639-1" in p for p in found)
    assert any("sources[1] (ok): poll_every: not a duration: 'soon'" in p for p in found)


def test_duplicate_names_refused(tmp_path: Path) -> None:
    write(tmp_path, sources=SOURCES + "  - name: rafidain\n    url: https://other.example/f\n")
    assert problems(tmp_path) == [
        f"{tmp_path / 'sources.yaml'}: sources[2] (rafidain): duplicate name 'rafidain'"
    ]


def test_query_syntax_error_has_position(tmp_path: Path) -> None:
    write(tmp_path, alerts="alerts:\n  - name: broken\n    query: '(ISIS OR Daesh'\n")
    [problem] = problems(tmp_path)
    assert problem.startswith(
        f"{tmp_path / 'alerts.yaml'}: alerts[0] (broken): query: query syntax error:"
    )
    assert "position" in problem


def test_missing_required_key(tmp_path: Path) -> None:
    write(tmp_path, topics="topics:\n  - name: iraq\n")
    assert problems(tmp_path) == [
        f"{tmp_path / 'topics.yaml'}: topics[0] (iraq): query: required key is missing"
    ]


def test_yaml_syntax_error_and_wrong_shape(tmp_path: Path) -> None:
    write(tmp_path, topics="topics: [unclosed\n", alerts="- just\n- a list\n")
    found = problems(tmp_path)
    assert any(p.startswith(f"{tmp_path / 'topics.yaml'}: cannot be read as YAML") for p in found)
    assert any(
        p.startswith(f"{tmp_path / 'alerts.yaml'}: expected a mapping with a single key 'alerts:'")
        for p in found
    )


def test_notify_must_be_urls(tmp_path: Path) -> None:
    write(tmp_path, alerts="alerts:\n  - name: a\n    query: x\n    notify: [not-a-url]\n")
    [problem] = problems(tmp_path)
    assert "notify" in problem and "not an Apprise URL" in problem


def test_parse_duration() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration(120) == timedelta(minutes=2)
    with pytest.raises(ValueError, match="shorter than the minimum"):
        parse_duration("10s")
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("fortnight")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.allow_private_hosts is True
    assert settings.user_agent.startswith("newsmon/") and "+https://" in settings.user_agent


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("NEWSMON_DATABASE_URL", "NEWSMON_CONFIG_DIR", "NEWSMON_ALLOW_PRIVATE_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite:///data/newsmon.db"
    assert str(settings.config_dir) == "config"
    assert settings.allow_private_hosts is False


def test_redact_url_hides_credentials_and_tokens() -> None:
    assert (
        redact_url("mailto://user:hunter2@example.org?to=a@b.c") == "mailto://***@example.org?***"
    )
    redacted = redact_url(
        "https://hooks.example/services/T0000000/B00000000/abcdefghijklmnopqrstuvwx"
    )
    assert "abcdefghijklmnopqrstuvwx" not in redacted and redacted.startswith(
        "https://hooks.example/services/"
    )
    assert redact_url("json://127.0.0.1:8765/hook") == "json://127.0.0.1:8765/hook"


def test_shipped_default_config_is_valid() -> None:
    config = load_config(Path(__file__).parents[2] / "config")
    assert len(config.sources) >= 20
    assert {"en", "ar"} <= {s.language for s in config.sources}
    assert config.topics and config.alerts


def test_parse_duration_refuses_non_durations_with_value_error() -> None:
    for value in (None, [], float("inf"), float("nan"), 10**30, "99999999999d", "15 minutes"):
        with pytest.raises(ValueError):
            parse_duration(value)  # type: ignore[arg-type]
