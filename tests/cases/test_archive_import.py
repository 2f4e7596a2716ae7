"""A retired agency's archive comes in through its successor: BKN imports KASN's records, attributed to KASN and
dated as KASN recorded them, so they raise no retired-agency finding; nobody else imports them, and nothing in an
archive is dated on or after the agency's end (2024-08-24)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.cases.models import AgencyRecord
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, transition
from tests.problems import assert_problem

END = "2024-08-24"
CASES = "/api/v1/cases"
ARCHIVE_PROBLEM = "agency-not-permitted"


def _case_forwarded_to_kasn(client: TestClient, auth_headers: AuthHeaders) -> dict[str, Any]:
    case = create_case(client, auth_headers("BAWASLU"), incident_date="2024-07-29", reported_date="2024-08-01")
    for action in ("verify", "start_study", "forward"):
        case = transition(client, auth_headers("BAWASLU"), case, action, effective_date="2024-08-05")
    return case


def _kasn_record(case: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "archive_of": "KASN",
        "recorded_on": "2024-08-12",
        "nip": case["nip"],
        "name": case["name"],
        "violation_code": case["violation_code"],
        "stage": "DITERUSKAN",
        "reported_date": "2024-08-01",
        "reference_number": "B-77/KASN/08/2024",
        **overrides,
    }


def _import(client: TestClient, headers: dict[str, str], case: dict[str, Any], body: dict[str, Any]) -> Any:
    return client.post(f"{CASES}/{case['id']}/archived-records", json=body, headers=headers)


def test_the_successor_imports_the_archive_attributed_to_the_retired_agency(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _case_forwarded_to_kasn(client, auth_headers)
    response = _import(client, auth_headers("BKN"), case, _kasn_record(case))
    assert response.status_code == 201, response.text
    record = response.json()
    assert (record["agency"], record["imported_by"], record["recorded_on"]) == ("KASN", "BKN", "2024-08-12")
    assert response.headers["location"] == f"{CASES}/{case['id']}/records/{record['id']}"
    listed = client.get(f"{CASES}/{case['id']}/records", headers=auth_headers("BAWASLU")).json()
    assert [(r["agency"], r["imported_by"]) for r in listed if r["agency"] == "KASN"] == [("KASN", "BKN")]

    entries = client.get("/api/v1/ledger/entries", headers=auth_headers("auditor")).json()["items"]
    imported = [e for e in entries if e["entry_type"] == "agency_record.submitted" and e["case_id"] == case["id"]]
    assert [(e["agency"], e["payload"]["agency"], e["payload"]["imported_by"]) for e in imported] == [
        ("BKN", "KASN", "BKN")
    ]


def test_an_archived_record_dated_before_the_end_raises_no_retired_agency_finding(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _case_forwarded_to_kasn(client, auth_headers)
    assert _import(client, auth_headers("BKN"), case, _kasn_record(case)).status_code == 201
    findings = client.get(
        "/api/v1/reconciliation/findings", params={"case_id": case["id"]}, headers=auth_headers("auditor")
    ).json()["items"]
    assert [finding["rule"] for finding in findings if "KASN" in finding["agencies"]] == []


def test_the_same_record_dated_today_would_be_a_retired_agency_finding(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    """The control: the rule is live, and it is the archive date that keeps the imported record clean."""
    case = _case_forwarded_to_kasn(client, auth_headers)
    record = _import(client, auth_headers("BKN"), case, _kasn_record(case)).json()
    with app.state.sessionmaker() as session, session.begin():  # as if KASN had recorded it today
        session.execute(update(AgencyRecord).where(AgencyRecord.id == uuid.UUID(record["id"])).values(recorded_on=None))
    checked = client.post(f"/api/v1/reconciliation/cases/{case['id']}/check", headers=auth_headers("BKN"))
    assert checked.status_code == 200, checked.text
    assert [f["rule"] for f in checked.json()["findings"] if "KASN" in f["agencies"]] == ["RETIRED_AGENCY_DATA"]


@pytest.mark.parametrize("importer", ["BAWASLU", "KEMENDAGRI", "KEMENPANRB"])
def test_only_the_successor_imports_the_archive(client: TestClient, auth_headers: AuthHeaders, importer: str) -> None:
    case = _case_forwarded_to_kasn(client, auth_headers)
    problem = assert_problem(_import(client, auth_headers(importer), case, _kasn_record(case)), 403)
    assert problem["type"].endswith(ARCHIVE_PROBLEM)
    assert "Only BKN imports KASN's archive" in problem["detail"]
    assert client.get(f"{CASES}/{case['id']}/records", headers=auth_headers("BAWASLU")).json()[0]["agency"] != "KASN"


def test_an_agency_that_still_exists_has_no_archive(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _case_forwarded_to_kasn(client, auth_headers)
    problem = assert_problem(_import(client, auth_headers("BKN"), case, _kasn_record(case, archive_of="BAWASLU")), 422)
    assert problem["invalid_params"][0]["name"] == "body.archive_of"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"recorded_on": END}, "recorded_on"),
        ({"recorded_on": "2025-01-06"}, "recorded_on"),
        ({"recommendation_date": "2024-08-13"}, "recommendation_date"),  # after the day it was recorded
        ({"reported_date": "2024-08-20"}, "reported_date"),
    ],
    ids=["recorded-on-the-end", "recorded-after-the-end", "recommended-after-recording", "reported-after-recording"],
)
def test_nothing_in_an_archive_is_dated_on_or_after_the_end_or_after_its_recording(
    client: TestClient, auth_headers: AuthHeaders, overrides: dict[str, str], field: str
) -> None:
    case = _case_forwarded_to_kasn(client, auth_headers)
    problem = assert_problem(_import(client, auth_headers("BKN"), case, _kasn_record(case, **overrides)), 422)
    assert problem["invalid_params"][0]["name"] == f"body.{field}"
    records = client.get(f"{CASES}/{case['id']}/records", headers=auth_headers("BAWASLU")).json()
    assert "KASN" not in {record["agency"] for record in records}  # nothing half-written


def test_recorded_on_is_required(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _case_forwarded_to_kasn(client, auth_headers)
    body = _kasn_record(case)
    del body["recorded_on"]
    problem = assert_problem(_import(client, auth_headers("BKN"), case, body), 422)
    assert "recorded_on" in str(problem["invalid_params"])


def test_one_archived_record_per_case(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _case_forwarded_to_kasn(client, auth_headers)
    assert _import(client, auth_headers("BKN"), case, _kasn_record(case)).status_code == 201
    assert_problem(_import(client, auth_headers("BKN"), case, _kasn_record(case)), 409)


def test_the_successor_corrects_an_archived_record_within_the_archive_dates(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _case_forwarded_to_kasn(client, auth_headers)
    record = _import(client, auth_headers("BKN"), case, _kasn_record(case)).json()
    path = f"{CASES}/{case['id']}/records/{record['id']}"
    headers = auth_headers("BKN") | {"If-Match": f'"{record["version"]}"'}
    refused = client.patch(path, json={"reported_date": "2024-09-02"}, headers=headers)
    assert assert_problem(refused, 422)["invalid_params"][0]["name"] == "body.reported_date"
    assert client.get(path, headers=auth_headers("BKN")).json()["reported_date"] == "2024-08-01"  # unchanged
    corrected = client.patch(path, json={"reference_number": "B-78/KASN/08/2024"}, headers=headers)
    assert corrected.status_code == 200, corrected.text
    assert (corrected.json()["agency"], corrected.json()["reference_number"]) == ("KASN", "B-78/KASN/08/2024")
    other = auth_headers("BAWASLU") | {"If-Match": f'"{corrected.json()["version"]}"'}
    assert_problem(client.patch(path, json={"notes": "x"}, headers=other), 404)  # not Bawaslu's record
