"""YAML alias bombs in config values: a clear error naming the file, exit 2, bounded memory.

Issue 12, item 4: under `poll_every:`, `every:` or `notify:` a 400-byte file grew to 3 GB and died
with a MemoryError traceback, exit 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from newsmon.config.loading import ConfigError, load_config

# Nine levels of nine references: 9**9 = 387 million strings once every alias is walked.
BOMB = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
LAST = "*i"

SOURCES_OK = "sources:\n  - {name: good, url: 'http://127.0.0.1:9/feed.xml'}\n"


def bomb_configs(tmp_path: Path) -> dict[str, Path]:
    """One config folder per key the issue found: each file is ~400 bytes."""
    cases = {
        "poll_every": (
            "sources.yaml",
            f"{BOMB}sources:\n  - name: bad\n    url: http://127.0.0.1:9/f.xml\n    poll_every: {LAST}\n",
        ),
        "every": (
            "alerts.yaml",
            f"{BOMB}alerts:\n  - name: bad\n    query: x\n    mode: digest\n    every: {LAST}\n",
        ),
        "notify": (
            "alerts.yaml",
            f"{BOMB}alerts:\n  - name: bad\n    query: x\n    notify: {LAST}\n",
        ),
    }
    folders = {}
    for key, (filename, text) in cases.items():
        folder = tmp_path / key
        folder.mkdir()
        if filename != "sources.yaml":
            (folder / "sources.yaml").write_text(SOURCES_OK, encoding="utf-8")
        (folder / filename).write_text(text, encoding="utf-8")
        folders[key] = folder
    return folders


@pytest.mark.parametrize("key", ["poll_every", "every", "notify"])
def test_alias_bomb_under_a_value_is_refused_with_bounded_memory(tmp_path: Path, key: str) -> None:
    folder = bomb_configs(tmp_path)[key]
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(folder)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "alias bomb" in str(caught.value)
    assert str(folder) in str(caught.value)
    assert peak < 200 * 2**20, peak  # was 3 GB and a MemoryError
    assert time.monotonic() - started < 30


def test_alias_bomb_exits_2_with_one_clear_error(tmp_path: Path) -> None:
    folder = bomb_configs(tmp_path)["notify"]
    env = {**os.environ, "NEWSMON_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "newsmon.app.cli", "rules", "check", "--config", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "alias bomb" in done.stderr
    assert "Traceback" not in done.stderr


def test_ordinary_anchors_still_work(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        "sources:\n"
        "  - &first {name: a, url: 'http://127.0.0.1:9/a.xml', poll_every: 30m}\n"
        "  - {<<: *first, name: b}\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path)
    assert [(s.name, s.poll_every.total_seconds()) for s in config.sources] == [
        ("a", 1800.0),
        ("b", 1800.0),
    ]
