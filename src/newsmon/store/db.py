"""Engine factory and migrations. Nothing connects at import time."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

# A writer on SQLite waits this long for another writer instead of failing at once.
SQLITE_BUSY_TIMEOUT_MS = 60_000


class DatabaseError(Exception):
    """The database cannot be used (unreachable, wrong URL, ...), with a message naming it."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and writers that wait (BEGIN IMMEDIATE)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # psycopg 3 is the driver we install; "postgresql://" would otherwise ask for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: a deferred transaction that upgrades to a writer can fail
        # with "database is locked" without waiting, whatever the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def describe(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid database URL>"


def check_connection(engine: Engine) -> None:
    """Raise DatabaseError with a clear message if the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise DatabaseError(
            f"cannot connect to database {describe(str(engine.url))}: {reason}"
        ) from err


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply the Alembic migrations up to `revision` (every branch head by default)."""
    # Nearly every run finds the schema current: the revisions are compared without Alembic
    # (importing it and loading the migrations cost ~0.4 s of every CLI start); running the
    # upgrade command to do nothing would cost ~0.5 s more (env.py, the models).
    if revision == "heads" and current_revision(engine) == migration_heads():
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The applied revision(s), comma-separated when independent branches are applied."""
    # Read as Alembic's MigrationContext reads it (no table: nothing applied), without importing
    # Alembic (~0.25 s).
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        heads = [str(row[0]) for row in rows]
    return ",".join(sorted(heads)) or None


def migration_heads() -> str:
    """The head revision(s) of the migrations, comma-separated, as Alembic's ScriptDirectory
    finds them: from each file's `revision` / `down_revision` assignments, read with `ast`."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        if path.name.startswith("_"):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
                target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
                name = target.id if isinstance(target, ast.Name) else None
                if name == "revision":
                    revisions.add(ast.literal_eval(node.value))
                elif name == "down_revision":
                    value = ast.literal_eval(node.value)
                    parents.update([value] if isinstance(value, str) else value or ())
    return ",".join(sorted(revisions - parents))
