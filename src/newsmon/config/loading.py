"""Reading a config folder: every file validated completely before anything runs.

Every error names the file, the entry and the reason, so a user can fix them all in one go. What
an entry may hold is `newsmon.config.models`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from newsmon.config.models import AlertConfig, Config, SourceConfig, TopicConfig

# Values a config file may hold with its YAML aliases expanded: 1,000 sources of ~10 keys each
# are ~20,000; far more is an alias bomb, refused before anything walks it.
MAX_CONFIG_VALUES = 1_000_000


class ConfigError(Exception):
    """One or more problems in the config files; each line names file, entry and reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


_FILES: tuple[tuple[str, str, type[BaseModel]], ...] = (
    ("sources.yaml", "sources", SourceConfig),
    ("topics.yaml", "topics", TopicConfig),
    ("alerts.yaml", "alerts", AlertConfig),
)


def load_config(directory: Path | str) -> Config:
    """Read and validate sources.yaml, topics.yaml and alerts.yaml; raise ConfigError listing all problems.

    sources.yaml is required; topics.yaml and alerts.yaml may be absent (no topics, no alerts).
    """
    directory = Path(directory)
    problems: list[str] = []
    loaded: dict[str, list[Any]] = {}
    if not directory.is_dir():
        raise ConfigError([f"{directory}: config folder not found"])
    for filename, key, model in _FILES:
        path = directory / filename
        if not path.exists():
            if key == "sources":
                problems.append(f"{path}: file not found (it lists the feeds to poll)")
            loaded[key] = []
            continue
        loaded[key] = _load_entries(path, key, model, problems)
    _check_unique_names(directory, loaded, problems)
    if (directory / "gazetteer.yaml").exists():  # optional (docs/STORIES.md): refused up front too
        from newsmon.stories.gazetteer import GazetteerError, load_gazetteer

        try:
            load_gazetteer(directory)
        except GazetteerError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(problems)
    return Config(
        directory=directory,
        sources=tuple(loaded["sources"]),
        topics=tuple(loaded["topics"]),
        alerts=tuple(loaded["alerts"]),
    )


def _read_yaml(text: str) -> Any:
    """libyaml's safe loader when installed (8x faster: a thousand sources are read on every run),
    the pure-Python one for a file that does not parse (its messages quote the offending line)."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)  # CSafeLoader: safe, like safe_load
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def _expands_beyond(document: Any, limit: int) -> bool:
    """Whether walking `document` with every alias expanded visits more than `limit` values.

    Stops counting at the limit, so it costs at most `limit` steps whatever the file holds.
    """
    visited = 0
    stack = [document]
    while stack:
        value = stack.pop()
        visited += 1
        if visited > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple | set):
            stack.extend(value)
    return False


def _load_entries(path: Path, key: str, model: type[BaseModel], problems: list[str]) -> list[Any]:
    try:
        document = _read_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:
        problems.append(f"{path}: cannot be read as YAML: {_one_line(str(err))}")
        return []
    if document is None:
        return []
    if _expands_beyond(document, MAX_CONFIG_VALUES):
        # Aliases (*a) share one object, so the file loads small; it explodes only when each
        # reference is walked (a repr in an error message grew a 400-byte file to 3 GB).
        problems.append(
            f"{path}: expands to more than {MAX_CONFIG_VALUES:,} values through YAML aliases"
            " (an alias bomb?): refused"
        )
        return []
    if not isinstance(document, dict) or set(document) - {key}:
        problems.append(f"{path}: expected a mapping with a single key '{key}:' holding a list")
        return []
    entries = document.get(key) or []
    if not isinstance(entries, list):
        problems.append(f"{path}: '{key}' must be a list of entries")
        return []
    parsed: list[Any] = []
    for index, raw in enumerate(entries):
        where = f"{path}: {key}[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            where += f" ({raw['name']})"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping with name, ... keys")
            continue
        try:
            parsed.append(model.model_validate(raw))
        except ValidationError as err:
            for error in err.errors():
                field = ".".join(str(part) for part in error["loc"]) or "entry"
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = "unknown key"
                elif error["type"] == "missing":
                    message = "required key is missing"
                problems.append(f"{where}: {field}: {message}")
    return parsed


def _check_unique_names(directory: Path, loaded: dict[str, list[Any]], problems: list[str]) -> None:
    for filename, key, _ in _FILES:
        seen: set[str] = set()
        for index, entry in enumerate(loaded[key]):
            if entry.name in seen:
                problems.append(
                    f"{directory / filename}: {key}[{index}] ({entry.name}): "
                    f"duplicate name '{entry.name}'"
                )
            seen.add(entry.name)


def _one_line(text: str) -> str:
    return " ".join(text.split())
