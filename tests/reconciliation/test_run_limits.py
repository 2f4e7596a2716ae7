"""Bounded expensive work: one FULL run per database at a time, and a few concurrent exports per client."""

from __future__ import annotations

import datetime as dt
import gc
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.export_limit import ExportGate, ExportLimiter
from app.core.db import transaction, utcnow
from app.core.problems import TooManyRequests
from app.reconciliation.models import Run, RunMode, RunStatus
from app.reconciliation.runner import FullRunActive, create_run
from tests.auth_helpers import AuthHeaders

pytestmark = pytest.mark.slow  # a hardening suite: run by ./test and CI; ./test --fast leaves it out

RUNS = "/api/v1/reconciliation/runs"


def _active_full_run(app: FastAPI, status: RunStatus, *, began_ago: dt.timedelta = dt.timedelta()) -> uuid.UUID:
    """A FULL run left QUEUED or RUNNING (as a worker still busy with it, or one that died, would leave it)."""
    with transaction(app.state.sessionmaker) as session:
        run = create_run(session, "test", RunMode.FULL, None, None, use_screen=True)
        run.status = status.value
        run.requested_at = utcnow() - began_ago
        run.started_at = run.requested_at if status is RunStatus.RUNNING else None
        return run.id


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING])
def test_a_second_full_run_is_409_naming_the_active_one(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, status: RunStatus
) -> None:
    active = _active_full_run(app, status)
    response = client.post(RUNS, json={"mode": "FULL"}, headers=auth_headers("BKN"))
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["running_run_id"] == str(active)
    assert problem["type"].endswith("/reconciliation-run-active")
    # Other modes are bounded by their own size and still start.
    assert client.post(RUNS, json={"mode": "DEADLINES"}, headers=auth_headers("BKN")).status_code == 202


def test_a_finished_or_crashed_full_run_does_not_block(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    assert client.post(RUNS, json={}, headers=auth_headers("BKN")).json()["status"] == "QUEUED"
    # The first run finished (the test client runs the background sweep before returning): the next one starts.
    assert client.post(RUNS, json={}, headers=auth_headers("BKN")).status_code == 202
    _active_full_run(app, RunStatus.RUNNING, began_ago=dt.timedelta(seconds=3601))  # its worker died
    _active_full_run(app, RunStatus.QUEUED, began_ago=dt.timedelta(hours=5))  # never picked up
    assert client.post(RUNS, json={"mode": "FULL"}, headers=auth_headers("BKN")).status_code == 202


@pytest.mark.real_commits  # two connections race for the same check-then-insert
def test_two_concurrent_full_runs_cannot_both_start(app: FastAPI) -> None:
    """The first transaction holds its new run uncommitted while the second checks: the second must wait and fail."""
    factory = app.state.sessionmaker
    first_inserted, outcome = threading.Event(), {}

    def first() -> None:
        with transaction(factory) as session:
            create_run(session, "first", RunMode.FULL, None, None, use_screen=True)
            first_inserted.set()
            time.sleep(0.5)  # the second request is checking now; without a lock it would see no active run

    def second() -> None:
        first_inserted.wait()
        try:
            with transaction(factory) as session:
                create_run(session, "second", RunMode.FULL, None, None, use_screen=True)
            outcome["second"] = "created"
        except FullRunActive as exc:
            outcome["second"] = exc.extra["running_run_id"]

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with factory() as session:
        runs = session.scalars(select(Run).where(Run.mode == RunMode.FULL.value)).all()
    assert [run.requested_by for run in runs] == ["first"]
    assert outcome["second"] == str(runs[0].id)


EXPORTS = [
    "/api/v1/audit/exports/cases.csv",
    "/api/v1/audit/exports/cases.ndjson",
    "/api/v1/audit/exports/cases.xlsx",
    "/api/v1/reconciliation/findings.csv",
    "/api/v1/ledger/export",
]


@pytest.mark.real_commits  # the ledger export keeps its read session open while its read audit commits
@pytest.mark.parametrize("path", EXPORTS)
def test_exports_beyond_the_per_client_limit_are_429(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, path: str
) -> None:
    limiter = export_limiter_of(app, client, auth_headers)
    assert limiter.limit == 2
    assert limiter.try_acquire("test-auditor")  # two exports running
    assert limiter.try_acquire("test-auditor")
    refused = client.get(path, headers=auth_headers("auditor"))
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["Retry-After"]) > 0
    # Another client has slots of its own (it may lack the scope, but is not refused for the count).
    assert client.get(path, headers=auth_headers("BKN")).status_code != 429
    limiter.release("test-auditor")  # one export finished
    assert client.get(path, headers=auth_headers("auditor")).status_code == 200
    assert limiter.open_streams("test-auditor") == 1  # the finished stream gave its slot back


def export_limiter_of(app: FastAPI, client: TestClient, auth_headers: AuthHeaders) -> ExportLimiter:
    """The app's limiter (made on first use): one export makes it."""
    assert client.get(EXPORTS[0], headers=auth_headers("auditor")).status_code == 200
    limiter: ExportLimiter = app.state.sbt_export_limiter
    assert limiter.open_streams("test-auditor") == 0
    return limiter


def test_a_slot_is_released_when_the_stream_fails_or_is_never_read() -> None:
    limiter = ExportLimiter(1)
    gate = ExportGate(limiter, "client")

    def failing() -> Iterator[str]:
        yield "first batch"
        raise RuntimeError("database gone")

    stream = gate.stream(failing())
    with pytest.raises(TooManyRequests):
        gate.stream(iter(["no slot left"]))
    with pytest.raises(RuntimeError):
        list(stream)
    assert limiter.open_streams("client") == 0

    unread = gate.stream(iter(["never sent"]))
    assert limiter.open_streams("client") == 1
    del unread
    gc.collect()
    assert limiter.open_streams("client") == 0
    list(gate.stream(iter(["a", "b"])))
    assert limiter.open_streams("client") == 0


def test_limiter_counts_each_client_under_concurrency() -> None:
    limiter = ExportLimiter(2)
    results: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        taken = limiter.try_acquire("client")
        with lock:
            results.append(taken)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 2
    assert limiter.try_acquire("other")
