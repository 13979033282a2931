"""Alembic environment: SQLModel.metadata, and the URL from settings unless a connection is given."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import newsmon.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from newsmon.settings import Settings
from newsmon.store.db import make_engine

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url") or Settings().database_url
    with make_engine(url).begin() as new_connection:
        _run(new_connection)
