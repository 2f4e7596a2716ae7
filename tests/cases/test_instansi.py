"""Instansi on cases over HTTP: a known code, in the case's province, and the PPK sanctioned by its supervisor."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.cases.models import Case
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload, create_case, transition

CASES = "/api/v1/cases"
# Late 2024: KASN has ended, BKN recommends; the reprimand and the PPK sanction come after their deadlines (10 and 3
# working days).
TO_REPRIMAND = [
    ("verify", "BAWASLU", "2024-09-06", {}),
    ("start_study", "BAWASLU", "2024-09-07", {}),
    ("forward", "BAWASLU", "2024-09-09", {}),
    ("recommend", "BKN", "2024-09-11", {"sanction_code": "BERAT_PENURUNAN_JABATAN", "reference_number": "R-1/BKN"}),
    ("reprimand", "BKN", "2024-09-27", {}),
]


def _reprimanded(client: TestClient, auth_headers: AuthHeaders, **overrides: Any) -> dict[str, Any]:
    case = create_case(
        client, auth_headers("BAWASLU"), incident_date="2024-09-03", reported_date="2024-09-05", **overrides
    )
    for action, agency, on, fields in TO_REPRIMAND:
        case = transition(client, auth_headers(agency), case, action, effective_date=on, **fields)
    return case


def _sanction_ppk(client: TestClient, headers: dict[str, str], case: dict[str, Any]) -> Any:
    return client.post(
        f"{CASES}/{case['id']}/transitions",
        json={"action": "sanction_ppk", "effective_date": "2024-10-03"},
        headers=headers | {"If-Match": f'"{case["version"]}"'},
    )


def test_the_case_carries_its_instansi_code_and_the_unit_as_reported(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = create_case(
        client, auth_headers("BAWASLU"), instansi_code="73.71", instansi="Dinas Pendidikan Kota Makassar"
    )
    assert (case["instansi_code"], case["instansi"]) == ("73.71", "Dinas Pendidikan Kota Makassar")
    payload = case_payload(instansi_code="73.08")
    del payload["instansi"]  # no unit given: the instansi's name
    named = client.post(CASES, json=payload, headers=auth_headers("BAWASLU")).json()
    assert (named["instansi_code"], named["instansi"]) == ("73.08", "Pemerintah Kabupaten Bone")
    records = client.get(f"{CASES}/{case['id']}/records", headers=auth_headers("auditor")).json()
    assert [record["instansi_code"] for record in records] == ["73.71"]  # the creating agency's record too


def test_an_unknown_instansi_code_is_a_422_naming_the_field(client: TestClient, auth_headers: AuthHeaders) -> None:
    for code in ("73.99", "KEMENTERIANFIKTIF"):
        response = client.post(CASES, json=case_payload(instansi_code=code), headers=auth_headers("BAWASLU"))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert [param["name"] for param in problem["invalid_params"]] == ["body.instansi_code"]
        assert code in problem["detail"]
        assert "/api/v1/reference" in problem["detail"]
    malformed = client.post(CASES, json=case_payload(instansi_code="kota makassar"), headers=auth_headers("BKN"))
    assert malformed.status_code == 422
    assert "instansi_code" in malformed.text
    assert client.get(CASES, headers=auth_headers("auditor")).json()["items"] == []  # nothing half-written


def test_a_regional_instansi_of_another_province_is_a_422(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.post(
        CASES,
        json=case_payload(instansi_code="73.71", province_code="32", regency="Kota Bandung"),
        headers=auth_headers("BAWASLU"),
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert {param["name"] for param in problem["invalid_params"]} == {"body.province_code", "body.instansi_code"}
    assert "Pemerintah Kota Makassar" in problem["detail"]
    assert "province 73, not 32" in problem["detail"]
    # a kementerian's ASN work in every province: any province agrees with a central instansi
    central = create_case(client, auth_headers("BAWASLU"), instansi_code="KEMENAG", province_code="32")
    assert (central["instansi_code"], central["province_code"]) == ("KEMENAG", "32")


def test_an_agency_record_takes_a_known_instansi_code(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    url, bkn = f"{CASES}/{case['id']}/records", auth_headers("BKN")
    unknown = client.post(url, json={"instansi_code": "99.99"}, headers=bkn)
    assert unknown.status_code == 422
    assert [param["name"] for param in unknown.json()["invalid_params"]] == ["body.instansi_code"]
    record = client.post(url, json={"instansi_code": "KEMENAG", "stage": "DITERIMA"}, headers=bkn)
    assert record.status_code == 201, record.text
    assert record.json()["instansi_code"] == "KEMENAG"  # an agency's own view, compared by reconciliation
    checked = client.post(f"/api/v1/reconciliation/cases/{case['id']}/check", headers=bkn)
    assert checked.status_code == 200, checked.text
    (finding,) = [f for f in checked.json()["findings"] if f["rule"] == "INSTANSI_MISMATCH"]
    assert (finding["severity"], finding["agencies"]) == ("HIGH", ["BKN"])  # KemenPANRB would supervise the PPK


def test_kemendagri_sanctions_the_ppk_of_a_pemerintah_daerah_and_kemenpanrb_may_not(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _reprimanded(client, auth_headers, instansi_code="73.08", instansi="RSUD Kabupaten Bone")
    refused = _sanction_ppk(client, auth_headers("KEMENPANRB"), case)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/agency-not-permitted")
    assert "Pemerintah Kabupaten Bone" in problem["detail"]
    assert "by KEMENDAGRI, not KEMENPANRB" in problem["detail"]
    assert "kepala daerah" in problem["detail"]
    assert (problem["instansi_kind"], problem["ppk_supervisor"]) == ("KABUPATEN", "KEMENDAGRI")
    unchanged = client.get(f"{CASES}/{case['id']}", headers=auth_headers("auditor")).json()
    assert (unchanged["stage"], unchanged["version"]) == ("TEGURAN_BKN", case["version"])
    done = _sanction_ppk(client, auth_headers("KEMENDAGRI"), case)
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "PPK_DISANKSI"


def test_kemenpanrb_sanctions_the_ppk_of_a_kementerian_and_kemendagri_may_not(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _reprimanded(
        client, auth_headers, instansi_code="KEMENAG", instansi="Kantor Kementerian Agama Kota Makassar"
    )
    refused = _sanction_ppk(client, auth_headers("KEMENDAGRI"), case)
    assert refused.status_code == 403, refused.text
    assert "by KEMENPANRB, not KEMENDAGRI" in refused.json()["detail"]
    assert refused.json()["instansi_code"] == "KEMENAG"
    assert _sanction_ppk(client, auth_headers("KEMENPANRB"), case).json()["stage"] == "PPK_DISANKSI"


def test_a_case_without_instansi_code_cannot_have_its_ppk_sanctioned(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    """A case from before instansi were reference data whose text matched none (migration 0009 leaves it NULL)."""
    case = _reprimanded(client, auth_headers)
    with app.state.sessionmaker() as session, session.begin():
        session.execute(update(Case).where(Case.case_number == case["case_number"]).values(instansi_code=None))
    for agency in ("KEMENDAGRI", "KEMENPANRB"):
        response = _sanction_ppk(client, auth_headers(agency), case)
        assert response.status_code == 409, response.text
        assert "no instansi code" in response.json()["detail"]
    # BKN sets the instansi (an audited update with If-Match): the PPK's supervisor follows, and acts
    coded = client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"instansi_code": "73.06"},
        headers=auth_headers("BKN") | {"If-Match": f'"{case["version"]}"'},
    )
    assert coded.status_code == 200, coded.text
    assert _sanction_ppk(client, auth_headers("KEMENPANRB"), coded.json()).status_code == 403
    sanctioned = _sanction_ppk(client, auth_headers("KEMENDAGRI"), coded.json())
    assert sanctioned.status_code == 200, sanctioned.text


def test_cases_are_filtered_by_instansi_code(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu, auditor = auth_headers("BAWASLU"), auth_headers("auditor")
    makassar = create_case(client, bawaslu, instansi_code="73.71")
    create_case(client, bawaslu, instansi_code="73.08")
    page = client.get(CASES, params={"instansi_code": "73.71"}, headers=auditor).json()
    assert [case["id"] for case in page["items"]] == [makassar["id"]]
    assert client.get(CASES, params={"instansi_code": "kota makassar"}, headers=auditor).status_code == 422
