"""Reference data is seeded by migration and readable through the API."""

from __future__ import annotations

from collections import Counter

from fastapi.testclient import TestClient

from tests.auth_helpers import AuthHeaders


def test_agencies_include_kasn_with_its_end_and_successor(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.get("/api/v1/reference/agencies", headers=auth_headers("BKN"))
    assert response.status_code == 200
    agencies = {row["code"]: row for row in response.json()}
    assert set(agencies) == {"BAWASLU", "KASN", "BKN", "KEMENDAGRI", "KEMENPANRB"}
    assert agencies["KASN"]["valid_to"] == "2024-08-24"
    assert agencies["KASN"]["successor_code"] == "BKN"


def test_violation_catalogue_has_7_ethics_and_13_disciplinary_forms(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    forms = client.get("/api/v1/reference/violation-forms", headers=auth_headers("BAWASLU")).json()
    assert Counter(form["category"] for form in forms) == {"KODE_ETIK": 7, "DISIPLIN": 13}
    assert {form["phase"] for form in forms if form["category"] == "KODE_ETIK"} == {"BAKAL_CALON"}
    d5 = next(form for form in forms if form["code"] == "D-5")
    assert d5["default_sanction_level"] == "PTDH"


def test_sanction_catalogue_covers_moral_pp94_ptdh_and_legacy(client: TestClient, auth_headers: AuthHeaders) -> None:
    sanctions = client.get("/api/v1/reference/sanctions", headers=auth_headers("auditor")).json()
    levels = {row["level"] for row in sanctions if not row["legacy"]}
    assert levels == {"MORAL", "RINGAN", "SEDANG", "BERAT", "PTDH"}
    assert any(row["legacy"] and row["code"] == "LEGACY_PENUNDAAN_KGB" for row in sanctions)


def test_provinces_employee_kinds_and_position_categories(client: TestClient, auth_headers: AuthHeaders) -> None:
    headers = auth_headers("KEMENDAGRI")
    assert len(client.get("/api/v1/reference/provinces", headers=headers).json()) == 38
    kinds = {row["code"] for row in client.get("/api/v1/reference/employee-kinds", headers=headers).json()}
    assert kinds == {"PNS", "PPPK"}
    categories = client.get("/api/v1/reference/position-categories", headers=headers).json()
    assert {"JPT", "FUNGSIONAL", "PELAKSANA", "KEPALA_WILAYAH"} <= {row["code"] for row in categories}
