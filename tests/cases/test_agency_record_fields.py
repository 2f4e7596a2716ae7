"""Agency records as the agencies keep them, over HTTP: the fields each workflow step fills, the recommended and the
imposed sanction side by side (and the deprecated single sanction mapped onto them), reconciliation of the new fields,
and setting a case's instansi or register number afterwards."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import state
from app.cases.workflow import Action
from app.ledger.models import LedgerEntry
from tests.auth_helpers import AuthHeaders
from tests.cases.test_workflow import SANCTION, _fields
from tests.factories import create_case, transition
from tests.problems import assert_problem

CASES = "/api/v1/cases"
SK = "800.1.6.4/45/BKPSDM/2024"
BLOCK_ROUTE = [
    ("verify", "BAWASLU", "2024-09-06"),
    ("start_study", "BAWASLU", "2024-09-09"),
    ("forward", "BAWASLU", "2024-09-10"),
    ("recommend", "BKN", "2024-09-11"),
    ("reprimand", "BKN", "2024-09-27"),
    ("block", "BKN", "2024-10-07"),
]


def _record(client: TestClient, headers: dict[str, str], case: dict[str, Any], agency: str) -> dict[str, Any]:
    records = client.get(f"{CASES}/{case['id']}/records", headers=headers).json()
    record: dict[str, Any] = next(record for record in records if record["agency"] == agency)
    return record


def _open_findings(client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/reconciliation/findings", params={"case_id": case["id"]}, headers=auth_headers("auditor")
    )
    assert response.status_code == 200, response.text
    return [finding for finding in response.json()["items"] if finding["state"] == "OPEN"]


def _blocked_then_lifted(client: TestClient, auth_headers: AuthHeaders) -> dict[str, Any]:
    case = create_case(
        client, auth_headers("BAWASLU"), incident_date="2024-09-03", reported_date="2024-09-05", regency="Kota Makassar"
    )
    for action, agency, on in BLOCK_ROUTE:
        fields = _fields(Action(action))
        case = transition(client, auth_headers(agency), case, action, effective_date=on, **fields)
    return transition(
        client,
        auth_headers("BKN"),
        case,
        "lift_block",
        effective_date="2024-10-21",
        sanction_code=SANCTION,
        reference_number=SK,
    )


def test_workflow_steps_fill_the_acting_agencys_record_and_the_case(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    lifted = _blocked_then_lifted(client, auth_headers)
    assert (lifted["decision_number"], lifted["decision_date"]) == (SK, "2024-10-21")
    assert (lifted["blocked_on"], lifted["block_lifted_on"]) == ("2024-10-07", "2024-10-21")
    reader = auth_headers("auditor")
    bkn = _record(client, reader, lifted, "BKN")
    assert {name: bkn[name] for name in ("province_code", "regency", "election_type", "election_year", "phase")} == {
        "province_code": "73",
        "regency": "Kota Makassar",
        "election_type": "PILKADA",
        "election_year": 2024,
        "phase": "CALON",
    }
    # BKN recommended (KASN had ended) and recorded the PPK's sanction: its record holds both, apart
    assert (bkn["recommended_sanction_code"], bkn["imposed_sanction_code"]) == (SANCTION, SANCTION)
    assert (bkn["recommendation_date"], bkn["reference_number"]) == ("2024-09-11", "R-1194/KASN/4/2024")
    assert (bkn["decision_number"], bkn["decision_date"], bkn["sanction_date"]) == (SK, "2024-10-21", "2024-10-21")
    assert (bkn["blocked_on"], bkn["block_lifted_on"]) == ("2024-10-07", "2024-10-21")
    assert bkn["instansi_code"] == lifted["instansi_code"]
    # the deprecated single sanction still reads as v1 published it
    assert (bkn["sanction_code"], bkn["sanction_status"], bkn["sanction_level"]) == (SANCTION, "IMPOSED", None)
    bawaslu = _record(client, reader, lifted, "BAWASLU")
    assert (bawaslu["recommended_sanction_code"], bawaslu["imposed_sanction_code"], bawaslu["blocked_on"]) == (
        None,
        None,
        None,
    )
    # nobody is flagged for what it did itself: a clean path ends with no open finding
    assert _open_findings(client, auth_headers, lifted) == []


def test_records_carry_the_new_fields_and_the_deprecated_sanction_maps_onto_them(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    kemendagri = auth_headers("KEMENDAGRI")
    body = {
        "instansi_code": case["instansi_code"],
        "province_code": "73",
        "regency": "Kab. Gowa",
        "election_type": "PILKADA",
        "election_year": 2024,
        "phase": "CALON",
        "recommended_sanction_code": SANCTION,
        "idis_reference": "IDIS-2024-000123",
    }
    created = client.post(f"{CASES}/{case['id']}/records", json=body, headers=kemendagri)
    assert created.status_code == 201, created.text
    record = created.json()
    assert {name: record[name] for name in body} == body
    assert (record["sanction_code"], record["sanction_status"]) == (SANCTION, "RECOMMENDED")
    # an older client sends the single sanction with its status: it lands on the imposed side
    legacy = {"sanction_code": SANCTION, "sanction_status": "IMPOSED", "sanction_reason": "BANDING"}
    patched = client.patch(
        f"{CASES}/{case['id']}/records/{record['id']}",
        json=legacy,
        headers=kemendagri | {"If-Match": created.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.text
    both = patched.json()
    assert (both["recommended_sanction_code"], both["imposed_sanction_code"], both["imposed_sanction_reason"]) == (
        SANCTION,
        SANCTION,
        "BANDING",
    )
    etag = {"If-Match": patched.headers["ETag"]}
    url = f"{CASES}/{case['id']}/records/{record['id']}"
    mixed = client.patch(url, json=legacy | {"imposed_sanction_code": SANCTION}, headers=kemendagri | etag)
    assert_problem(mixed, 422)
    # without a status, as migration 0014 split such rows: by the stage (sanctioned: imposed), else recommended
    without_status = client.patch(url, json={"sanction_code": "BERAT_PDHTAPS"}, headers=kemendagri | etag)
    assert without_status.status_code == 200, without_status.text
    assert without_status.json()["recommended_sanction_code"] == "BERAT_PDHTAPS"
    conflicting = {"sanction_code": SANCTION, "sanction_level": "BERAT", "sanction_reason": "BANDING"}
    etag = {"If-Match": without_status.headers["ETag"]}
    assert_problem(client.patch(url, json=conflicting, headers=kemendagri | etag), 422)


def test_a_record_in_another_region_or_election_is_a_finding_with_its_evidence(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    body = {"province_code": "74", "election_type": "PILKADA", "election_year": 2020, "phase": "CALON"}
    response = client.post(f"{CASES}/{case['id']}/records", json=body, headers=auth_headers("BKN"))
    assert response.status_code == 201, response.text
    found = {finding["rule"]: finding for finding in _open_findings(client, auth_headers, case)}
    region, election = found["REGION_MISMATCH"], found["ELECTION_MISMATCH"]
    assert (region["severity"], region["fields"], region["agencies"]) == ("HIGH", ["province_code"], ["BKN"])
    assert region["observed"]["CASE"]["province_code"]["raw"] == case["province_code"]
    assert region["observed"]["BKN"]["province_code"]["raw"] == "74"
    assert (election["severity"], election["fields"], election["evidence"]) == (
        "HIGH",
        ["election_year"],
        {"per_agency": {"BKN": ["election_year"]}},
    )
    # the record corrected at source: both close
    fixed = client.patch(
        f"{CASES}/{case['id']}/records/{response.json()['id']}",
        json={"province_code": case["province_code"], "election_year": 2024},
        headers=auth_headers("BKN") | {"If-Match": response.headers["ETag"]},
    )
    assert fixed.status_code == 200, fixed.text
    assert {f["rule"] for f in _open_findings(client, auth_headers, case)} & {
        "REGION_MISMATCH",
        "ELECTION_MISMATCH",
    } == set()


def test_a_case_gets_its_instansi_and_register_number_by_an_audited_update(
    client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    case = create_case(client, auth_headers("BAWASLU"), instansi_code="73.06", province_code="73")
    url = f"{CASES}/{case['id']}"
    body = {"instansi_code": "73.71", "register_number": "045/Reg/LP/PB/Kota/73.71/X/2024"}
    assert_problem(client.patch(url, json=body, headers=auth_headers("BKN")), 428)
    etag = {"If-Match": f'"{case["version"]}"'}
    assert_problem(client.patch(url, json=body, headers=auth_headers("KEMENDAGRI") | etag), 403)
    elsewhere = client.patch(url, json={"instansi_code": "74.71"}, headers=auth_headers("BKN") | etag)
    assert_problem(elsewhere, 422)  # Kota Kendari is not in the case's province
    assert_problem(client.patch(url, json={"instansi_code": None}, headers=auth_headers("BKN") | etag), 422)
    updated = client.patch(url, json=body, headers=auth_headers("BKN") | etag)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["instansi_code"], updated.json()["register_number"]) == tuple(body.values())
    assert updated.headers["ETag"] == f'"{case["version"] + 1}"'
    stale = client.patch(url, json={"register_number": None}, headers=auth_headers("BAWASLU") | etag)
    assert_problem(stale, 412)
    report = client.get(f"/api/v1/reports/{body['register_number']}", headers=auth_headers("auditor"))
    assert [item["id"] for item in report.json()["cases"]] == [case["id"]]
    session.rollback()
    entry = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.entry_type == "case.updated", LedgerEntry.case_id == uuid.UUID(case["id"])
        )
    ).one()
    assert str(entry.seq) in updated.headers["Ledger-Seq"].split(", ")
    # Bawaslu's record (made when it reported the case) still names the old instansi: a disagreement to fix there,
    # not for BKN, whose own record follows what it set
    assert _record(client, auth_headers("auditor"), case, "BAWASLU")["instansi_code"] == "73.06"
    (mismatch,) = [f for f in _open_findings(client, auth_headers, case) if f["rule"] == "INSTANSI_MISMATCH"]
    assert mismatch["agencies"] == ["BAWASLU"]
    # the table is what the ledger says, the update included
    assert state.audit_cases(session, [uuid.UUID(case["id"])]).differences == []


def test_a_kasn_archive_with_the_new_fields_dated_before_its_end_loads_with_zero_findings(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    """History backfill: BKN imports KASN's own record of a case KASN held until it ended; the case went on to a
    sanction under BKN. Attributed to KASN and dated as KASN recorded it, it disagrees with nothing."""
    bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
    case = create_case(client, bawaslu, incident_date="2024-07-29", reported_date="2024-08-01")
    for action in ("verify", "start_study", "forward"):
        case = transition(client, bawaslu, case, action, effective_date="2024-08-05")
    case = transition(client, bkn, case, "recommend", effective_date="2024-09-11", **_fields(Action.RECOMMEND))
    case = transition(
        client, bkn, case, "impose_sanction", effective_date="2024-09-20", sanction_code=SANCTION, reference_number=SK
    )
    archive = {
        "archive_of": "KASN",
        "recorded_on": "2024-08-12",
        "nip": case["nip"],
        "name": case["name"],
        "instansi_code": case["instansi_code"],
        "province_code": case["province_code"],
        "regency": case["regency"],
        "election_type": case["election_type"],
        "election_year": case["election_year"],
        "phase": case["phase"],
        "violation_code": case["violation_code"],
        "stage": "DITERUSKAN",
        "reported_date": case["reported_date"],
        "reference_number": "B-77/KASN/08/2024",
    }
    imported = client.post(f"{CASES}/{case['id']}/archived-records", json=archive, headers=bkn)
    assert imported.status_code == 201, imported.text
    assert (imported.json()["agency"], imported.json()["imported_by"]) == ("KASN", "BKN")
    assert _open_findings(client, auth_headers, case) == []
