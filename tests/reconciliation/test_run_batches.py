"""A full run's concurrency: its screen beside the other selections and their batches, and (PostgreSQL) several
batches at once.

Each works only on a factory of its own engine (``real_commits``): a factory bound to one connection (the rolled-
back tests) keeps the run to one thread.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.cases.models import AgencyRecord
from app.core.db import transaction
from app.reconciliation import repository, runner
from app.reconciliation.models import ACTIVE_STATES, Finding, Run, RunMode, RunStatus
from app.reconciliation.runner import create_run, execute_run
from app.reconciliation.service import evaluate_cases, refresh_cases, ruleset_of
from tests.reconciliation.builders import AS_OF, insert_case, insert_record

pytestmark = pytest.mark.real_commits  # the run's threads take connections of their own

CASES = 9
BATCH = 2


@pytest.fixture
def disagreeing_cases(app: FastAPI) -> list[uuid.UUID]:
    """Cases whose BKN record names the ASN otherwise: each has a finding for the run to open."""
    with transaction(app.state.sessionmaker) as session:
        cases = [insert_case(session, nip=f"198005172005031{n + 2:03d}") for n in range(CASES)]
        for case in cases:
            insert_record(session, case, "BAWASLU")
            insert_record(session, case, "BKN", name="Budi Susanto")
        return [case.id for case in cases]


def _run(app: FastAPI) -> Run:
    with transaction(app.state.sessionmaker) as session:
        run_id = create_run(session, "test", RunMode.FULL, AS_OF, None, use_screen=True).id
    return execute_run(app.state.sessionmaker, app.state.settings, run_id)


def _threads_of(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[str]:
    """The names of the threads that call ``module.name`` from now on."""
    seen: list[str] = []
    function = getattr(module, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return function(*args, **kwargs)

    monkeypatch.setattr(module, name, recorded)
    return seen


def test_batches_on_several_connections_find_what_the_rules_find(
    app: FastAPI, disagreeing_cases: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.state.settings
    monkeypatch.setattr(settings, "reconciliation_batch_size", BATCH)
    monkeypatch.setattr(settings, "reconciliation_batch_workers", 3)
    batches = _threads_of(monkeypatch, runner, "refresh_cases")
    screens = _threads_of(monkeypatch, repository, "screened_case_ids")

    run = _run(app)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.stats["evaluated_cases"] == CASES
    assert run.stats["produced_by_rule"] == {"NAME_MISMATCH": CASES}
    assert len(batches) == -(-CASES // BATCH)
    postgresql = app.state.engine.dialect.name == "postgresql"
    on_threads = {name for name in batches if name.startswith("sbt-reconciliation-batch")}
    assert len(on_threads) > 1 if postgresql else not on_threads  # SQLite: one writer, one batch at a time
    assert screens
    assert all(name.startswith("sbt-reconciliation-screen") for name in screens)
    with app.state.sessionmaker() as session:
        active = set(
            session.scalars(
                select(Finding.finding_key).where(
                    Finding.case_id.in_(disagreeing_cases), Finding.state.in_(ACTIVE_STATES)
                )
            )
        )
        evaluations = evaluate_cases(session, disagreeing_cases, AS_OF, ruleset_of(settings))
    assert active == {key for evaluation in evaluations for key in evaluation.drafts}
    steady = _run(app).stats  # it re-sees every finding, also from several batches at once
    assert (steady["evaluated_cases"], steady["opened"], steady["unchanged"]) == (CASES, 0, CASES)


def test_a_failing_batch_fails_the_run_and_counts_only_the_batches_that_finished(
    app: FastAPI, disagreeing_cases: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    del disagreeing_cases
    settings = app.state.settings
    monkeypatch.setattr(settings, "reconciliation_batch_size", BATCH)
    monkeypatch.setattr(settings, "reconciliation_batch_workers", 2)
    finished: list[int] = []
    calls = iter(range(CASES))

    def third_fails(session: Any, ctx: Any, case_ids: Collection[uuid.UUID], *args: Any, **kwargs: Any) -> Any:
        if next(calls) == 2:
            raise RuntimeError("batch lost its connection")
        outcome = refresh_cases(session, ctx, case_ids, *args, **kwargs)
        finished.append(len(case_ids))
        return outcome

    monkeypatch.setattr(runner, "refresh_cases", third_fails)

    run = _run(app)

    assert run.status == RunStatus.FAILED
    assert run.error == "RuntimeError: batch lost its connection"
    assert run.stats["evaluated_cases"] == sum(finished)
    assert 2 * BATCH <= sum(finished) < CASES  # the batches before it; none begun after it was seen


def test_the_watched_cases_are_rechecked_while_the_screen_runs_and_the_screen_adds_only_its_own(
    app: FastAPI, disagreeing_cases: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.state.settings
    monkeypatch.setattr(settings, "reconciliation_batch_size", BATCH)
    with transaction(app.state.sessionmaker) as session:
        agreeing = insert_case(session, nip="198005172005031999")
        insert_record(session, agreeing, "BAWASLU")
        bkn_record = insert_record(session, agreeing, "BKN").id
    first = _run(app).stats  # no case has a state yet: all are re-checked beside the screen
    assert first["evaluated_beside_the_screen"] == first["flagged_not_normalized"] == CASES + 1
    with transaction(app.state.sessionmaker) as session:  # a stored fingerprint that only the screen sees
        session.execute(update(AgencyRecord).where(AgencyRecord.id == bkn_record).values(fingerprint=1))
    batch_began = threading.Event()
    screen_saw_a_batch: list[bool] = []
    screen = repository.screened_case_ids

    def slow_screen(session: Any) -> set[uuid.UUID]:
        screen_saw_a_batch.append(batch_began.wait(timeout=30))  # it ends only once a batch has begun
        return screen(session)

    def marked_refresh(*args: Any, **kwargs: Any) -> Any:
        batch_began.set()
        return refresh_cases(*args, **kwargs)

    monkeypatch.setattr(repository, "screened_case_ids", slow_screen)
    monkeypatch.setattr(runner, "refresh_cases", marked_refresh)

    steady = _run(app)

    assert steady.status == RunStatus.SUCCEEDED, steady.error
    assert screen_saw_a_batch == [True]
    assert steady.stats["evaluated_beside_the_screen"] == steady.stats["flagged_watched_findings"] == CASES
    assert steady.stats["flagged_fingerprint_screen"] == CASES + 1
    assert (steady.stats["evaluated_cases"], steady.stats["selected_cases"]) == (CASES + 1, CASES + 1)
    assert (steady.stats["opened"], steady.stats["unchanged"]) == (0, CASES)
    with app.state.sessionmaker() as session:  # the screen's own case was re-checked: its fingerprint is mended
        assert session.scalar(select(AgencyRecord.fingerprint).where(AgencyRecord.id == bkn_record)) != 1
