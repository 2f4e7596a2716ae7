"""Auditor surface: read-only, full history, statistics, exports, and the read audit of personal data."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.audit.models import ReadAuditEntry
from app.cases.models import AgencyRecord, Case, CaseTransition
from app.ledger.models import LedgerEntry
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, transition

AUDIT = "/api/v1/audit"


def _recommended_long_ago(client: TestClient, auth_headers: AuthHeaders) -> dict[str, Any]:
    """A case whose PPK follow-up deadline (recommendation + 10 working days) passed long ago."""
    bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
    case = create_case(client, bawaslu, reported_date="2024-09-01", incident_date="2024-08-30")
    case = transition(client, bawaslu, case, "verify", effective_date="2024-09-02")
    case = transition(client, bawaslu, case, "start_study", effective_date="2024-09-03")
    case = transition(client, bawaslu, case, "forward", effective_date="2024-09-04")
    return transition(
        client,
        bkn,
        case,
        "recommend",
        effective_date="2024-09-10",
        sanction_code="BERAT_PENURUNAN_JABATAN",
        reference_number="R-77/BKN/9/2024",
    )


def _state(session: Session) -> tuple[int, ...]:
    session.rollback()  # a fresh read transaction sees every commit
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Case, AgencyRecord, CaseTransition, LedgerEntry)
    )


def test_every_auditor_route_is_a_get_and_changes_nothing(
    app: FastAPI, client: TestClient, session: Session, auth_headers: AuthHeaders
) -> None:
    case = _recommended_long_ago(client, auth_headers)
    audit_routes = [route for route in app.openapi()["paths"] if route.startswith(AUDIT)]
    assert len(audit_routes) >= 6
    for path in audit_routes:
        assert set(app.openapi()["paths"][path]) == {"get"}, path
    before = _state(session)
    auditor = auth_headers("auditor")
    required = {"/api/v1/audit/count-bridge": {"from": "2024-01-01", "to": "2024-12-31"}}
    for path in audit_routes:
        response = client.get(path.replace("{case_id}", case["id"]), params=required.get(path), headers=auditor)
        assert response.status_code == 200, (path, response.text)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert client.request(method, path.replace("{case_id}", case["id"]), headers=auditor).status_code == 405
    assert _state(session) == before


def test_case_history_has_every_step_and_record_version(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _recommended_long_ago(client, auth_headers)
    bkn = auth_headers("BKN")
    records = client.get(f"/api/v1/cases/{case['id']}/records", headers=bkn).json()
    record = next(r for r in records if r["agency"] == "BKN")  # made by BKN's recommend step
    updated = client.patch(
        f"/api/v1/cases/{case['id']}/records/{record['id']}",
        json={"notes": "Surat R-77 diterima PPK"},
        headers=bkn | {"If-Match": f'"{record["version"]}"'},
    )
    assert updated.status_code == 200, updated.text

    history = client.get(f"{AUDIT}/cases/{case['id']}/history", headers=auth_headers("auditor")).json()
    assert history["case"]["stage"] == "REKOMENDASI"
    assert [step["action"] for step in history["transitions"]] == ["verify", "start_study", "forward", "recommend"]
    assert sorted(r["agency"] for r in history["agency_records"]) == ["BAWASLU", "BKN"]
    versions = [(v["entry_type"], v["agency"], v["record"].get("notes")) for v in history["record_versions"]]
    assert versions == [
        ("case.created", "BAWASLU", None),
        *[("agency_record.updated", "BAWASLU", None)] * 3,  # Bawaslu's record follows its verify, study, forward
        ("agency_record.submitted", "BKN", None),  # BKN's record is made by its recommend step
        ("agency_record.updated", "BKN", "Surat R-77 diterima PPK"),
    ]
    assert history["ledger_entries"] == f"/api/v1/ledger/cases/{case['id']}/entries"


def test_statistics_count_every_dimension_and_overdue_follow_ups(client: TestClient, auth_headers: AuthHeaders) -> None:
    overdue = _recommended_long_ago(client, auth_headers)
    unverified = create_case(
        client, auth_headers("BKN"), province_code="31", election_type="PEMILU", violation_code="KE-4"
    )
    auditor = auth_headers("auditor")

    stats = client.get(f"{AUDIT}/statistics", headers=auditor).json()
    assert stats["total_cases"] == 2
    # BKN holds both: the case it reported, and the one it recommended on (its step made its record).
    assert {c["key"]: c["count"] for c in stats["by_agency"]} == {"BAWASLU": 1, "BKN": 2}
    assert {c["key"]: c["count"] for c in stats["by_stage"]} == {"DITERIMA": 1, "REKOMENDASI": 1}
    assert {c["key"]: c["count"] for c in stats["by_province"]} == {"31": 1, "73": 1}
    assert {c["key"]: c["count"] for c in stats["by_violation_category"]} == {"DISIPLIN": 1, "KODE_ETIK": 1}
    assert {c["key"]: c["count"] for c in stats["by_election"]} == {"PEMILU 2024": 1, "PILKADA 2024": 1}
    assert {c["key"]: c["count"] for c in stats["by_month"]} == {"2024-01": 1, "2024-09": 1}
    assert stats["overdue_ppk_follow_ups"] == 1

    filtered = client.get(f"{AUDIT}/statistics", params={"province_code": "31"}, headers=auditor).json()
    assert filtered["total_cases"] == 1
    assert filtered["overdue_ppk_follow_ups"] == 0
    listed = client.get(f"{AUDIT}/overdue", headers=auditor).json()
    # every open stage has a deadline: the report waiting for verification since January is overdue too
    assert [case["id"] for case in listed["items"]] == [overdue["id"], unverified["id"]]
    follow_ups = client.get(f"{AUDIT}/overdue", params={"stage": "REKOMENDASI"}, headers=auditor).json()
    assert [case["id"] for case in follow_ups["items"]] == [overdue["id"]]


def test_exports_stream_every_filtered_case_as_csv_and_ndjson(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu = auth_headers("BAWASLU")
    gowa = [create_case(client, bawaslu) for _ in range(3)]
    create_case(client, bawaslu, province_code="31", regency="Kota Jakarta Pusat")
    auditor = auth_headers("auditor")

    plain = {"province_code": "73", "excel": "false"}  # the spreadsheet form: tests/audit/test_exports.py
    as_csv = client.get(f"{AUDIT}/exports/cases.csv", params=plain, headers=auditor)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [row["id"] for row in rows] == [case["id"] for case in gowa]
    assert rows[0]["nip"] == gowa[0]["nip"]

    as_ndjson = client.get(f"{AUDIT}/exports/cases.ndjson", params={"province_code": "73"}, headers=auditor)
    assert as_ndjson.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in as_ndjson.text.splitlines()] == [
        client.get(f"/api/v1/cases/{case['id']}", headers=auditor).json() for case in gowa
    ]


def test_reads_of_personal_data_are_recorded_and_queryable(client: TestClient, auth_headers: AuthHeaders) -> None:
    bkn = auth_headers("BKN")
    case = create_case(client, auth_headers("BAWASLU"))
    other = create_case(client, auth_headers("BAWASLU"))
    read = client.get(f"/api/v1/cases/{case['id']}", headers=bkn | {"X-Purpose": "Surat R-77/BKN/9/2024"})
    assert read.status_code == 200
    client.get(f"/api/v1/cases/{other['id']}/records", headers=auth_headers("KEMENDAGRI"))
    auditor = auth_headers("auditor")

    trail = client.get(f"{AUDIT}/read-log", params={"nip": case["nip"]}, headers=auditor).json()["items"]
    assert [(e["client_id"], e["agency"], e["purpose"], e["operation"], e["case_id"]) for e in trail] == [
        ("test-bkn", "BKN", "Surat R-77/BKN/9/2024", "get_case", case["id"])
    ]
    by_agency = client.get(f"{AUDIT}/read-log", params={"agency": "KEMENDAGRI"}, headers=auditor).json()["items"]
    assert [(e["operation"], e["case_id"]) for e in by_agency] == [("list_agency_records", other["id"])]
    assert by_agency[0]["record_id"] is not None
    since = trail[0]["recorded_at"]
    later = client.get(f"{AUDIT}/read-log", params={"recorded_from": since, "client_id": "test-bkn"}, headers=auditor)
    assert len(later.json()["items"]) == 1
    # The lookup of a person's trail is itself recorded.
    assert client.get(f"{AUDIT}/read-log", params={"client_id": "test-auditor"}, headers=auditor).json()["items"]


@pytest.mark.parametrize("statement", ["UPDATE read_audit SET purpose = 'edited'", "DELETE FROM read_audit"])
def test_read_audit_is_append_only(
    statement: str, client: TestClient, session: Session, auth_headers: AuthHeaders
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("BKN"))
    assert session.scalar(select(func.count()).select_from(ReadAuditEntry)) == 1
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement))
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ReadAuditEntry)) == 1
