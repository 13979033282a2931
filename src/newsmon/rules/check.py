"""`newsmon rules check`: validate the config and explain each problem so it can be fixed at once.

Errors (exit non-zero) are what load_config refuses, each with file, entry and reason, plus notify
URLs whose scheme no Apprise service has. A query syntax error is shown with the query and a caret
under the fault. Warnings (exit 0) point at rules that parse but will not do what their author
expects: a `topic:`/`source:` naming nothing configured, very short words, `${VAR}` references to
variables not set here.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsmon.alerts.channels import references
from newsmon.alerts.redaction import redact_url
from newsmon.config.loading import ConfigError, load_config
from newsmon.config.models import AlertConfig, Config, TopicConfig
from newsmon.rules.query import QuerySyntaxError, parse_query
from newsmon.textnorm import normalize

_QUOTED = re.compile(r'"[^"]*"?')
_FIELD = re.compile(r'(?i)(?:^|(?<=[\s(]))(topic|source):("[^"]*"|[^\s()"]+)')
_SHOWN = 100  # characters of a long query shown around the fault


@dataclass(frozen=True)
class Finding:
    """One problem: a line naming file, entry and reason, and lines that explain it."""

    message: str
    detail: tuple[str, ...] = ()


@dataclass
class CheckReport:
    config: Config | None
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)


def check_config(directory: Path, *, environ: Mapping[str, str] | None = None) -> CheckReport:
    """Everything `rules check` reports about the config folder `directory`."""
    env = os.environ if environ is None else environ
    try:
        config = load_config(directory)
    except ConfigError as err:
        carets = _query_carets(directory)
        errors = []
        for problem in err.problems:
            prefix = next((p for p in carets if problem.startswith(p + ":")), None)
            detail = carets[prefix] if prefix and "query" in problem else ()
            errors.append(Finding(problem, detail))
        # The notify URLs too, from the raw file: every problem at once, not in stages.
        errors.extend(_raw_notify_errors(directory))
        return CheckReport(config=None, errors=errors)
    report = CheckReport(config=config)
    topics = {t.name for t in config.topics}
    sources = {s.name for s in config.sources}
    named: tuple[tuple[str, str, Sequence[TopicConfig | AlertConfig]], ...] = (
        ("topics.yaml", "topics", config.topics),
        ("alerts.yaml", "alerts", config.alerts),
    )
    for filename, key, entries in named:
        for index, entry in enumerate(entries):
            where = f"{directory / filename}: {key}[{index}] ({entry.name})"
            for warning in query_warnings(entry.query, topics=topics, sources=sources):
                report.warnings.append(Finding(f"{where}: query: {warning}"))
    for index, rule in enumerate(config.alerts):
        where = f"{directory / 'alerts.yaml'}: alerts[{index}] ({rule.name})"
        for url in rule.notify:
            report.errors.extend(_scheme_errors(where, url))
            for ref in references(url):
                if ref.kind == "env" and ref.name not in env:
                    report.warnings.append(
                        Finding(
                            f"{where}: notify: {redact_url(url)!r}: ${{{ref.name}}} is not set in "
                            "this environment (it is read when an alert is sent)"
                        )
                    )
    return report


def lowercase_operators(query: str) -> list[str]:
    """Words like `and`, `Or` written where AND/OR/NOT was surely meant (outside quotes).

    Only upper-case AND, OR, NOT are operators; `a and b` means a AND "and" AND b, which matches
    almost nothing. A quoted "and" is taken as meant.
    """
    masked = _QUOTED.sub(lambda m: " " * len(m.group()), query)
    return [word for word in _OPERATOR_WORD.findall(masked) if word not in ("AND", "OR", "NOT")]


_OPERATOR_WORD = re.compile(r"(?i)(?<![\w:*])(and|or|not)(?![\w*:])")


def _scheme_errors(where: str, url: str) -> list[Finding]:
    scheme = url.partition("://")[0].lower()
    if scheme in _apprise_schemes():
        return []
    return [
        Finding(
            f"{where}: notify: {redact_url(url)!r}: no Apprise service has the "
            f"scheme '{scheme}://', so nothing would ever be delivered",
            ("    the services and their URLs: https://github.com/caronc/apprise/wiki",),
        )
    ]


def _raw_notify_errors(directory: Path) -> list[Finding]:
    """Notify URLs with no Apprise scheme, read from alerts.yaml as written (a config that does
    not load otherwise still gets them reported)."""
    path = directory / "alerts.yaml"
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    entries = document.get("alerts") if isinstance(document, dict) else None
    found = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("notify"), list):
            continue
        where = f"{path}: alerts[{index}]"
        if isinstance(entry.get("name"), str):
            where += f" ({entry['name']})"
        for url in entry["notify"]:
            if isinstance(url, str):
                found.extend(_scheme_errors(where, url))
    return found


def query_warnings(query: str, *, topics: set[str], sources: set[str]) -> list[str]:
    """What in a valid query probably does not do what its author meant."""
    warnings = []
    for word in dict.fromkeys(lowercase_operators(query)):
        warnings.append(
            f"'{word}' is searched as a word, not an operator: operators are upper case "
            f'({word.upper()}); to search for the word, quote it ("{word}")'
        )
    for name, value in query_fields(query):
        known = topics if name == "topic" else sources
        if value not in known:
            where = "topics.yaml" if name == "topic" else "sources.yaml"
            warnings.append(
                f"{name}:{value} names no {name} in {where}, so that part never matches"
            )
    for term in parse_query(query).terms():
        words = normalize(term).replace("*", " * ").split()
        letters = [w for w in words if w != "*"]
        if len(letters) != 1:
            continue  # phrases are specific enough
        word = letters[0]
        if term.endswith("*") and len(word) < 3:
            warnings.append(
                f"'{term}' matches every word starting with '{word}': use a longer prefix"
            )
        elif not term.endswith("*") and len(word) <= 2:
            warnings.append(
                f"'{term}' is a very short word: matching ignores case, so it also matches "
                f"the ordinary word '{word}'; prefer a phrase (\"Islamic State\") or a longer name"
            )
    return warnings


def explain_query_error(query: str, error: QuerySyntaxError) -> tuple[str, ...]:
    """The query's line with a caret under the fault, and the reason; for the terminal."""
    position = max(0, min(error.position, len(query)))
    line_start = query.rfind("\n", 0, position) + 1
    line_end = query.find("\n", position)
    line = query[line_start : line_end if line_end != -1 else len(query)]
    column = position - line_start
    if len(line) > _SHOWN:  # a window around the fault, cut at both ends with "…"
        start = max(0, column - _SHOWN // 2)
        end = min(len(line), start + _SHOWN)
        prefix, suffix = ("…" if start else ""), ("…" if end < len(line) else "")
        column = column - start + len(prefix)
        line = prefix + line[start:end] + suffix
    hint = f"^ {_HINTS.get((error.message, query[position : position + 1]), error.message)}"
    detail = [f"    {line}", f"    {' ' * _width(line[:column])}{hint}"]
    if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in line):
        # A terminal lays out right-to-left text its own way, so the caret may sit elsewhere.
        at = " ".join(query[position : position + 16].split())
        where = f"which begins {at!r}" if at else "the end of the query"
        detail.append(f"    (the fault is at character {position + 1}, {where})")
    return tuple(detail)


# (QuerySyntaxError.message, the character at its position) -> what to tell the user.
_HINTS = {
    ("unbalanced parenthesis", "("): "this '(' is never closed: add a ')' after its terms",
    ("unbalanced parenthesis", ")"): "this ')' closes nothing: remove it or add a '(' before",
    ("unterminated quote", '"'): "this quote is never closed: add a '\"' after the phrase",
}


def _query_carets(directory: Path) -> dict[str, tuple[str, ...]]:
    """For each topic or alert entry whose query does not parse, its caret explanation."""
    found: dict[str, tuple[str, ...]] = {}
    for filename, key in (("topics.yaml", "topics"), ("alerts.yaml", "alerts")):
        path = directory / filename
        try:
            document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        entries = document.get(key) if isinstance(document, dict) else None
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict) or not isinstance(entry.get("query"), str):
                continue
            try:
                parse_query(entry["query"])
            except QuerySyntaxError as err:
                where = f"{path}: {key}[{index}]"
                if isinstance(entry.get("name"), str):
                    where += f" ({entry['name']})"
                found[where] = explain_query_error(entry["query"], err)
    return found


def query_fields(query: str) -> list[tuple[str, str]]:
    """(name, value) of the topic: and source: fields; a phrase like "topic:x" is no field."""

    def mask(match: re.Match[str]) -> str:
        is_value = match.start() > 0 and query[match.start() - 1] == ":"
        return match.group() if is_value else " " * len(match.group())

    masked = _QUOTED.sub(mask, query)
    return [(name.lower(), value.strip('"').strip()) for name, value in _FIELD.findall(masked)]


def _width(text: str) -> int:
    """Terminal cells taken by `text` (wide East Asian characters take two, marks none)."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


@functools.cache
def _apprise_schemes() -> frozenset[str]:
    from apprise.manager_plugins import NotificationManager

    return frozenset(s.lower() for s in NotificationManager().schemas())
