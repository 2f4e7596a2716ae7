"""Several server processes appending at once still produce one gap-free log and one tree (PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.ledger import service
from app.ledger.merkle import MemoryTree, leaf_hash
from app.ledger.models import LedgerEntry
from app.ledger.note import open_checkpoint
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload
from tests.servers import sbt_servers

SERVERS = 2
WRITERS_PER_SERVER = 16
WRITES_PER_WRITER = 3
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def servers(settings: Settings) -> Iterator[list[str]]:
    """``sbt serve`` processes serving the test database, sharing one data directory (keys)."""
    env = {
        **os.environ,
        "SBT_DATABASE_URL": settings.database_url,
        "SBT_DATA_DIR": str(settings.data_dir),
        "SBT_ENVIRONMENT": settings.environment.value,
        "SBT_SECRET_KEY": settings.secret_key,
        "SBT_LOG_LEVEL": "WARNING",
    }
    with sbt_servers(env, REPO_ROOT, SERVERS) as urls:
        yield urls


@pytest.mark.real_commits  # server processes share the database
@pytest.mark.postgres_only
@pytest.mark.slow
def test_concurrent_writers_on_several_servers_make_one_gap_free_tree(
    servers: list[str], app: FastAPI, session: Session, auth_headers: AuthHeaders, settings: Settings
) -> None:
    agencies = ["BAWASLU", "BKN"]
    headers = {agency: auth_headers(agency) for agency in agencies}

    def writer(number: int) -> list[str]:
        url = servers[number % SERVERS]
        agency = agencies[number % len(agencies)]
        created: list[str] = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for _ in range(WRITES_PER_WRITER):
                response = http.post("/api/v1/cases", json=case_payload(), headers=headers[agency])
                assert response.status_code == 201, response.text
                created.append(response.json()["id"])
        return created

    with ThreadPoolExecutor(max_workers=SERVERS * WRITERS_PER_SERVER) as pool:
        acknowledged = [case for batch in pool.map(writer, range(SERVERS * WRITERS_PER_SERVER)) for case in batch]

    entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
    assert [e.seq for e in entries] == list(range(len(entries))), "gap or duplicate in the sequence"
    recorded_cases = {str(e.case_id) for e in entries if e.entry_type == "case.created"}
    assert set(acknowledged) <= recorded_cases, "an acknowledged write has no ledger entry"
    assert len(acknowledged) == SERVERS * WRITERS_PER_SERVER * WRITES_PER_WRITER

    tree = MemoryTree(leaf_hash(e.leaf_data) for e in entries)
    assert service.root_hash(session, len(entries)) == tree.root()
    checkpoint = service.current_checkpoint(session, settings, fresh=True)
    session.commit()
    opened = open_checkpoint(checkpoint.note, service.signer_for(settings).verifier())
    assert (opened.tree_size, opened.root_hash) == (len(entries), tree.root())
