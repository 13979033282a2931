"""`newsmon export clusters` and the cluster fields of `newsmon export articles`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session

from newsmon.store.articles import store_articles
from newsmon.store.db import make_engine, upgrade
from tests.e2e.test_cli import run
from tests.factories import NOW, OTHER_TEXT, draft, make_config, ready


def test_export_clusters_and_cluster_fields(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'newsmon.db'}"
    engine = make_engine(url)
    upgrade(engine)
    config = make_config()
    drafts = [
        draft("wire", "https://wire.example/a1"),
        draft("herald", "https://herald.example/b"),
        draft("monitor", "https://monitor.example/c"),
        draft("herald", "https://herald.example/dinar", OTHER_TEXT, title="Dinar"),
    ]
    with Session(engine) as session, session.begin():
        store_articles(session, ready(config, *drafts), notify_urls={}, now=NOW)
    engine.dispose()

    clusters = run("export", "clusters", cwd=tmp_path)
    assert clusters.returncode == 0, clusters.stderr
    [story] = [json.loads(line) for line in clusters.stdout.splitlines()]
    assert story["size"] == 3 and story["outlets"] == ["wire", "herald", "monitor"]
    assert story["url"] == "https://wire.example/a1"
    assert story["first_seen"] == story["last_seen"] == "2026-11-21T11:00:00Z"
    assert "exported 1 clusters" in clusters.stderr

    articles = run("export", "articles", cwd=tmp_path)
    assert articles.returncode == 0, articles.stderr
    records = {r["url"]: r for r in map(json.loads, articles.stdout.splitlines())}
    copy = records["https://monitor.example/c"]
    assert copy["duplicate_of"] == copy["cluster_id"] == story["cluster_id"]
    assert (copy["cluster_size"], copy["cluster_outlets"]) == (3, ["wire", "herald", "monitor"])
    assert records["https://herald.example/dinar"]["cluster_size"] == 1
