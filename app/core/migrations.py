"""Run Alembic programmatically (service start-up, tests, CLI)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

# The source tree holds alembic.ini and migrations/; an installed package (Docker) is told where they are.
ROOT = Path(os.environ.get("SBT_PROJECT_ROOT") or Path(__file__).resolve().parents[2])


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(url: str) -> None:
    command.upgrade(alembic_config(url), "head")
