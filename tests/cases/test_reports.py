"""Reports over HTTP: the cases of one incident share Bawaslu's nomor register and are read as one report."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload, create_case, transition
from tests.problems import assert_problem

REGISTER = "045/Reg/LP/PB/Kab/73.06/X/2024"
"""A Bawaslu register number as its letters write it: slashes included."""
INCIDENT = {"incident_date": "2024-10-02", "reported_date": "2024-10-03"}


def _three_asn_incident(client: TestClient, auth_headers: AuthHeaders) -> list[dict[str, object]]:
    """A camat and two lurah at one campaign event, registered once by Bawaslu Kabupaten Gowa."""
    headers = auth_headers("BAWASLU")
    names = ["Drs. Amir Santoso, M.Si.", "Siti Rahmawati, S.Sos.", "Andi Baso, S.IP."]
    return [create_case(client, headers, name=name, register_number=REGISTER, **INCIDENT) for name in names]


def test_a_three_asn_incident_is_one_report_with_three_cases(client: TestClient, auth_headers: AuthHeaders) -> None:
    cases = _three_asn_incident(client, auth_headers)
    create_case(client, auth_headers("BAWASLU"), register_number="046/Reg/LP/PB/Kab/73.06/X/2024")
    transition(client, auth_headers("BAWASLU"), cases[0], "verify", effective_date="2024-10-04")

    response = client.get(f"/api/v1/reports/{REGISTER}", headers=auth_headers("BKN"))

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["register_number"] == REGISTER
    assert [case["id"] for case in report["cases"]] == [case["id"] for case in cases]
    assert [case["stage"] for case in report["cases"]] == ["TERVERIFIKASI", "DITERIMA", "DITERIMA"]
    assert {case["register_number"] for case in report["cases"]} == {REGISTER}
    # the report returns three names and NIPs: the auditor sees each read in the read log
    log = client.get(
        "/api/v1/audit/read-log", params={"client_id": "test-bkn"}, headers=auth_headers("auditor")
    ).json()["items"]
    assert sorted((entry["operation"], entry["case_id"]) for entry in log) == sorted(
        ("get_report", case["id"]) for case in cases
    )


def test_the_register_number_may_be_sent_percent_encoded(client: TestClient, auth_headers: AuthHeaders) -> None:
    _three_asn_incident(client, auth_headers)
    response = client.get(f"/api/v1/reports/{REGISTER.replace('/', '%2F')}", headers=auth_headers("KEMENDAGRI"))
    assert response.status_code == 200, response.text
    assert len(response.json()["cases"]) == 3


def test_the_case_list_filters_by_register_number(client: TestClient, auth_headers: AuthHeaders) -> None:
    cases = _three_asn_incident(client, auth_headers)
    create_case(client, auth_headers("BAWASLU"))
    response = client.get("/api/v1/cases", params={"register_number": REGISTER}, headers=auth_headers("BKN"))
    assert response.status_code == 200, response.text
    assert sorted(item["id"] for item in response.json()["items"]) == sorted(str(case["id"]) for case in cases)


def test_a_case_without_a_register_number_belongs_to_no_report(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    assert case["register_number"] is None


def test_an_unknown_register_number_is_a_404_problem(client: TestClient, auth_headers: AuthHeaders) -> None:
    _three_asn_incident(client, auth_headers)
    problem = assert_problem(client.get("/api/v1/reports/999/Reg/LP/2024", headers=auth_headers("BKN")), 404)
    assert problem["type"].endswith("/not-found")
    assert "999/Reg/LP/2024" in problem["detail"]


def test_a_register_number_over_100_characters_is_refused(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.post(
        "/api/v1/cases",
        json=case_payload(register_number="R" * 101),
        headers=auth_headers("BAWASLU"),
    )
    assert_problem(response, 422)
    assert_problem(client.get(f"/api/v1/reports/{'R' * 101}", headers=auth_headers("BKN")), 422)
