"""What a fresh start needs before serving: schema at head, then each domain's first-start preparation."""

from __future__ import annotations

import logging

from app.auth.registry import ensure_demo_clients
from app.auth.runtime import load_issuer
from app.core.config import Settings
from app.core.migrations import Upgrade, upgrade_to_head
from app.ledger.service import signer_for

logger = logging.getLogger("sbt.bootstrap")


def prepare(settings: Settings) -> Upgrade:
    """Idempotent: safe to run on every start, by several replicas at once (the upgrade takes a lock)."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade = upgrade_to_head(settings.sqlalchemy_url)
    logger.info("%s: %s", upgrade.describe(), settings.sqlalchemy_url.split("@")[-1])
    ensure_demo_clients(settings)
    # The signing keys exist from the first start, in the key directory every replica shares.
    signer = signer_for(settings)
    logger.info("ledger checkpoints signed by %s (%s)", signer.name, settings.ledger_key_path)
    if settings.auth_embedded_issuer:
        logger.info("embedded issuer signs tokens with key %s", load_issuer(settings).key.kid)
    return upgrade
