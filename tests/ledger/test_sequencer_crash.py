"""Crashes around the sequencer: no acknowledged write is ever missing, and pending writes are integrated on
restart exactly once (decision 0028). Killing is SIGKILL: no cleanup, no rollback by the process itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cases.models import Case
from app.core.config import Settings
from app.core.db import transaction
from app.ledger import repository, sequencer, service
from app.ledger.merkle import MemoryTree, leaf_hash
from app.ledger.models import LedgerEntry, LedgerPending
from app.ledger.schemas import LedgerChange
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload
from tests.ledger.factories import write_context
from tests.servers import free_port, wait_until_ready

REPO_ROOT = Path(__file__).resolve().parents[2]


def _environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SBT_DATABASE_URL": settings.sqlalchemy_url,
        "SBT_DATA_DIR": str(settings.data_dir),
        "SBT_ENVIRONMENT": settings.environment.value,
        "SBT_SECRET_KEY": settings.secret_key,
        "SBT_LOG_LEVEL": "WARNING",
    }


def _log(session: Session) -> list[LedgerEntry]:
    session.rollback()  # a fresh read: see what the other processes committed
    return list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))


def _assert_one_gap_free_tree(session: Session, entries: list[LedgerEntry]) -> None:
    assert [e.seq for e in entries] == list(range(len(entries))), "gap or duplicate in the sequence"
    assert service.root_hash(session, len(entries)) == MemoryTree(leaf_hash(e.leaf_data) for e in entries).root()
    assert session.scalar(select(func.count()).select_from(LedgerPending)) == 0, "a pending write was left"


@pytest.mark.real_commits  # a second process integrates
def test_an_integrator_killed_mid_batch_loses_nothing_and_the_next_round_integrates_the_batch_once(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    factory = app.state.sessionmaker
    written = []
    for number in range(7):
        with transaction(factory) as writing:
            change = LedgerChange("case.created", {"number": number})
            written.append(sequencer.record_changes(writing, settings, write_context(), [change]))

    integrator = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.integrator_process"],
        cwd=REPO_ROOT,
        env=_environment(settings),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert integrator.stdout is not None
        assert integrator.stdout.readline().strip() == "mid-batch 7"
        os.kill(integrator.pid, signal.SIGKILL)
    finally:
        integrator.wait(timeout=30)
    assert _log(session) == [], "the killed round committed nothing"

    restarted = sequencer.Sequencer(factory, settings)  # a new process's sequencer: nothing in memory
    receipts = [restarted.receipt(pending) for pending in written if pending is not None]
    entries = _log(session)
    assert [r.entries[0].seq for r in receipts] == list(range(7)), "arrival order, each write once"
    assert [json.loads(e.leaf_data)["payload"]["number"] for e in entries] == list(range(7))
    _assert_one_gap_free_tree(session, entries)


def _restart_rounds(restarted: sequencer.Sequencer) -> None:
    """The restart's rounds until nothing is pending: the killed server's backend may hold the round's lock until
    PostgreSQL notices the dead connection, and a round that finds the lock taken does nothing."""
    deadline = time.monotonic() + 30
    while True:
        restarted.drain()
        with transaction(restarted.factory) as reader:
            if not repository.pending_count(reader) or time.monotonic() > deadline:
                return
        time.sleep(0.05)


@pytest.mark.real_commits  # a uvicorn process shares the database
@pytest.mark.slow
def test_a_server_killed_under_load_keeps_every_acknowledged_write_and_its_pending_writes_follow_on_restart(
    app: FastAPI, session: Session, settings: Settings, auth_headers: AuthHeaders
) -> None:
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "uvicorn", "app.asgi:app", "--port", str(port), "--log-level", "warning"],
        cwd=REPO_ROOT,
        env=_environment(settings),
    )
    url = f"http://127.0.0.1:{port}"
    headers = auth_headers("BAWASLU")
    acknowledged: list[str] = []

    def writer(_: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while True:
                try:
                    response = http.post("/api/v1/cases", json=case_payload(), headers=headers)
                except httpx.TransportError:
                    return  # the server died under this request: not acknowledged
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["id"])

    try:
        wait_until_ready(url, server, time.monotonic() + 60)
        with ThreadPoolExecutor(max_workers=8) as pool:
            writers = [pool.submit(writer, number) for number in range(8)]
            deadline = time.monotonic() + 60
            while len(acknowledged) < 40 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(server.pid, signal.SIGKILL)
            for finished in writers:
                finished.result()
    finally:
        server.kill()
        server.wait(timeout=30)
    assert len(acknowledged) >= 40

    _restart_rounds(sequencer.Sequencer(app.state.sessionmaker, settings))
    entries = _log(session)
    created = {str(e.case_id) for e in entries if e.entry_type == "case.created"}
    assert set(acknowledged) <= created, "an acknowledged write is missing from the log"
    cases = {str(case_id) for case_id in session.scalars(select(Case.id))}
    assert cases == created, "every committed case is in the log once its pending write is integrated"
    _assert_one_gap_free_tree(session, entries)
