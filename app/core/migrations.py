"""Run Alembic programmatically (service start-up, tests, CLI)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from app.core.db import make_engine

# The source tree holds alembic.ini and migrations/; an installed package (Docker) is told where they are.
ROOT = Path(os.environ.get("SBT_PROJECT_ROOT") or Path(__file__).resolve().parents[2])

MIGRATION_LOCK_KEY = 0x5B7_0001
"""PostgreSQL advisory lock key held while the schema is upgraded (any 64-bit number no other lock uses)."""


@dataclass(frozen=True)
class Upgrade:
    before: str | None
    """The revision found (None: an empty database)."""
    after: str | None

    @property
    def applied(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if self.applied:
            return f"database migrated from {self.before or 'empty'} to {self.after}"
        return f"database already at head {self.after}"


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(url: str) -> Upgrade:
    """Upgrade the schema; several processes may call it at once.

    PostgreSQL: the whole upgrade is one transaction that first takes a transaction-scoped advisory lock, so
    replicas starting together queue on it: the first migrates, the others then find the schema at head. The lock
    ends with the transaction (no session state, so this works through PgBouncer's transaction pooling too).
    SQLite is the embedded single-host database: Alembic runs as usual.
    """
    engine = make_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            with engine.connect() as connection:
                before = _revision(connection)
            command.upgrade(alembic_config(url), "head")
            with engine.connect() as connection:
                return Upgrade(before, _revision(connection))
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            before = _revision(connection)
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            return Upgrade(before, _revision(connection))
    finally:
        engine.dispose()
