"""Reconciliation after the commit: a write leaves its case in the outbox, a worker round re-checks it."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

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
