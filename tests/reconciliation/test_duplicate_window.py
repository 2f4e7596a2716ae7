"""DUPLICATE_CASE over HTTP: one ASN, one violation form, incidents within SBT_DUPLICATE_WINDOW_DAYS of each other."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.db import transaction
from app.reconciliation.models import RunMode, RunStatus
from app.reconciliation.runner import create_run, execute_run
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, make_nip

RULE = "DUPLICATE_CASE"


def _rules(client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any]) -> set[str]:
    response = client.get(
        "/api/v1/reconciliation/findings", params={"case_id": case["id"]}, headers=auth_headers("BAWASLU")
    )
    assert response.status_code == 200, response.text
    return {finding["rule"] for finding in response.json()["items"]}


def _twice(client: TestClient, auth_headers: AuthHeaders, first: str, second: str, **other: Any) -> list[Any]:
    """The same ASN in Bawaslu's own temuan and in a laporan from the public, on two incident dates."""
    nip, bawaslu = make_nip(), auth_headers("BAWASLU")
    return [
        create_case(client, bawaslu, nip=nip, incident_date=first, reported_date="2024-10-10"),
        create_case(client, bawaslu, nip=nip, incident_date=second, reported_date="2024-10-10", **other),
    ]


def test_the_same_incident_reported_a_day_apart_is_flagged_on_both_cases(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    earlier, later = _twice(client, auth_headers, "2024-10-02", "2024-10-03", source="LAPORAN")
    assert RULE in _rules(client, auth_headers, earlier)
    assert RULE in _rules(client, auth_headers, later)
    finding = next(
        f
        for f in client.get(
            "/api/v1/reconciliation/findings", params={"case_id": later["id"]}, headers=auth_headers("BAWASLU")
        ).json()["items"]
        if f["rule"] == RULE
    )
    assert earlier["case_number"] in finding["message_en"]
    assert "within 3 day(s)" in finding["message_en"]


def test_incidents_the_window_plus_one_day_apart_are_not_duplicates(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    earlier, later = _twice(client, auth_headers, "2024-10-02", "2024-10-06")  # 4 days: the default window is 3
    assert RULE not in _rules(client, auth_headers, earlier)
    assert RULE not in _rules(client, auth_headers, later)


def test_the_last_day_of_the_window_is_still_a_duplicate(client: TestClient, auth_headers: AuthHeaders) -> None:
    earlier, later = _twice(client, auth_headers, "2024-10-02", "2024-10-05")
    assert RULE in _rules(client, auth_headers, earlier)
    assert RULE in _rules(client, auth_headers, later)


def test_another_violation_form_of_the_same_asn_is_not_a_duplicate(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    earlier, later = _twice(client, auth_headers, "2024-10-02", "2024-10-02", violation_code="D-5")
    assert RULE not in _rules(client, auth_headers, earlier)
    assert RULE not in _rules(client, auth_headers, later)


def test_the_window_is_configured(app: FastAPI, client: TestClient, auth_headers: AuthHeaders) -> None:
    app.state.settings = app.state.settings.model_copy(update={"duplicate_window_days": 0})
    apart = _twice(client, auth_headers, "2024-10-02", "2024-10-03")
    same_day = _twice(client, auth_headers, "2024-10-02", "2024-10-02")
    assert [RULE in _rules(client, auth_headers, case) for case in apart + same_day] == [False, False, True, True]


def test_the_cases_of_one_report_are_not_duplicates_of_each_other(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    cases = [
        create_case(
            client,
            auth_headers("BAWASLU"),
            name=name,
            register_number="045/Reg/LP/PB/Kab/73.06/X/2024",
            incident_date="2024-10-02",
            reported_date="2024-10-03",
        )
        for name in ("Drs. Amir Santoso, M.Si.", "Siti Rahmawati, S.Sos.", "Andi Baso, S.IP.")
    ]
    assert [RULE in _rules(client, auth_headers, case) for case in cases] == [False, False, False]


def test_a_full_run_finds_the_windowed_duplicates_the_writes_found(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    flagged = _twice(client, auth_headers, "2024-10-02", "2024-10-04")
    apart = _twice(client, auth_headers, "2024-10-02", "2024-10-09")
    factory = app.state.sessionmaker
    with transaction(factory) as session:
        run_id = create_run(session, "duplicate-window-test", RunMode.FULL, None, None, True).id
    run = execute_run(factory, app.state.settings, run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.stats["flagged_duplicate"] == 2
    assert [RULE in _rules(client, auth_headers, case) for case in flagged + apart] == [True, True, False, False]
