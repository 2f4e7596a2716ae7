"""A write and its ledger entry commit together or not at all."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.cases.models import Case
from app.ledger import repository, sequencer
from app.ledger.models import LedgerEntry
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload, create_case


def _counts(session: Session) -> tuple[int, int]:
    cases = session.scalar(select(func.count()).select_from(Case)) or 0
    entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    session.rollback()  # end the read transaction: on SQLite it holds the write lock (BEGIN IMMEDIATE)
    return cases, entries


def test_every_successful_write_has_exactly_its_entry(
    client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    _, entries = _counts(session)
    recorded = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)).all()
    assert recorded[0].entry_type == "case.created"
    assert {str(e.case_id) for e in recorded} == {case["id"]}, "every entry of this write concerns its case"
    assert len(recorded) == entries


def test_rejected_input_leaves_neither_change_nor_entry(
    client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    create_case(client, auth_headers("BAWASLU"))
    before = _counts(session)
    invalid = client.post("/api/v1/cases", json=case_payload(nip="123"), headers=auth_headers("BAWASLU"))
    assert invalid.status_code == 422
    assert _counts(session) == before


def test_conflicting_write_leaves_neither_change_nor_entry(
    client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    before = _counts(session)
    stale: dict[str, Any] = {"If-Match": f'"{case["version"] + 7}"'}
    response = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "verify"},
        headers=auth_headers("BAWASLU") | stale,
    )
    assert response.status_code in (409, 412), response.text
    illegal = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "impose_sanction"},
        headers=auth_headers("BAWASLU") | {"If-Match": f'"{case["version"]}"'},
    )
    assert illegal.status_code in (409, 422), illegal.text
    assert _counts(session) == before


def test_database_error_while_recording_the_pending_entry_rolls_back_the_change(
    app: FastAPI, auth_headers: AuthHeaders, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = auth_headers("BAWASLU")
    with TestClient(app, raise_server_exceptions=False) as client:
        create_case(client, headers)
        before = _counts(session)

        def failing_insert(*_args: object) -> int:
            raise OperationalError("INSERT INTO ledger_pending", {}, Exception("connection lost"))

        monkeypatch.setattr(repository, "insert_pending", failing_insert)
        response = client.post("/api/v1/cases", json=case_payload(), headers=headers)
    assert response.status_code >= 500
    assert response.headers["content-type"] == "application/problem+json"
    assert _counts(session) == before


def test_a_failed_sequencer_round_leaves_the_write_pending_and_the_next_round_integrates_it(
    app: FastAPI, auth_headers: AuthHeaders, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = auth_headers("BAWASLU")
    app.state.settings.ledger_sequence_timeout_seconds = 1  # when an integrator thread keeps failing
    with TestClient(app, raise_server_exceptions=False) as client:
        create_case(client, headers)
        cases_before, entries_before = _counts(session)
        real_last_leaf = repository.last_leaf

        def failing_read(_session: Session) -> tuple[int, bytes]:
            raise OperationalError("SELECT seq, leaf_hash FROM ledger_entry", {}, Exception("connection lost"))

        monkeypatch.setattr(repository, "last_leaf", failing_read)
        payload = case_payload()
        refused = client.post("/api/v1/cases", json=payload, headers=headers | {"Idempotency-Key": "k-1"})
        assert refused.status_code >= 500, "not acknowledged: its entry has no position yet"
        assert _counts(session) == (cases_before + 1, entries_before), "the case is committed, its entry pending"

        monkeypatch.setattr(repository, "last_leaf", real_last_leaf)
        sequencer.sequencer_for(app.state.sessionmaker, app.state.settings).drain()  # the next round
        retried = client.post("/api/v1/cases", json=payload, headers=headers | {"Idempotency-Key": "k-1"})
    assert retried.status_code == 201, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true"
    entries = retried.json()["receipt"]["entries"]
    assert retried.headers["Ledger-Seq"] == ", ".join(str(entry["seq"]) for entry in entries)
    assert _counts(session) == (cases_before + 1, entries_before + len(entries))
    recorded = session.get_one(LedgerEntry, entries[0]["seq"])
    assert (recorded.entry_type, str(recorded.case_id)) == ("case.created", retried.json()["id"])
