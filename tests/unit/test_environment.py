"""NEWSMON_* variables: a bad value is named by its variable, a misspelt name is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from newsmon.environment import invalid_settings, misspelt_variables, variables_in_use
from newsmon.settings import Settings


def test_a_bad_value_names_the_variable_not_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_HOST_RPS", "-1")
    monkeypatch.setenv("NEWSMON_MAX_PER_HOST", "two")
    with pytest.raises(ValidationError) as caught:
        Settings()
    lines = invalid_settings(caught.value)
    assert sorted(lines) == [
        "NEWSMON_HOST_RPS: Input should be greater than 0",
        "NEWSMON_MAX_PER_HOST: Input should be a valid integer, unable to parse string as an integer",
    ]


def test_a_misspelt_name_is_caught_and_other_names_under_the_prefix_left_alone() -> None:
    names = ["NEWSMON_DATABSE_URL", "NEWSMON_HOST_RPS", "NEWSMON_SLACK_TOKEN", "PATH"]
    assert misspelt_variables(names) == [
        "NEWSMON_DATABSE_URL is not a newsmon setting (ignored): did you mean NEWSMON_DATABASE_URL?"
    ]


def test_names_in_the_dotenv_file_count_too(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("NEWSMON_HOST_RSP=2\nOTHER=1\n", encoding="utf-8")
    names = variables_in_use({"NEWSMON_CONFIG_DIR": "x"}, dotenv)
    assert sorted(names) == ["NEWSMON_CONFIG_DIR", "NEWSMON_HOST_RSP"]
    assert misspelt_variables(names)[0].startswith("NEWSMON_HOST_RSP is not a newsmon setting")
