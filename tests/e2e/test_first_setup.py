"""From a fresh clone, as the README's "First real setup" says: `newsmon init DIR`, switch on one
feed, `newsmon ingest` from DIR. Against a local site standing in for the outlet."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from newsmon.app.demo.run import SITE
from newsmon.app.demo.server import StaticSite

NEWSMON = str(Path(sys.executable).parent / "newsmon")
REPO = Path(__file__).resolve().parents[2]


def newsmon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The user's environment: no NEWSMON_* settings but the one a local test site needs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(NEWSMON_ALLOW_PRIVATE_HOSTS="true", NEWSMON_HOST_RPS="50", COLUMNS="100")
    return subprocess.run(
        [NEWSMON, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_init_then_one_feed_switched_on_then_ingest(tmp_path: Path) -> None:
    created = newsmon("init", "beat", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    beat = tmp_path / "beat"
    assert "newsmon ingest" in created.stdout
    # Nothing is polled before its owner switches a feed on: the shipped ones are unverified.
    sources = beat / "config" / "sources.yaml"
    text = sources.read_text(encoding="utf-8")
    assert "NOT VERIFIED LIVE" in text and "    enabled: true" not in text

    with StaticSite(SITE) as site:
        # The edit the README asks for: one feed, its address, switched on.
        first = re.search(r"  - name: rudaw-en.*?enabled: false", text, re.DOTALL)
        assert first is not None
        edited = re.sub(r"url: \S+", f"url: {site.base_url}/tigris-herald/feed.xml", first.group())
        sources.write_text(
            text.replace(first.group(), edited.replace("enabled: false", "enabled: true")),
            encoding="utf-8",
        )
        checked = newsmon("rules", "check", cwd=beat)
        assert checked.returncode == 0, checked.stderr
        ingested = newsmon("ingest", cwd=beat)

    assert ingested.returncode == 0, ingested.stderr
    assert "1 source polled" in ingested.stdout, ingested.stdout
    database = beat / "data" / "newsmon.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        stored = connection.scalar(sa.text("SELECT count(*) FROM article WHERE source='rudaw-en'"))
    engine.dispose()
    items = (SITE / "tigris-herald" / "feed.xml").read_text(encoding="utf-8").count("<item>")
    assert stored == items > 0  # every article of the outlet's feed
    health = newsmon("sources", cwd=beat)
    assert health.returncode == 0 and "rudaw-en" in health.stdout


def test_init_leaves_an_existing_setup_alone(tmp_path: Path) -> None:
    assert newsmon("init", "beat", cwd=tmp_path).returncode == 0
    (tmp_path / "beat" / ".env").write_text("NEWSMON_HOST_RPS=2\n", encoding="utf-8")
    again = newsmon("init", "beat", cwd=tmp_path)
    assert again.returncode == 2 and "already there, left as they are" in again.stderr
    assert (tmp_path / "beat" / ".env").read_text(encoding="utf-8") == "NEWSMON_HOST_RPS=2\n"


STARTER = REPO / "src" / "newsmon" / "app" / "starter"


def test_the_starter_feeds_are_the_shipped_ones_switched_off() -> None:
    """newsmon.app.starter/sources.yaml is config/sources.yaml with every feed off: the same feeds."""
    from newsmon.config.loading import load_config

    shipped = load_config(REPO / "config")
    starter = load_config(STARTER)
    assert starter.sources == shipped.sources  # every field, `enabled: false` included
    assert not any(s.enabled for s in starter.sources)
    for name in ("topics.yaml", "alerts.yaml", "example.env"):
        assert (STARTER / name).read_bytes() == (REPO / "config" / name).read_bytes(), (
            f"{name}: the starter copy differs from config/{name}"
        )


def test_the_repo_config_polls_no_unverified_feed() -> None:
    """Issue 15: config/sources.yaml kept its 33 feeds enabled under a "NOT VERIFIED LIVE" header,
    so `newsmon ingest` from a fresh clone polled them. A feed is switched on once checked, and
    then it is no longer under that header."""
    from newsmon.config.loading import load_config

    text = (REPO / "config" / "sources.yaml").read_text(encoding="utf-8")
    shipped = load_config(REPO / "config").sources
    assert len(shipped) >= 20
    enabled = [s.name for s in shipped if s.enabled]
    assert "NOT VERIFIED LIVE" not in text or not enabled, f"unverified, yet enabled: {enabled}"
    assert text.count("    enabled: false\n") == len(shipped)  # said in the file, not by default
