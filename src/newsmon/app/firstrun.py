"""`newsmon init DIR`: a first real setup to edit (config folder, .env, data folder).

The files come from newsmon.app.starter (package data, so `init` works from an installed wheel, not
only from a checkout): the Iraq/Syria topics and alert rules as shipped, the shipped feeds
switched off until their owner has checked them, and the settings file with every default.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# file in the new folder -> file in newsmon.app.starter
STARTER_FILES = {
    "config/sources.yaml": "sources.yaml",
    "config/topics.yaml": "topics.yaml",
    "config/alerts.yaml": "alerts.yaml",
    ".env": "example.env",
}


class InitError(Exception):
    """The folder cannot take a starter setup (files there already, or not writable)."""


def write_starter(directory: Path) -> list[Path]:
    """Write the starter files into `directory` (created if needed); refuse to overwrite any."""
    targets = {directory / name: source for name, source in STARTER_FILES.items()}
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise InitError(f"already there, left as they are: {', '.join(existing)}")
    package = resources.files("newsmon.app.starter")
    try:
        for path, source in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(package.joinpath(source).read_text(encoding="utf-8"), encoding="utf-8")
        (directory / "data").mkdir(exist_ok=True)
    except OSError as err:
        raise InitError(f"cannot write in {directory}: {err.strerror or err}") from err
    return list(targets)


def next_steps(directory: Path) -> list[str]:
    """What to do after `init`, as shell lines."""
    return [
        f"cd {directory}",
        "# switch on a few feeds (enabled: true) or add your own; set your alert channels:",
        "$EDITOR config/sources.yaml config/alerts.yaml",
        "newsmon rules check           # every problem in the config, at once",
        "newsmon ingest --force        # poll every enabled feed once",
        "newsmon sources               # how each feed did",
    ]
