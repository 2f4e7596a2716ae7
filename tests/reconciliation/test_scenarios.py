"""The hand-built scenario set (scenarios.json): exact findings on the real database, incremental and full.

Rows are written straight to the tables (as a legacy import would), so values the API refuses — a 9-digit NIP,
a KASN record after 2024-08-24 — can be reconciled too. Runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import transaction
from app.reconciliation.models import ACTIVE_STATES, Finding, RunMode, RunStatus
from app.reconciliation.rules import RULES
from app.reconciliation.runner import create_run, execute_run
from app.reconciliation.service import on_case_written
from tests.reconciliation.builders import BASE_RECORDS, insert_case, insert_record, system_ctx

SCENARIOS: dict[str, Any] = json.loads((Path(__file__).with_name("scenarios.json")).read_text(encoding="utf-8"))
Row = tuple[int, str, str, str | None, tuple[str, ...], tuple[str, ...]]


def _active(session: Session, case_index: dict[Any, int]) -> list[Row]:
    session.expire_all()
    rows = session.scalars(select(Finding).where(Finding.state.in_(ACTIVE_STATES))).all()
    return sorted(
        (case_index[f.case_id], f.rule, f.severity, f.hint, tuple(f.agency_codes), tuple(f.fields.split(",")))
        for f in rows
    )


def _expected(scenario: dict[str, Any]) -> list[Row]:
    return sorted(
        (
            item.get("case", 0),
            item["rule"],
            item["severity"],
            item["hint"],
            tuple(item["agencies"]),
            tuple(item["fields"]),
        )
        for item in scenario["expected"]
    )


def load_scenario(session: Session, settings: Settings, scenario: dict[str, Any], as_of: dt.datetime) -> dict[Any, int]:
    ctx = system_ctx()
    cases = []
    for spec in scenario["cases"]:
        case = insert_case(session, **spec.get("case", {}))
        records = spec.get("records", {agency: {} for agency in BASE_RECORDS})
        history = spec.get("history", {})
        for agency, overrides in records.items():
            if agency in history:
                record = insert_record(session, case, agency, **{**overrides, **history[agency]})
                on_case_written(session, settings, ctx, case.id, as_of=as_of)
                for column, value in overrides.items():
                    setattr(record, column, value)
                session.flush()
            else:
                insert_record(session, case, agency, **overrides)
        cases.append(case)
    for case in cases:
        on_case_written(session, settings, ctx, case.id, as_of=as_of)
    return {case.id: index for index, case in enumerate(cases)}


@pytest.mark.parametrize("scenario", SCENARIOS["scenarios"], ids=[s["name"] for s in SCENARIOS["scenarios"]])
def test_scenario(scenario: dict[str, Any], app: FastAPI, session: Session) -> None:
    as_of = dt.datetime.fromisoformat(scenario.get("as_of", SCENARIOS["as_of"]))
    case_index = load_scenario(session, app.state.settings, scenario, as_of)
    session.commit()
    incremental = _active(session, case_index)
    assert incremental == _expected(scenario)

    factory = app.state.sessionmaker
    with transaction(factory) as run_session:
        run_id = create_run(run_session, "test", RunMode.FULL, as_of, None, use_screen=True).id
    run = execute_run(factory, app.state.settings, run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.stats["opened"], run.stats["resolved"], run.stats["reopened"]) == (0, 0, 0)
    assert _active(session, case_index) == incremental


def test_scenario_set_covers_every_agency_and_rule() -> None:
    agencies = {agency for s in SCENARIOS["scenarios"] for spec in s["cases"] for agency in spec.get("records", {})}
    rules = {item["rule"] for s in SCENARIOS["scenarios"] for item in s["expected"]}
    assert agencies == {"BAWASLU", "KASN", "BKN", "KEMENDAGRI", "KEMENPANRB"}
    assert len(SCENARIOS["scenarios"]) >= 30
    assert rules == {rule.code for rule in RULES}
