"""Property: after any sequence of writes, each re-checked on write, a full run finds exactly the same findings.

Hypothesis draws writes to cases and to every agency's record from small pools of conflicting values (NIP
typos and collisions, name variants, categories, stages, sanctions, dates, deadlines, duplicates). After the
writes, three answers must agree: the findings kept incrementally, a full run through the SQL screen, and a
full run evaluating every case without the screen.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases.models import AgencyRecord, Case
from app.core.db import transaction
from app.reconciliation import outbox
from app.reconciliation.models import ACTIVE_STATES, Finding, RunMode, RunStatus
from app.reconciliation.runner import create_run, execute_run
from app.reconciliation.service import evaluate_cases, note_stages_reached, ruleset_of
from tests.reconciliation.builders import AS_OF, insert_case, insert_record

AGENCIES = ("BAWASLU", "KASN", "BKN", "KEMENDAGRI", "KEMENPANRB")
_examples = itertools.count()


def _nip_variants(base: str) -> list[str | None]:
    return [
        base,
        base,
        base[:16] + base[17] + base[16],
        base[:17] + "9",
        f"{base[:8]} {base[8:14]} {base[14]} {base[15:]}",
        "1.98E+17",
        None,
        "",
    ]


record_writes = st.fixed_dictionaries(
    {
        "nip": st.integers(0, 7),
        "name": st.sampled_from(["Budi Santoso", "Drs. BUDI  SANTOSO", "Budi Susanto", "Santoso Budi", None, "H."]),
        "violation_code": st.sampled_from(["D-6", "D-6", "D-2", "KE-4", None]),
        "stage": st.sampled_from(
            ["REKOMENDASI", "REKOMENDASI", "DITERUSKAN", "KAJIAN", "SANKSI_DIJATUHKAN", "Rekomendasi Terbit", None]
        ),
        "sanction": st.sampled_from(
            [
                (None, None),
                ("SEDANG_TUKIN_25_6", "RECOMMENDED"),
                ("LEGACY_PENUNDAAN_KGB", "RECOMMENDED"),
                ("RINGAN_TEGURAN_LISAN", "IMPOSED"),
                ("SEDANG_TUKIN_25_6", "IMPOSED"),
                (None, "IMPOSED"),
            ]
        ),
        "recommendation_date": st.sampled_from([None, dt.date(2024, 10, 1), dt.date(2024, 8, 1)]),
        "created_at": st.sampled_from(
            [dt.datetime(2024, 9, 4, 2, tzinfo=dt.UTC), dt.datetime(2024, 7, 1, tzinfo=dt.UTC)]
        ),
    }
)
case_writes = st.fixed_dictionaries(
    {
        "stage": st.sampled_from(["REKOMENDASI", "SANKSI_DIJATUHKAN", "DIBATALKAN", "PPK_DISANKSI", "DITERIMA"]),
        "deadline_date": st.sampled_from([None, dt.date(2024, 10, 4), dt.date(2024, 10, 7), dt.date(2024, 10, 20)]),
        "incident_date": st.sampled_from([dt.date(2024, 9, 2), dt.date(2024, 9, 3)]),
        "nip": st.integers(0, 3),
        "phase": st.sampled_from(["CALON", "CALON", "BAKAL_CALON"]),
    }
)
writes = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(("case", *AGENCIES)), st.one_of(record_writes, case_writes)),
    min_size=1,
    max_size=10,
)


def _apply(session: Session, cases: dict[int, Case], nips: list[str | None], write: tuple[int, str, Any]) -> Case:
    index, target, values = write
    case = cases.get(index)
    if case is None:
        case = cases[index] = insert_case(session, nip=nips[0])
    if target == "case":
        if "sanction" in values:  # a record write aimed at the case: ignore the record-only fields
            return case
        nip = str(nips[values["nip"]] or nips[0])
        case.nip, case.stage, case.phase = nip, values["stage"], values["phase"]
        case.deadline_date, case.incident_date = values["deadline_date"], values["incident_date"]
        case.imposed_sanction_code = "RINGAN_TEGURAN_LISAN" if values["stage"] == "SANKSI_DIJATUHKAN" else None
        case.sanction_date = dt.date(2024, 10, 3) if case.imposed_sanction_code else None
    elif "sanction" in values:
        record = session.scalars(
            select(AgencyRecord).where(AgencyRecord.case_id == case.id, AgencyRecord.agency == target)
        ).one_or_none() or insert_record(session, case, target)
        record.nip = nips[values["nip"]]
        record.name, record.violation_code, record.stage = values["name"], values["violation_code"], values["stage"]
        record.sanction_code, record.sanction_status = values["sanction"]
        record.recommendation_date, record.created_at = values["recommendation_date"], values["created_at"]
    session.flush()
    return case


def _active_keys(session: Session, case_ids: set[uuid.UUID]) -> set[str]:
    session.expire_all()
    statement = select(Finding.finding_key).where(Finding.case_id.in_(case_ids), Finding.state.in_(ACTIVE_STATES))
    return set(session.scalars(statement))


def _full_run(app: FastAPI, use_screen: bool) -> dict[str, Any]:
    factory = app.state.sessionmaker
    with transaction(factory) as session:
        run_id = create_run(session, "property-test", RunMode.FULL, AS_OF, None, use_screen).id
    run = execute_run(factory, app.state.settings, run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run.stats


@pytest.mark.slow  # a property campaign (~20 s); ./test --fast leaves it out, ./test runs it
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=writes)
def test_incremental_findings_equal_a_full_run(app: FastAPI, session: Session, sequence: list[Any]) -> None:
    example = next(_examples)
    birth = dt.date(1970, 1, 1) + dt.timedelta(days=example)  # every example its own people: no cross-talk
    nips = _nip_variants(f"{birth:%Y%m%d}199503{1 + example % 2}001")
    try:
        _check(app, session, nips, sequence)
    finally:
        session.rollback()  # SQLite: never keep the single write lock between examples


def _check(app: FastAPI, session: Session, nips: list[str | None], sequence: list[Any]) -> None:
    cases: dict[int, Case] = {}
    for write in sequence:
        case = _apply(session, cases, nips, write)
        note_stages_reached(session, [case.id])  # what a write flow does before it commits
        outbox.record_touched(session, [case.id])
        session.commit()
        outbox.drain(app.state.sessionmaker, app.state.settings, as_of=AS_OF)  # the worker's rounds after it
    case_ids = {case.id for case in cases.values()}
    incremental = _active_keys(session, case_ids)

    evaluations = evaluate_cases(session, case_ids, AS_OF, ruleset_of(app.state.settings))
    session.rollback()
    assert {key for evaluation in evaluations for key in evaluation.drafts} == incremental

    for use_screen in (True, False):
        session.rollback()
        stats = _full_run(app, use_screen)
        assert (stats["opened"], stats["resolved"], stats["reopened"]) == (0, 0, 0), stats
        assert _active_keys(session, case_ids) == incremental
