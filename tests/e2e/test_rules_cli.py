"""`newsmon rules test` on a seeded archive and `newsmon rules check`, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from newsmon.records import ArticleDraft
from newsmon.store.articles import store_articles
from newsmon.store.db import make_engine, upgrade
from tests.factories import OTHER_TEXT, draft, make_config, ready

NEWSMON = str(Path(sys.executable).parent / "newsmon")
ARABIC = (
    "قالت خلية الإعلام الأمني إن طائرات القوة الجوية العراقية قتلت ثلاثة من عناصر داعش في "
    "صحراء الانبار غربي البلاد، وإن القوات عثرت على أسلحة ومتفجرات في الموقع."
)


def newsmon(*args: str, cwd: Path, database: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NEWSMON_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "200"}
    if "FORCE_COLOR" not in env:  # plain output unless a test asks for a terminal
        full_env.pop("FORCE_COLOR", None)
    full_env.update(env)
    return subprocess.run(
        [NEWSMON, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def dated(article: ArticleDraft, day: int) -> ArticleDraft:
    return replace(article, published_at=datetime(2026, 11, day, 9, 0, tzinfo=UTC))


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive over three days: a story on two outlets, an Arabic one, an unrelated one."""
    database = tmp_path / "archive.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    config = make_config()
    drafts = [
        dated(draft("wire", "https://wire.example/a1"), 18),
        dated(draft("herald", "https://herald.example/b", minutes=5), 19),  # a copy
        dated(draft("herald", "https://herald.example/dinar", OTHER_TEXT, title="Dinar falls"), 19),
        dated(
            draft("monitor", "https://monitor.example/ar", ARABIC, title="مقتل ثلاثة من داعش"),
            20,
        ),
    ]
    with Session(engine) as session, session.begin():
        store_articles(session, ready(config, *drafts), notify_urls={}, now=drafts[0].fetched_at)
    engine.dispose()
    return database


def test_rules_test_prints_matches_per_day_and_a_highlighted_sample(
    archive: Path, tmp_path: Path
) -> None:
    result = newsmon(
        "rules", "test", "(Daesh OR داعش) AND (Anbar OR الأنبار)", cwd=tmp_path, database=archive
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out  # not a terminal: plain text
    assert "scanned 4 articles over 3 day(s)" in out
    assert "matched 3 articles in 2 stories" in out
    lines = out.splitlines()
    day_rows = [
        line.split() for line in lines if line.startswith("2026-11-") and len(line.split()) == 3
    ]
    assert day_rows == [
        ["2026-11-18", "1", "1"],
        ["2026-11-19", "1", "0"],
        ["2026-11-20", "1", "1"],
    ]
    assert "matching articles per term: Daesh 2, Anbar 2, داعش 1, الأنبار 1" in out
    assert "https://monitor.example/ar" in out and "https://wire.example/a1" in out
    assert "*داعش*" in out and "*الانبار*" in out  # the Arabic spelling as written, marked
    assert "western *Anbar* province" in out


def test_rules_test_filters_by_date_and_source(archive: Path, tmp_path: Path) -> None:
    result = newsmon(
        "rules",
        "test",
        "Anbar",
        "--since",
        "2026-11-19",
        "--source",
        "herald",
        cwd=tmp_path,
        database=archive,
    )
    assert result.returncode == 0, result.stderr
    assert "scope: since 2026-11-19 00:00 UTC, sources: herald" in result.stdout
    assert (
        "scanned 2 articles" in result.stdout and "matched 1 articles in 1 stories" in result.stdout
    )


def test_rules_test_on_a_terminal_uses_rich_tables(archive: Path, tmp_path: Path) -> None:
    result = newsmon("rules", "test", "Anbar", cwd=tmp_path, database=archive, FORCE_COLOR="1")
    assert result.returncode == 0, result.stderr
    assert "matches per day" in result.stdout and "most recent matching stories" in result.stdout
    assert "\x1b[" in result.stdout


def test_rules_test_explains_a_syntax_error_before_touching_the_database(tmp_path: Path) -> None:
    result = newsmon("rules", "test", "(ISIS OR Daesh", cwd=tmp_path, database=tmp_path / "none.db")
    assert result.returncode == 2
    assert "query syntax error: unbalanced parenthesis at position 0" in result.stderr
    assert "    (ISIS OR Daesh\n    ^ this '(' is never closed" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_rules_check_shows_the_query_with_a_caret(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - {name: wire, url: 'https://wire.example/rss'}\n", encoding="utf-8"
    )
    (config / "alerts.yaml").write_text(
        "alerts:\n  - name: broken\n    query: 'Anbar AND (ISIS OR Daesh))'\n", encoding="utf-8"
    )
    result = newsmon(
        "rules", "check", "--config", str(config), cwd=tmp_path, database=tmp_path / "x.db"
    )
    assert result.returncode == 2
    assert (
        f"{config / 'alerts.yaml'}: alerts[0] (broken): query: query syntax error" in result.stderr
    )
    assert "    Anbar AND (ISIS OR Daesh))\n" in result.stderr
    assert "                             ^ this ')' closes nothing" in result.stderr


def test_rules_check_lists_each_rules_delivery_and_warnings(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - {name: wire, url: 'https://wire.example/rss'}\n", encoding="utf-8"
    )
    (config / "alerts.yaml").write_text(
        "alerts:\n  - name: digest\n    query: 'IS AND Anbar'\n"
        "    notify: ['json://127.0.0.1:9/${NEWSMON_UNSET_HOOK}']\n"
        "    mode: digest\n    every: 2h\n    quiet_hours: '22:00-07:00'\n    timezone: Asia/Baghdad\n",
        encoding="utf-8",
    )
    result = newsmon(
        "rules", "check", "--config", str(config), cwd=tmp_path, database=tmp_path / "x.db"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "alert digest: digest every 2h, quiet 22:00-07:00 Asia/Baghdad -> json://127.0.0.1:9/"
        in result.stdout
    )
    assert "all valid (2 warning(s) above)" in result.stdout
    assert "'IS' is a very short word" in result.stderr
    assert "${NEWSMON_UNSET_HOOK} is not set in this environment" in result.stderr


def test_rules_test_until_a_day_includes_that_day_as_backfill_does(
    archive: Path, tmp_path: Path
) -> None:
    """Issue 15: `--until` was exclusive here and inclusive in `backfill`."""
    result = newsmon(
        "rules", "test", "Anbar", "--since", "2026-11-18", "--until", "2026-11-19",
        cwd=tmp_path, database=archive,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "scanned 3 articles" in result.stdout  # the 18th (1) and the 19th (2)
    assert "before 2026-11-20 00:00 UTC" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["Anbar", "--source", "nowhere"],
            "no source named 'nowhere' in the config or the archive",
        ),
        (["Anbar AND source:nowhere"], "no source named 'nowhere'"),
        (["Daesh and Anbar"], "'and' would be searched as a word: operators are upper case (AND)"),
        (["Anbar", "--since", "2026-11-20", "--until", "2026-11-18"], "the window is empty"),
    ],
)
def test_rules_test_refuses_what_would_silently_match_nothing(
    archive: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    """Issue 15: an unknown source, a reversed window or a lowercase `and` gave 0 matches, exit 0."""
    result = newsmon("rules", "test", *args, cwd=tmp_path, database=archive)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_rules_test_refuses_a_topic_the_config_does_not_have(archive: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - {name: wire, url: 'https://wire.example/feed'}\n", encoding="utf-8"
    )
    (config / "topics.yaml").write_text(
        "topics:\n  - {name: iraq, query: Iraq}\n", encoding="utf-8"
    )
    result = newsmon(
        "rules", "test", "topic:irak", "--config", str(config), cwd=tmp_path, database=archive
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "topic:irak names no topic" in result.stderr and "(topics: iraq)" in result.stderr
