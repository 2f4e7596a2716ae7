"""What a fresh start needs before serving: schema at head, then each domain's first-start preparation."""

from __future__ import annotations

import logging

from app.auth.registry import ensure_demo_clients
from app.core.config import Settings
from app.core.migrations import upgrade_to_head
from app.ledger.service import signer_for

logger = logging.getLogger("sbt.bootstrap")


def prepare(settings: Settings) -> None:
    """Idempotent: safe to run on every start."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(settings.sqlalchemy_url)
    logger.info("database at head: %s", settings.sqlalchemy_url.split("@")[-1])
    ensure_demo_clients(settings)
    signer = signer_for(settings)  # the ledger's checkpoint key exists from the first start
    logger.info("ledger checkpoints signed by %s", signer.name)
