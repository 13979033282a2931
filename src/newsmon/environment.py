"""NEWSMON_* variables as people write them: a bad value named by its variable, a misspelt name
caught instead of silently ignored."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import ValidationError

from newsmon.settings import Settings

PREFIX = "NEWSMON_"


def setting_variables() -> dict[str, str]:
    """Variable name -> settings field, for every setting."""
    return {PREFIX + name.upper(): name for name in Settings.model_fields}


def invalid_settings(err: ValidationError) -> list[str]:
    """One line per bad value, naming the variable (never echoing the value: it may be a secret)."""
    lines = []
    for problem in err.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = PREFIX + field.upper() if field else "a NEWSMON_* variable"
        lines.append(f"{variable}: {problem['msg']}")
    return lines


def misspelt_variables(names: Iterable[str]) -> list[str]:
    """Warnings for NEWSMON_* names that are no setting but close to one.

    A NEWSMON_ name far from every setting is left alone: people keep other values under the
    prefix (a webhook token read by an alert's ${NEWSMON_HOOK}, test settings).
    """
    known = setting_variables()
    warnings = []
    for name in sorted(set(names)):
        if not name.startswith(PREFIX) or name in known:
            continue
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.8)
        if close:
            warnings.append(f"{name} is not a newsmon setting (ignored): did you mean {close[0]}?")
    return warnings


def variables_in_use(environ: Mapping[str, str], dotenv: Path = Path(".env")) -> list[str]:
    """The NEWSMON_* names set in the environment and in the .env file Settings reads."""
    names = [name for name in environ if name.startswith(PREFIX)]
    if dotenv.is_file():
        from dotenv import dotenv_values

        names += [name for name in dotenv_values(dotenv) if name.startswith(PREFIX)]
    return names
