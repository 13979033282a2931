"""`newsmon demo`: serve the bundled sample site on 127.0.0.1, ingest it twice, and report."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

HERE = Path(__file__).parent
SITE = HERE / "site"
CONFIG_TEMPLATES = HERE / "config"

if TYPE_CHECKING:
    from newsmon.config.models import Config


def write_demo_config(target: Path, replacements: dict[str, str]) -> Path:
    """Copy the demo config templates into `target` with placeholders filled in."""
    target.mkdir(parents=True, exist_ok=True)
    for template in sorted(CONFIG_TEMPLATES.glob("*.yaml")):
        text = template.read_text(encoding="utf-8")
        for placeholder, value in replacements.items():
            text = text.replace(placeholder, value)
        (target / template.name).write_text(text, encoding="utf-8")
    return target


def run_demo(
    out: Console,
    err: Console,
    *,
    ingest: Callable[[Config], dict[str, Any]],
    show: Callable[[dict[str, Any], Console], None],
    keep: Path | None = None,
) -> dict[str, Any]:
    """Run the demo end to end; returns the figures it printed (for tests).

    `ingest` runs one forced ingest and `show` prints its summary: the command line passes its
    own, so the demo uses exactly what `newsmon ingest` does without importing the command line.
    """
    from sqlalchemy.orm import Session

    from newsmon.app.demo.server import AlertReceiver, StaticSite
    from newsmon.config.loading import load_config
    from newsmon.store.archive import iter_alerts
    from newsmon.store.db import make_engine, upgrade
    from newsmon.store.reports import archive_report
    from newsmon.store.stories import iter_stories

    workdir = keep or Path(tempfile.mkdtemp(prefix="newsmon-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    saved_env = {
        k: os.environ.get(k)
        for k in ("NEWSMON_DATABASE_URL", "NEWSMON_ALLOW_PRIVATE_HOSTS", "NEWSMON_HOST_RPS")
    }
    os.environ["NEWSMON_DATABASE_URL"] = f"sqlite:///{database}"
    # The demo site is on loopback, which the SSRF guard refuses by default.
    os.environ["NEWSMON_ALLOW_PRIVATE_HOSTS"] = "true"
    # One local server stands in for five outlets: the polite 1 request/s per host would make the
    # demo wait ~45 s for nothing.
    os.environ["NEWSMON_HOST_RPS"] = "50"
    try:
        with StaticSite(SITE) as site, AlertReceiver() as receiver:
            err.print(f"sample news site on {site.base_url}, alert receiver on {receiver.base_url}")
            config_dir = write_demo_config(
                workdir / "config",
                {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
            )
            config = load_config(config_dir)
            engine = make_engine(os.environ["NEWSMON_DATABASE_URL"])
            upgrade(engine)

            first = ingest(config)
            out.rule("first pass")
            show(first, out)
            second = ingest(config)
            out.rule("second pass (nothing changed: nothing new may be stored or alerted)")
            show(second, out)

            with Session(engine) as session:
                report = archive_report(session)
                alerts = list(iter_alerts(session))
                report["story_groups"] = [
                    s for s in iter_stories(session) if len(s["articles"]) > 1
                ]
            engine.dispose()
            _print_report(out, report, alerts, receiver.received)
            figures = {
                "first": first,
                "second": second,
                "report": report,
                "alerts": alerts,
                "received": list(receiver.received),
            }
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            _keep_settings(workdir)
    out.rule("next")
    for line in next_steps(keep):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    return figures


def _keep_settings(workdir: Path) -> None:
    """A .env beside the kept database and config, so that newsmon's commands run there use them."""
    dotenv = workdir / ".env"
    if not dotenv.exists():
        dotenv.write_text(
            "# Written by `newsmon demo --keep`: commands run in this folder use the demo's data.\n"
            "NEWSMON_DATABASE_URL=sqlite:///demo.db\nNEWSMON_CONFIG_DIR=config\n",
            encoding="utf-8",
        )


def next_steps(keep: Path | None) -> list[str]:
    """What to do after the demo."""
    if keep is None:
        explore = [
            "The demo's database is gone. To keep it and try the everyday commands on it:",
            "  newsmon demo --keep demo && cd demo",
        ]
    else:
        explore = [f"The demo's database and config are kept in {keep}. Try the commands there:"]
        explore.append(f"  cd {keep}")
    return [
        *explore,
        "  newsmon sources                                   # each source's health",
        "  newsmon rules test 'Daesh AND Anbar' --since 2026-11-01   # a query on the archive",
        "  newsmon export clusters                           # stories on 2+ outlets",
        "Your own beat: newsmon init DIR (a config and .env to edit; README: First real setup).",
    ]


def _print_report(
    out: Console,
    report: dict[str, Any],
    alerts: list[dict[str, Any]],
    received: list[dict[str, Any]],
) -> None:
    out.rule("what is stored")
    sources = Table(title="articles by source", title_justify="left")
    sources.add_column("source")
    sources.add_column("articles", justify="right")
    sources.add_column("of which duplicates", justify="right")
    for row in report["sources"]:
        sources.add_row(row["source"], str(row["articles"]), str(row["duplicates"]))
    out.print(sources)

    topics = Table(title="topics", title_justify="left")
    topics.add_column("topic")
    topics.add_column("articles", justify="right")
    for row in report["topics"]:
        topics.add_row(row["topic"], str(row["articles"]))
    out.print(topics)

    stories = Table(
        title="stories carried by several outlets (duplicates folded)", title_justify="left"
    )
    stories.add_column("story")
    stories.add_column("copies", justify="right")
    stories.add_column("outlets")
    for row in report["stories"]:
        stories.add_row(row["title"] or "?", str(row["articles"]), ", ".join(row["outlets"]))
    out.print(stories)

    grouped = Table(
        title="stories across outlets, days and languages (docs/STORIES.md)", title_justify="left"
    )
    for column in ("story", "articles", "languages", "first seen", "last seen"):
        grouped.add_column(column, overflow="fold")
    for row in report.get("story_groups", ()):
        grouped.add_row(
            row["headline"] or "?",
            str(len(row["articles"])),
            ", ".join(row["languages"]),
            row["first_seen"][:16].replace("T", " "),
            row["last_seen"][:16].replace("T", " "),
        )
    out.print(grouped)

    table = Table(title="alerts", title_justify="left")
    for column in ("rule", "article", "matched", "delivered"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        table.add_row(
            alert["rule"],
            alert["title"] or alert["article_url"],
            ", ".join(alert["matched"]),
            (alert["delivered_at"] or "")[:19].replace("T", " ")
            or f"no ({alert['attempts']} attempts)",
        )
    out.print(table)
    out.print(f"the local alert receiver got {len(received)} message(s)")
    if received:
        first = received[0]
        out.print(f"first message: [bold]{escape(str(first.get('title', '')))}[/]", highlight=False)
        out.print(str(first.get("message", "")), highlight=False, markup=False)
