"""The migrations form one line: one head, so every new migration has one parent to name."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

import newsmon.store.migrations


def test_migrations_have_exactly_one_head() -> None:
    folder = Path(newsmon.store.migrations.__file__).parent
    config = Config()
    config.set_main_option("script_location", str(folder))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migration heads: {sorted(heads)} (add a merge migration)"


def test_the_heads_read_without_alembic_are_alembics() -> None:
    # `upgrade` skips Alembic when the database is at these heads: a wrong answer would leave a
    # database un-migrated (or run the upgrade command at every start).
    from newsmon.store.db import migration_heads

    folder = Path(newsmon.store.migrations.__file__).parent
    config = Config()
    config.set_main_option("script_location", str(folder))
    assert migration_heads() == ",".join(sorted(ScriptDirectory.from_config(config).get_heads()))
