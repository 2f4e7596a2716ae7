"""Reconciliation after the commit: a write leaves its case in the outbox, a worker round re-checks it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases.models import AgencyRecord
from app.reconciliation import outbox, repository
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload


def test_a_write_leaves_its_case_for_the_outbox_worker_and_the_lag_shows_until_it_runs(
    app: FastAPI, undrained_client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    headers = auth_headers("BAWASLU")
    created = undrained_client.post("/api/v1/cases", json=case_payload(), headers=headers)
    assert created.status_code == 201, created.text
    case_id = uuid.UUID(created.json()["id"])
    assert outbox.backlog(session).cases == 1
    assert not repository.findings_for_cases(session, [case_id], [])[case_id]  # nothing re-checked yet
    session.rollback()
    app.state.settings = app.state.settings.model_copy(update={"reconciliation_lag_degraded_seconds": 0.000001})
    ready = undrained_client.get("/ready").json()
    assert ready["status"] == "degraded", ready
    assert ready["reconciliation"]["backlog_cases"] == 1, ready

    assert outbox.drain(app.state.sessionmaker, app.state.settings).evaluated == 1
    session.rollback()
    assert outbox.backlog(session).cases == 0
    rules = {finding.rule for finding in repository.findings_for_cases(session, [case_id], [])[case_id]}
    assert "DEADLINE_EXCEEDED" in rules  # reported in January 2024: long past its deadline
    assert undrained_client.get("/ready").json() == {"status": "ready"}


def test_a_case_touched_by_several_waiting_writes_is_re_checked_once(
    app: FastAPI, undrained_client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    created = undrained_client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU"))
    assert created.status_code == 201, created.text
    case_id = uuid.UUID(created.json()["id"])
    for agency in ("BKN", "KEMENDAGRI"):
        record = {"notes": f"Dicatat oleh {agency}"}
        submitted = undrained_client.post(f"/api/v1/cases/{case_id}/records", json=record, headers=auth_headers(agency))
        assert submitted.status_code == 201, submitted.text
    other = undrained_client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU"))
    assert other.status_code == 201, other.text
    assert outbox.backlog(session).cases == 2
    session.rollback()

    one_at_a_time = app.state.settings.model_copy(update={"reconciliation_batch_size": 1})
    first = outbox.run_round(app.state.sessionmaker, one_at_a_time)
    assert first is not None
    assert first.cases == 1
    assert outbox.backlog(session).cases == 1, "the case's three outbox rows went with its one re-check"
    session.rollback()
    assert outbox.drain(app.state.sessionmaker, one_at_a_time).evaluated == 1  # the other case, and nothing more
    assert outbox.backlog(session).cases == 0
    fingerprints = session.scalars(select(AgencyRecord.fingerprint).where(AgencyRecord.case_id == case_id)).all()
    assert len(fingerprints) == 3
    assert None not in fingerprints, "the one re-check compared all three records"


def test_a_drain_ends_with_the_round_that_read_fewer_rows_than_a_round_takes(
    app: FastAPI,
    undrained_client: TestClient,
    auth_headers: AuthHeaders,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = undrained_client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU"))
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    for agency in ("BKN", "KEMENDAGRI"):
        submitted = undrained_client.post(f"/api/v1/cases/{case_id}/records", json={}, headers=auth_headers(agency))
        assert submitted.status_code == 201, submitted.text
    later = undrained_client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU"))
    assert later.status_code == 201, later.text
    session.rollback()
    rounds: list[outbox.Round | None] = []
    original_round = outbox.run_round

    def counted(*args: Any, **kwargs: Any) -> outbox.Round | None:
        rounds.append(done := original_round(*args, **kwargs))
        return done

    monkeypatch.setattr(outbox, "run_round", counted)
    three_rows = app.state.settings.model_copy(update={"reconciliation_batch_size": 3})

    assert outbox.drain(app.state.sessionmaker, three_rows).evaluated == 2

    # the first case's three rows fill the first round, which cannot know that nothing else waits; the second
    # round reads the other case's one row and ends the drain, without a third round that would find nothing
    assert [(done.cases, done.emptied) for done in rounds if done is not None] == [(1, False), (1, True)]
    assert len(rounds) == 2
    assert outbox.backlog(session).cases == 0
