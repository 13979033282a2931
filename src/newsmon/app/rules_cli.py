"""The `newsmon rules` commands for people: `check` explains the config, `test` tries a query.

Reports are Rich tables with highlighted matches on a terminal and plain lines otherwise (pipes,
files, CI logs). Errors and progress go to stderr, reports to stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.alerts.messages import Excerpt
from newsmon.alerts.pacing import DeliveryPolicy
from newsmon.alerts.redaction import redact_url
from newsmon.config.models import Config
from newsmon.rules.backtest import BacktestReport, backtest, uses_topics
from newsmon.rules.check import (
    CheckReport,
    check_config,
    explain_query_error,
    lowercase_operators,
    query_fields,
)
from newsmon.rules.query import QuerySyntaxError, parse_query
from newsmon.rules.ruleset import RuleSet
from newsmon.store.archive import count_archive, iter_archive


def print_check(report: CheckReport, directory: Path, out: Console, err: Console) -> int:
    """Print a `rules check` report; the exit code (2, as for any invalid config, on an error)."""
    for finding in report.errors:
        err.print(f"[bold red]error:[/] {escape(finding.message)}", highlight=False, soft_wrap=True)
        for line in finding.detail:
            err.print(escape(line), highlight=False, soft_wrap=True)
    for finding in report.warnings:
        err.print(f"[yellow]warning:[/] {escape(finding.message)}", highlight=False, soft_wrap=True)
    config = report.config
    if config is None:
        err.print(f"{directory}: invalid ({len(report.errors)} problem(s) above)", highlight=False)
        return 2
    for rule in config.alerts:
        channels = ", ".join(redact_url(url) for url in rule.notify) or "no notify URL"
        out.print(
            f"alert {rule.name}: {DeliveryPolicy.of(rule).describe()} -> {escape(channels)}",
            highlight=False,
            soft_wrap=True,
        )
    counts = (
        f"{config.directory}: {len(config.sources)} sources, {len(config.topics)} topics, "
        f"{len(config.alerts)} alert rules"
    )
    if report.errors:
        err.print(f"{counts}: invalid ({len(report.errors)} problem(s) above)", highlight=False)
        return 2
    warned = f" ({len(report.warnings)} warning(s) above)" if report.warnings else ""
    out.print(f"{counts}: all valid{warned}", highlight=False)
    return 0


def run_check(directory: Path, out: Console, err: Console) -> int:
    return print_check(check_config(directory), directory, out, err)


def run_test(
    engine: Callable[[], Engine],
    query_text: str,
    *,
    since: datetime | None,
    until: datetime | None,
    sources: Sequence[str],
    sample_size: int,
    config: Config | None,
    out: Console,
    err: Console,
) -> int:
    """`rules test`: the exit code (2 when the query does not parse; `engine` is opened after)."""
    try:
        query = parse_query(query_text)
    except QuerySyntaxError as error:
        err.print(f"[bold red]error:[/] query syntax error: {escape(str(error))}", highlight=False)
        for line in explain_query_error(query_text, error):
            err.print(escape(line), highlight=False, soft_wrap=True)
        return 2
    problems = _test_problems(engine, query_text, since, until, sources, config)
    if problems:
        for problem in problems:
            err.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
        return 2
    topics = None
    needs_topics = uses_topics(query_text)
    if needs_topics and config is not None:
        topics = RuleSet({t.name: parse_query(t.query) for t in config.topics})
        err.print(f"topic: fields use the topics of {config.directory / 'topics.yaml'}")
    elif needs_topics:
        err.print("topic: fields use the topics stored with each article (no config folder found)")
    with Session(engine()) as session:
        total = count_archive(session, since=since, until=until, sources=sources)
        articles = iter_archive(
            session,
            since=since,
            until=until,
            sources=sources,
            with_topics=needs_topics and topics is None,
        )
        if err.is_terminal and total > 500:
            with Progress(
                TextColumn("matching"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as progress:
                bar = progress.add_task("matching", total=total)
                report = backtest(
                    articles,
                    query,
                    topics=topics,
                    sample_size=sample_size,
                    progress=lambda n: progress.update(bar, completed=n),
                )
        else:
            report = backtest(articles, query, topics=topics, sample_size=sample_size)
    scope = _scope(since, until, sources)
    if out.is_terminal:
        _print_rich(report, scope, out)
    else:
        _print_plain(report, scope, out)
    return 0


def _test_problems(
    engine: Callable[[], Engine],
    query_text: str,
    since: datetime | None,
    until: datetime | None,
    sources: Sequence[str],
    config: Config | None,
) -> list[str]:
    """Why `rules test` would report a misleading 0 matches, all at once (empty: none).

    A reversed window, a lowercase `and`, a source or topic that exists nowhere used to give a
    silent "matched 0 articles".
    """
    problems = []
    if since is not None and until is not None and since >= until:
        problems.append(f"--since {since:%Y-%m-%d} is not before --until: the window is empty")
    for word in dict.fromkeys(lowercase_operators(query_text)):
        problems.append(
            f"query: '{word}' would be searched as a word: operators are upper case "
            f'({word.upper()}); to search for the word itself, quote it ("{word}")'
        )
    fields = [(name, value) for name, value in query_fields(query_text)]
    named_sources = [*sources, *(v for n, v in fields if n == "source")]
    configured = {s.name for s in config.sources} if config is not None else set()
    if set(named_sources) - configured:  # maybe a source no longer configured: ask the archive
        known = _known_sources(engine, config)
        for name in dict.fromkeys(named_sources):
            if name not in known:
                problems.append(
                    f"no source named {name!r} in the config or the archive "
                    f"(sources: {', '.join(sorted(known)) or 'none'})"
                )
    if config is not None:
        topic_names = {t.name for t in config.topics}
        for name in dict.fromkeys(v for n, v in fields if n == "topic"):
            if name not in topic_names:
                problems.append(
                    f"query: topic:{name} names no topic in {config.directory / 'topics.yaml'} "
                    f"(topics: {', '.join(sorted(topic_names)) or 'none'})"
                )
    return problems


def _known_sources(engine: Callable[[], Engine], config: Config | None) -> set[str]:
    """Sources configured now, and any the archive holds articles from."""
    import sqlalchemy as sa

    from newsmon.store.models import Article

    known = {s.name for s in config.sources} if config is not None else set()
    with Session(engine()) as session:
        known.update(session.scalars(sa.select(col(Article.source)).distinct()))
    return known


def _scope(since: datetime | None, until: datetime | None, sources: Sequence[str]) -> str:
    parts = []
    if since:
        parts.append(f"since {since:%Y-%m-%d %H:%M} UTC")
    if until:
        parts.append(f"before {until:%Y-%m-%d %H:%M} UTC")  # --until DAY: the next midnight
    parts.append(f"sources: {', '.join(sources)}" if sources else "all sources")
    return ", ".join(parts)


def _summary(report: BacktestReport) -> list[str]:
    lines = [
        f"scanned {report.scanned} articles over {report.scanned_days} day(s)",
        f"matched {report.articles} articles in {report.clusters} stories "
        f"(an alert rule raises one alert per story: {report.clusters} alerts, "
        f"on {len(report.days)} of {report.scanned_days} days)",
    ]
    if report.terms:
        terms = ", ".join(f"{term} {count}" for term, count in report.terms.most_common())
        lines.append(f"matching articles per term: {terms}")
    return lines


def _print_plain(report: BacktestReport, scope: str, out: Console) -> None:
    def emit(line: str = "") -> None:
        out.print(line, markup=False, highlight=False, soft_wrap=True)

    emit(f"query: {report.query}")
    emit(f"scope: {scope}")
    for line in _summary(report):
        emit(line)
    if report.days:
        emit()
        emit(f"{'day':<12}{'articles':>9}{'stories':>9}")
        for row in report.per_day():
            emit(f"{row.day.isoformat():<12}{row.articles:>9}{row.clusters:>9}")
    if report.samples:
        emit()
        emit(f"most recent matching stories ({len(report.samples)}), matches marked *like this*:")
        for sample in report.samples:
            emit()
            emit(f"{sample.when:%Y-%m-%d %H:%M}  {sample.source}  {sample.title or '(no title)'}")
            emit(f"  {sample.url}")
            emit(f"  matched: {', '.join(sample.matched) or '(fields only)'}")
            emit(f"  {_plain_excerpt(sample.excerpt)}")


def _plain_excerpt(excerpt: Excerpt) -> str:
    return "".join(f"*{text}*" if hit else text for text, hit in excerpt.pieces)


def _print_rich(report: BacktestReport, scope: str, out: Console) -> None:
    out.print(f"[bold]query:[/] {escape(report.query)}", highlight=False)
    out.print(f"[bold]scope:[/] {escape(scope)}", highlight=False)
    for line in _summary(report):
        out.print(escape(line), highlight=False)
    if report.days:
        table = Table(title="matches per day", title_justify="left")
        table.add_column("day")
        table.add_column("articles", justify="right")
        table.add_column("stories (alerts)", justify="right")
        for row in report.per_day():
            table.add_row(row.day.isoformat(), str(row.articles), str(row.clusters))
        out.print(table)
    if report.samples:
        table = Table(
            title=f"most recent matching stories ({len(report.samples)})",
            title_justify="left",
            show_lines=True,
        )
        table.add_column("published", no_wrap=True)
        table.add_column("source")
        table.add_column("story", overflow="fold")
        for sample in report.samples:
            excerpt = "".join(
                f"[bold yellow]{escape(text)}[/]" if hit else escape(text)
                for text, hit in sample.excerpt.pieces
            )
            story = (
                f"[bold]{escape(sample.title or '(no title)')}[/]\n"
                f"[link={escape(sample.url)}]{escape(sample.url)}[/link]\n"
                f"matched: {escape(', '.join(sample.matched) or '(fields only)')}\n{excerpt}"
            )
            table.add_row(f"{sample.when:%Y-%m-%d %H:%M}", sample.source, story)
        out.print(table)
