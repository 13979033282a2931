"""The command line as a user runs it: the installed `newsmon` script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsmon.app.demo.run import SITE, write_demo_config
from newsmon.app.demo.server import AlertReceiver, StaticSite

NEWSMON = str(Path(sys.executable).parent / "newsmon")
FIXTURE_PAGES = Path(__file__).parents[1] / "fixtures" / "pages"


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    # The user's defaults: the embedded SQLite database in the working directory unless `env` says.
    full_env = {k: v for k, v in os.environ.items() if k != "NEWSMON_DATABASE_URL"}
    full_env.update({"NEWSMON_ALLOW_PRIVATE_HOSTS": "true", "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [NEWSMON, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def demo_site(tmp_path: Path) -> Iterator[tuple[StaticSite, AlertReceiver, Path]]:
    with StaticSite(SITE) as site, AlertReceiver() as receiver:
        config = write_demo_config(
            tmp_path / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )
        yield site, receiver, config


def test_ingest_then_export_then_sources(
    demo_site: tuple[StaticSite, AlertReceiver, Path], tmp_path: Path
) -> None:
    _site, receiver, config = demo_site
    result = run("ingest", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        tmp_path / "data" / "newsmon.db"
    ).exists()  # the embedded default, relative to the working directory
    assert "articles stored" in result.stdout
    assert receiver.received, "at least one alert reached the local receiver"

    exported = run("export", "articles", "--output", str(tmp_path / "articles.jsonl"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    articles = [
        json.loads(line)
        for line in (tmp_path / "articles.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(articles) >= 20
    assert set(articles[0]) == {
        "id",
        "url",
        "canonical_url",
        "source",
        "title",
        "text",
        "published_at",
        "language",
        "topics",
        "duplicate_of",
        "fetched_at",
        # extensions (docs/CONTRACT-EXTENSIONS.md)
        "cluster_id",
        "cluster_size",
        "cluster_outlets",
        "story_id",
    }
    assert any(a["duplicate_of"] for a in articles)
    assert all(a["cluster_id"] == (a["duplicate_of"] or a["id"]) for a in articles)
    assert any(a["cluster_size"] > 1 and len(a["cluster_outlets"]) > 1 for a in articles)
    assert {a["language"] for a in articles} >= {"en", "ar"}

    alerts = run("export", "alerts", cwd=tmp_path)
    assert alerts.returncode == 0, alerts.stderr
    rows = [json.loads(line) for line in alerts.stdout.splitlines()]
    assert rows and all(r["delivered_at"] for r in rows)
    assert set(rows[0]) == {
        "id",
        "rule",
        "article_id",
        "article_url",
        "title",
        "matched",
        "created_at",
        "delivered_at",
        "attempts",
        "story_update",
    }

    stories = run("export", "stories", cwd=tmp_path)
    assert stories.returncode == 0, stories.stderr
    story_rows = [json.loads(line) for line in stories.stdout.splitlines()]
    assert set(story_rows[0]) == {
        "id",
        "headline",
        "first_seen",
        "last_seen",
        "articles",
        "outlets",
        "languages",
    }
    assert {a["story_id"] for a in articles} == {s["id"] for s in story_rows}
    # The demo's Anbar operation is reported in English and Arabic, then followed up: one story.
    assert any(s["languages"] == ["ar", "en"] and len(s["outlets"]) >= 3 for s in story_rows)

    sources = run("sources", "--config", str(config), cwd=tmp_path)
    assert sources.returncode == 0, sources.stderr
    assert "ok" in sources.stdout

    again = run("ingest", "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 sources polled" in again.stdout  # nothing is due yet
    # Issue 15: no word on when the next poll is or on --force.
    assert "no source was due: the next poll is at 20" in again.stdout
    assert "`newsmon ingest --force` polls every enabled source now" in again.stdout


def test_invalid_config_is_refused_with_file_entry_and_reason(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - name: ok\n    url: https://a.example/feed\n    colour: red\n",
        encoding="utf-8",
    )
    result = run("ingest", "--config", str(config), cwd=tmp_path)
    assert result.returncode != 0
    assert f"{config / 'sources.yaml'}: sources[0] (ok): colour: unknown key" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing ran
    check = run("rules", "check", "--config", str(config), cwd=tmp_path)
    assert check.returncode != 0 and "colour: unknown key" in check.stderr


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - name: ok\n    url: https://a.example/feed\n", encoding="utf-8"
    )
    result = run(
        "ingest",
        "--config",
        str(config),
        cwd=tmp_path,
        env={"NEWSMON_DATABASE_URL": "postgresql+psycopg://newsmon:secret@127.0.0.1:1/nothing"},
    )
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot connect to database" in lines[0]
    assert "secret" not in result.stderr


def test_rules_check_accepts_valid_config(tmp_path: Path) -> None:
    result = run(
        "rules", "check", "--config", str(Path(__file__).parents[2] / "config"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "all valid" in result.stdout


def test_db_upgrade_on_a_fresh_database(tmp_path: Path) -> None:
    result = run(
        "db",
        "upgrade",
        cwd=tmp_path,
        env={"NEWSMON_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert result.returncode == 0, result.stderr
    # Every branch head (features add migrations on branches of 0001; all are applied).
    from alembic.script import ScriptDirectory

    import newsmon.store.migrations

    heads = ScriptDirectory(str(Path(newsmon.store.migrations.__file__).parent)).get_heads()
    assert f"revision {','.join(sorted(heads))}" in result.stderr


def test_extract_a_file_as_json(tmp_path: Path) -> None:
    expected = json.loads((FIXTURE_PAGES / "expected.json").read_text(encoding="utf-8"))
    name = "en_article_clutter.html"
    result = run("extract", str(FIXTURE_PAGES / name), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record) == {"title", "text", "published_at", "author", "language", "canonical_url"}
    assert record["title"] == expected[name]["title"]
    assert record["language"] == expected[name]["language"]
    plain = run("extract", str(FIXTURE_PAGES / name), cwd=tmp_path)
    assert plain.returncode == 0 and plain.stdout.strip() == record["text"]


def test_extract_a_url_served_on_loopback(
    demo_site: tuple[StaticSite, AlertReceiver, Path], tmp_path: Path
) -> None:
    site, _receiver, _config = demo_site
    page = next(p for p in sorted(SITE.rglob("*.html")))
    url = f"{site.base_url}/{page.relative_to(SITE).as_posix()}"
    result = run("extract", url, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"]


def test_extract_refuses_loopback_without_the_setting(
    demo_site: tuple[StaticSite, AlertReceiver, Path], tmp_path: Path
) -> None:
    site, _receiver, _config = demo_site
    result = run(
        "extract",
        f"{site.base_url}/anything.html",
        cwd=tmp_path,
        env={"NEWSMON_ALLOW_PRIVATE_HOSTS": "false"},
    )
    assert result.returncode != 0
    assert "127.0.0.1" in result.stderr and not site.hits  # refused before any request was sent


def test_extract_missing_file(tmp_path: Path) -> None:
    result = run("extract", str(tmp_path / "nope.html"), cwd=tmp_path)
    assert result.returncode == 2 and "no such file" in result.stderr


@pytest.mark.slow
def test_demo_prints_articles_topics_and_a_delivered_alert(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for heading in (
        "articles by source",
        "topics",
        "stories carried by several outlets",
        "stories across outlets, days and languages",
        "alerts",
    ):
        assert heading in out
    assert "the local alert receiver got 0 message" not in out
    assert "second pass" in out


def test_demo_keep_then_the_everyday_commands_work_there(tmp_path: Path) -> None:
    """Issue 15: after the demo, the README's commands failed ("has no newsmon schema"); the demo
    said nothing of what to do next."""
    result = run("demo", "--keep", "demo", cwd=tmp_path, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kept in demo" in result.stdout and "newsmon init DIR" in result.stdout
    kept = tmp_path / "demo"
    clean = {"NEWSMON_ALLOW_PRIVATE_HOSTS": "false"}
    for command in (
        ["sources"],
        ["rules", "test", "Daesh AND Anbar", "--since", "2026-11-01"],
        ["export", "clusters"],
    ):
        used = run(*command, cwd=kept, env=clean)
        assert used.returncode == 0, f"{command}: {used.stderr}"
        assert used.stdout.strip(), command
    assert not (kept / "data").exists()  # the demo's database, not a new empty one


def test_one_failed_page_and_one_failed_channel_are_each_reported_once(tmp_path: Path) -> None:
    """Issue 15: each failed page was printed twice (Prefect's console copy besides the summary),
    and an unreachable webhook gave a warning per alert, an Apprise line nested in each."""
    import shutil
    import socket

    site_root = tmp_path / "site"
    shutil.copytree(SITE, site_root)
    missing = "tigris-herald/2026/11/army-begins-sweep-of-wadi-horan.html"
    (site_root / missing).unlink()
    with socket.socket() as sock:  # a port nothing listens on: the channel is unreachable
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with StaticSite(site_root) as site, AlertReceiver() as receiver:
        config = write_demo_config(
            tmp_path / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )
        alerts = config / "alerts.yaml"
        alerts.write_text(
            alerts.read_text(encoding="utf-8").replace(
                '      - "json://127.0.0.1:{{RECEIVER_PORT}}/alerts"'.replace(
                    "{{RECEIVER_PORT}}", str(receiver.port)
                ),
                f'      - "json://127.0.0.1:{receiver.port}/alerts"\n'
                f'      - "json://127.0.0.1:{closed_port}/down"',
            ),
            encoding="utf-8",
        )
        result = run("ingest", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    page_lines = [line for line in lines if missing in line]
    channel_lines = [line for line in lines if f"127.0.0.1:{closed_port}" in line]
    assert len(page_lines) == 1, "\n".join(lines)
    assert len(channel_lines) == 1, "\n".join(lines)
    assert "alerts not delivered, retried later" in channel_lines[0]
    assert receiver.received  # the working channel got its alerts


def test_version(tmp_path: Path) -> None:
    from newsmon import __version__

    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == f"newsmon {__version__}\n"


@pytest.mark.parametrize(
    "command", [["sources"], ["export", "articles"], ["rules", "test", "Daesh"]]
)
def test_read_only_commands_create_no_database_file(tmp_path: Path, command: list[str]) -> None:
    """Issue 15: they left an empty data/newsmon.db behind, then said it had no schema."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - {name: wire, url: 'https://wire.example/feed'}\n", encoding="utf-8"
    )
    result = run(*command, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "no database at data/newsmon.db: run `newsmon ingest`" in result.stderr
    assert not (tmp_path / "data").exists()


def test_export_to_a_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    """Issue 15: a 30-line traceback."""
    env = {"NEWSMON_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"}
    assert run("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    result = run("export", "articles", "-o", str(tmp_path / "missing" / "x"), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --output {tmp_path / 'missing' / 'x'}: cannot write there: No such file or directory"
    ]


def test_counts_in_the_ingest_summary_agree_with_their_nouns() -> None:
    from newsmon.app.commands.output import plural

    assert (plural(1, "failure"), plural(0, "failure"), plural(2, "failure")) == (
        "1 failure",
        "0 failures",
        "2 failures",
    )


def test_settings_problems_name_the_variable_and_a_misspelt_one_is_caught(tmp_path: Path) -> None:
    """Issue 15: a bad value named the field (host_rps), a misspelt variable was ignored."""
    env = {"NEWSMON_HOST_RPS": "-1", "NEWSMON_DATABSE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = run("sources", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "warning: NEWSMON_DATABSE_URL is not a newsmon setting (ignored): did you mean "
        "NEWSMON_DATABASE_URL?",
        "error: invalid setting NEWSMON_HOST_RPS: Input should be greater than 0",
        "error: config: config folder not found",  # reported with it, not after
    ]


def test_settings_and_config_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Issue 15: a bad setting hid the config's problems, the config's hid the notify URLs'."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - {name: Bad Name, url: 'https://x.example/rss'}\n", encoding="utf-8"
    )
    (config / "alerts.yaml").write_text(
        "alerts:\n  - {name: a, query: Anbar, notify: ['nosuch://x']}\n", encoding="utf-8"
    )
    env = {"NEWSMON_HOST_RPS": "0"}
    for command in (["rules", "check"], ["ingest"]):
        result = run(*command, cwd=tmp_path, env=env)
        assert result.returncode == 2, result.stderr
        assert "invalid setting NEWSMON_HOST_RPS" in result.stderr, command
        assert "'Bad Name' is not a valid name" in result.stderr, command
    checked = run("rules", "check", cwd=tmp_path, env=env)
    assert "no Apprise service has the scheme 'nosuch://'" in checked.stderr
