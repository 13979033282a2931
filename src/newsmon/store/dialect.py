"""Plumbing shared by the store's modules: the engine's upsert, IN-list chunks, clean values.

Both engines (SQLite and PostgreSQL) accept `INSERT ... ON CONFLICT`, but SQLAlchemy builds it
per dialect: `insert` picks the right one for the session, and `insert_on_conflict` is the same
statement as cached text for the hot paths. Values read back through aggregates
bypass the column types, so `as_utc` makes them aware UTC again; `iso` writes a time as exports
and reports show it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# Keeps IN (...) lists well under every engine's bound-parameter limit.
CHUNK = 500

T = TypeVar("T")


def insert(session: Session, table: Any) -> Any:
    """An INSERT of `table` in the session's dialect, so `.on_conflict_do_*` is available."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_on_conflict(table: sa.Table, columns: Sequence[str], conflict: str) -> sa.TextClause:
    """`INSERT INTO table (columns) VALUES (:columns) ON CONFLICT <conflict>` as text, its bind
    parameters typed as the table types its columns (timestamps and JSON written exactly as the
    ORM writes them).

    For statements run once per article: SQLAlchemy 2.0 compiles the dialects' ON CONFLICT
    constructs (`insert`) afresh on every execution, ~1 ms each; text is compiled once and
    cached by the caller. SQLite (3.35+) and PostgreSQL accept the same text.
    """
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    return sa.text(
        f"INSERT INTO {table.name} ({names}) VALUES ({values}) ON CONFLICT {conflict}"
    ).bindparams(*(sa.bindparam(name, type_=table.c[name].type) for name in columns))


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sqlite_driver(connection: sa.Connection) -> Any:
    """The SQLite driver's own connection under `connection`, in its transaction: for the store's
    hot statements, where SQLAlchemy's statement and result path cost as much as SQLite's work."""
    driver = connection.connection.driver_connection
    assert driver is not None  # a checked-out connection
    return driver


def no_nul(values: dict[str, Any]) -> dict[str, Any]:
    """The values with NUL characters removed from strings: PostgreSQL refuses them in text, and
    a hostile feed or page must not fail the transaction that carries everyone else's articles."""
    return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in values.items()}


def as_utc(value: datetime | str) -> datetime:
    """An aggregate's datetime as aware UTC.

    Aggregates (min/max) bypass the column type: SQLite returns naive UTC or text, PostgreSQL an
    aware datetime.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """A time as export records write it (ISO 8601, `Z` for UTC); None stays None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
