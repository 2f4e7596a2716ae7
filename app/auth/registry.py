"""Registry changes outside HTTP requests (command line, first start): own engine, one transaction each."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from app.auth import repository, service
from app.core.actor import Agency, Role
from app.core.config import Environment, Settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.ledger import sequencer

DEMO_CLIENTS_FILE = "demo-clients.json"
DEMO_PREFIX = "demo-"

logger = logging.getLogger("sbt.auth")


@contextlib.contextmanager
def registry_session(settings: Settings) -> Iterator[Session]:
    """A session committed when the block succeeds (command line and first start); its ledger changes are in the
    log when the block returns."""
    engine = make_engine(settings.sqlalchemy_url)
    try:
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            yield session
            recorded = sequencer.recorded_in(session)
        sequencer.wait_for_all(factory, settings, recorded)
    finally:
        engine.dispose()


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)


def ensure_demo_clients(settings: Settings) -> Path | None:
    """Development only, first start only: one client per agency, an auditor and an admin.

    Their secrets are written to ``<data_dir>/demo-clients.json`` (mode 0600); returns that path when created.
    """
    if settings.environment is not Environment.DEVELOPMENT or not settings.auth_embedded_issuer:
        return None
    path = settings.data_dir / DEMO_CLIENTS_FILE
    with registry_session(settings) as session:
        if repository.any_client_with_prefix(session, DEMO_PREFIX):
            return None
        ctx = service.operator_context("demo-clients", {})
        identities: list[tuple[Role, Agency | None]] = [(Role.AGENCY, agency) for agency in Agency]
        identities += [(Role.AUDITOR, None), (Role.ADMIN, None)]
        clients = []
        for role, agency in identities:
            label = agency.value if agency else role.value
            credentials = service.create_client(
                session,
                settings,
                ctx,
                name=f"Demo {label} system",
                role=role,
                agency=agency,
                client_id=f"{DEMO_PREFIX}{label.lower()}",
            )
            clients.append(
                {
                    "client_id": credentials.client.client_id,
                    "client_secret": credentials.client_secret,
                    "role": role.value,
                    "agency": agency.value if agency else None,
                    "scope": credentials.client.allowed_scopes,
                }
            )
        document = {"token_endpoint": settings.auth_issuer.rstrip("/") + "/oauth/token", "clients": clients}
        # Written inside the transaction: if the file cannot be written, no client is created.
        _write_private(path, json.dumps(document, indent=2) + "\n")
    logger.warning("demo OAuth clients created; credentials in %s", path.resolve())
    return path
