"""Deadlines over HTTP: holiday-aware dates for named 2024 days, and every open stage overdue after its threshold."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.cases.workflow import STAGE_DEADLINES, TERMINAL_STAGES, Action, DayCount, Stage
from app.core.clock import add_working_days, today_in_jakarta
from app.core.config import Settings
from tests.auth_helpers import AuthHeaders
from tests.cases.test_workflow import PATH, _fields
from tests.factories import case_payload, create_case, transition
from tests.problems import assert_problem

AUDIT_OVERDUE = "/api/v1/audit/overdue"
FINDINGS = "/api/v1/reconciliation/findings"


def _to_study(client: TestClient, auth_headers: AuthHeaders, started: str, **overrides: Any) -> dict[str, Any]:
    bawaslu = auth_headers("BAWASLU")
    case = create_case(client, bawaslu, incident_date="2024-04-01", reported_date="2024-04-02", **overrides)
    case = transition(client, bawaslu, case, "verify", effective_date="2024-04-03")
    return transition(client, bawaslu, case, "start_study", effective_date=started)


def test_a_kajian_started_before_idulfitri_is_due_after_its_cuti_bersama(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    # Fri 5 April 2024; 8-9 and 12-15 April cuti bersama, 10-11 Idulfitri: the 3 working days are 16, 17, 18 April
    case = _to_study(client, auth_headers, "2024-04-05")
    assert case["deadline_date"] == "2024-04-18"


def test_deadlines_over_christmas_and_new_year(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
    case = create_case(client, bawaslu, incident_date="2024-12-18", reported_date="2024-12-19")
    case = transition(client, bawaslu, case, "verify", effective_date="2024-12-20")
    assert case["deadline_date"] == "2024-12-23"  # TERVERIFIKASI: 3 calendar days
    # Fri 27 Dec 2024: Mon 30 and Tue 31 Dec, then 1 Jan is a holiday: the third working day is Thu 2 Jan 2025
    case = transition(client, bawaslu, case, "start_study", effective_date="2024-12-27")
    assert case["deadline_date"] == "2025-01-02"
    forwarded = create_case(client, bawaslu, incident_date="2024-12-02", reported_date="2024-12-03")
    for action, on in (("verify", "2024-12-04"), ("start_study", "2024-12-05"), ("forward", "2024-12-06")):
        forwarded = transition(client, bawaslu, forwarded, action, effective_date=on)
    assert forwarded["deadline_date"] == "2024-12-20"  # DITERUSKAN: 14 calendar days of ageing
    # Recommended Fri 20 Dec: 25 (Christmas), 26 (cuti bersama) and 1 Jan do not count; 10 working days end 8 Jan
    recommended = transition(
        client, bkn, forwarded, "recommend", effective_date="2024-12-20", **_fields(Action.RECOMMEND)
    )
    assert recommended["deadline_date"] == "2025-01-08"
    # Reprimanded Mon 13 Jan 2025: 3 working days
    reprimanded = transition(client, bkn, recommended, "reprimand", effective_date="2025-01-13")
    assert reprimanded["deadline_date"] == "2025-01-16"


def test_pemilu_and_pilkada_can_have_different_kajian_periods(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"study_working_days_pemilu": 7})
    pemilu = _to_study(client, auth_headers, "2024-04-22", election_type="PEMILU")
    pilkada = _to_study(client, auth_headers, "2024-04-22", election_type="PILKADA")
    assert pemilu["deadline_date"] == "2024-05-02"  # 23-26, 29, 30 April; 1 May (Labour Day) skipped; 2 May
    assert pilkada["deadline_date"] == "2024-04-25"  # the default 3 working days


def _threshold(stage: Stage, entered_on: dt.date, settings: Settings) -> dt.date:
    """What the brief and the settings say the stage's last day is, independently of the service."""
    deadline = STAGE_DEADLINES[stage]
    days = {
        Stage.DITERIMA: settings.verification_days,
        Stage.TERVERIFIKASI: settings.registration_follow_up_days,
        Stage.KAJIAN: settings.study_working_days,
        Stage.DITERUSKAN: settings.recommendation_ageing_days,
        Stage.REKOMENDASI: settings.ppk_follow_up_days,
        Stage.TEGURAN_BKN: settings.reprimand_compliance_days,
        Stage.PPK_DISANKSI: settings.ppk_sanction_ageing_days,
        Stage.DIBLOKIR: settings.block_ageing_days,
    }[stage]
    if deadline.unit is DayCount.WORKING:
        return add_working_days(entered_on, days)
    return entered_on + dt.timedelta(days=days)


def _entered_on(client: TestClient, auth_headers: AuthHeaders, stage: Stage, on: dt.date) -> dict[str, Any]:
    """A case that entered ``stage`` on ``on``: the earlier steps in September 2024, the last one on ``on``."""
    if stage is Stage.DITERIMA:
        return create_case(client, auth_headers("BAWASLU"), incident_date=on.isoformat(), reported_date=on.isoformat())
    case = create_case(client, auth_headers("BAWASLU"), incident_date="2024-09-03", reported_date="2024-09-05")
    *before, (action, agency, _) = PATH[stage]
    for earlier, by, day in before:
        case = transition(client, auth_headers(by), case, earlier.value, effective_date=day, **_fields(earlier))
    return transition(
        client, auth_headers(agency), case, action.value, effective_date=on.isoformat(), **_fields(action)
    )


def test_every_open_stage_has_a_deadline_or_ageing_threshold() -> None:
    assert set(STAGE_DEADLINES) == set(Stage) - TERMINAL_STAGES


@pytest.mark.parametrize("stage", list(STAGE_DEADLINES), ids=str)
def test_every_open_stage_becomes_overdue_after_its_threshold(
    client: TestClient, auth_headers: AuthHeaders, settings: Settings, stage: Stage
) -> None:
    today = today_in_jakarta()
    # the latest day of entry whose threshold has already passed, and the day after it, whose has not
    entries = (today - dt.timedelta(days=back) for back in range(60))
    late = next(day for day in entries if _threshold(stage, day, settings) < today)
    on_time = late + dt.timedelta(days=1)
    overdue = _entered_on(client, auth_headers, stage, late)
    current = _entered_on(client, auth_headers, stage, on_time)

    assert (overdue["stage"], current["stage"]) == (stage, stage)
    assert overdue["deadline_date"] == _threshold(stage, late, settings).isoformat()
    assert (overdue["overdue"], current["overdue"]) == (True, False)
    auditor = auth_headers("auditor")
    listed = client.get(AUDIT_OVERDUE, params={"stage": stage.value}, headers=auditor).json()
    assert [case["id"] for case in listed["items"]] == [overdue["id"]]
    everything = client.get(AUDIT_OVERDUE, headers=auditor).json()
    assert overdue["id"] in {case["id"] for case in everything["items"]}
    assert current["id"] not in {case["id"] for case in everything["items"]}


def test_known_date_lies_between_the_incident_and_the_report(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu = auth_headers("BAWASLU")
    dates = {"incident_date": "2024-10-01", "reported_date": "2024-10-10"}
    case = create_case(client, bawaslu, source="LAPORAN", known_date="2024-10-05", **dates)
    assert case["known_date"] == "2024-10-05"
    assert create_case(client, bawaslu, **dates)["known_date"] is None  # optional
    for known in ("2024-09-30", "2024-10-11"):
        response = client.post("/api/v1/cases", json=case_payload(known_date=known, **dates), headers=bawaslu)
        assert "known_date" in assert_problem(response, 422)["invalid_params"][0]["reason"]


def test_a_pilkada_laporan_filed_after_seven_days_from_the_day_it_became_known_is_flagged(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    bawaslu, auditor = auth_headers("BAWASLU"), auth_headers("auditor")
    dates = {"source": "LAPORAN", "incident_date": "2024-10-01", "reported_date": "2024-10-12"}
    late = create_case(client, bawaslu, known_date="2024-10-02", **dates)
    on_time = create_case(client, bawaslu, known_date="2024-10-05", **dates)  # known late, reported within 7 days

    def rules(case: dict[str, Any]) -> list[str]:
        found = client.get(FINDINGS, params={"case_id": case["id"]}, headers=auditor).json()["items"]
        return [finding["rule"] for finding in found if finding["rule"] == "LAPORAN_FILED_LATE"]

    assert rules(late) == ["LAPORAN_FILED_LATE"]
    assert rules(on_time) == []
