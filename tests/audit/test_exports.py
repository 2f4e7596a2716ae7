"""Case exports for people: the XLSX workbook and the spreadsheet CSV, opened as a user's tools open them."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from app.api.parameters import csv_separator_for
from app.reference.labels import titles
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, make_nip, transition

EXPORTS = "/api/v1/audit/exports"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_LIKE = '=HYPERLINK("http://contoh.invalid","klik") -2+3 @SUM'


@pytest.fixture
def exported(client: TestClient, auth_headers: AuthHeaders) -> dict[str, Any]:
    """Three cases in Gowa (one verified, one with formula-like text, one with BKN's record) and one elsewhere."""
    bawaslu = auth_headers("BAWASLU")
    first = transition(client, bawaslu, create_case(client, bawaslu), "verify", effective_date="2024-01-05")
    second = create_case(client, bawaslu, summary=FORMULA_LIKE, external_id="000123", violation_code="KE-4")
    third = create_case(client, bawaslu)
    bkn_nip = make_nip()
    record = client.post(
        f"/api/v1/cases/{third['id']}/records",
        json={"nip": bkn_nip, "name": "Amir Santoso", "recommended_sanction_code": "RINGAN_TEGURAN_TERTULIS"},
        headers=auth_headers("BKN"),
    )
    assert record.status_code == 201, record.text
    create_case(client, bawaslu, province_code="31", regency="Kota Jakarta Pusat")
    auditor = auth_headers("auditor")
    reference = {
        name: client.get(f"/api/v1/reference/{name}", headers=auditor).json()
        for name in ("violation-forms", "agencies", "sanctions", "provinces")
    }
    records = {
        case["id"]: client.get(f"/api/v1/cases/{case['id']}/records", headers=auditor).json()
        for case in (first, second, third)
    }
    return {"cases": [first, second, third], "records": records, "reference": reference, "bkn_nip": bkn_nip}


def _by_code(items: list[dict[str, Any]], label: str) -> dict[str, str]:
    return {item["code"]: item[label] for item in items}


def _rows(sheet: Worksheet) -> list[dict[str, Any]]:
    header, *body = sheet.iter_rows()
    names = [str(cell.value) for cell in header]
    return [dict(zip(names, row, strict=True)) for row in body]


def test_the_workbook_keeps_every_nip_as_text_with_labels_next_to_codes(
    client: TestClient, auth_headers: AuthHeaders, exported: dict[str, Any]
) -> None:
    response = client.get(f"{EXPORTS}/cases.xlsx", params={"province_code": "73"}, headers=auth_headers("auditor"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == 'attachment; filename="cases.xlsx"'
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["cases", "agency_records", "export"]
    cases, records = book["cases"], book["agency_records"]
    assert cases.freeze_panes == "A2"
    assert records.freeze_panes == "A2"
    assert all(cell.font.b for cell in next(cases.iter_rows()))

    rows = _rows(cases)
    expected = exported["cases"]
    assert [row["id"].value for row in rows] == [case["id"] for case in expected]
    forms = exported["reference"]["violation-forms"]
    agencies = _by_code(exported["reference"]["agencies"], "name")
    for row, case in zip(rows, expected, strict=True):
        nip = row["nip"]
        assert (nip.value, nip.data_type, nip.number_format) == (case["nip"], "s", "@")
        assert len(nip.value) == 18
        assert row["violation_code"].value == case["violation_code"]
        form = next(form for form in forms if form["code"] == case["violation_code"])
        assert row["violation_title"].value == form["title"]
        assert row["violation_category"].value == form["category"]
        assert row["violation_category_label"].value == titles("violation_category")[form["category"]]
        assert (row["stage"].value, row["stage_label"].value) == (case["stage"], titles("stage")[case["stage"]])
        assert row["created_by_agency_name"].value == agencies["BAWASLU"] == "Badan Pengawas Pemilihan Umum"
        assert row["province_name"].value == _by_code(exported["reference"]["provinces"], "name")["73"]
        instansi = row["instansi_code"]  # "73.06" stays text, never the number 73.06
        assert (instansi.value, instansi.data_type, row["instansi_name"].value) == (
            "73.06",
            "s",
            "Pemerintah Kabupaten Gowa",
        )
        assert row["reported_date"].is_date
        assert row["reported_date"].value.date().isoformat() == case["reported_date"]
        assert row["created_at"].value == case["created_at"].replace("Z", "+00:00")
    verified, received = (row["stage_label"].value for row in rows[:2])
    assert (verified, received) == ("Terverifikasi dan teregistrasi", "Laporan/temuan diterima")
    formula_like = rows[1]["summary"]
    assert (formula_like.value, formula_like.data_type) == (FORMULA_LIKE, "s")  # text, never a formula

    record_rows = _rows(records)
    held = [(record["case_id"], record["agency"]) for case in expected for record in exported["records"][case["id"]]]
    assert [(row["case_id"].value, row["agency"].value) for row in record_rows] == held
    bkn = next(row for row in record_rows if row["agency"].value == "BKN")
    assert (bkn["nip"].value, bkn["nip"].data_type) == (exported["bkn_nip"], "s")
    assert bkn["case_number"].value == expected[2]["case_number"]
    assert bkn["agency_name"].value == "Badan Kepegawaian Negara"
    sanctions = _by_code(exported["reference"]["sanctions"], "title")
    assert bkn["recommended_sanction_title"].value == sanctions["RINGAN_TEGURAN_TERTULIS"]
    assert all(len(row["nip"].value) == 18 and row["nip"].data_type == "s" for row in record_rows)
    numeric_id = next(row["external_id"] for row in record_rows if row["case_id"].value == expected[1]["id"])
    assert (numeric_id.value, numeric_id.data_type, numeric_id.number_format) == ("000123", "s", "@")

    about = {str(key): value for key, value in book["export"].iter_rows(values_only=True)}
    assert about["cases"] == "3"
    assert about["agency_records"] == str(len(record_rows))
    assert about["filters"] == '{"province_code": "73"}'
    assert about["client_id"] == "test-auditor"


def test_the_csv_opens_in_a_spreadsheet_with_bom_separator_text_nips_and_labels(
    client: TestClient, auth_headers: AuthHeaders, exported: dict[str, Any]
) -> None:
    auditor = auth_headers("auditor")
    indonesian = client.get(
        f"{EXPORTS}/cases.csv", params={"province_code": "73"}, headers=auditor | {"Accept-Language": "id-ID,id;q=0.9"}
    )
    assert indonesian.status_code == 200, indonesian.text
    assert indonesian.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    assert indonesian.headers["vary"] == "Accept-Language"
    assert indonesian.content.startswith(b"\xef\xbb\xbf")
    text = indonesian.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id;case_number;nip;name;")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    expected = exported["cases"]
    assert [row["id"] for row in rows] == [f'="{case["id"]}"' for case in expected]
    for row, case in zip(rows, expected, strict=True):
        assert row["nip"] == f'="{case["nip"]}"'  # what Excel evaluates to the 18-digit text
        assert len(row["nip"].removeprefix('="').removesuffix('"')) == 18
        assert row["stage_label"] == titles("stage")[case["stage"]]
        assert row["created_by_agency_name"] == "Badan Pengawas Pemilihan Umum"
        assert row["violation_title"]
        assert row["violation_category_label"].startswith("Pelanggaran ")
    assert rows[1]["summary"] == "'" + FORMULA_LIKE  # a spreadsheet shows it as text instead of running it

    english = client.get(f"{EXPORTS}/cases.csv", params={"province_code": "73", "excel": "false"}, headers=auditor)
    plain = list(csv.DictReader(io.StringIO(english.content.decode("utf-8-sig"))))  # "," without Accept-Language
    assert [row["nip"] for row in plain] == [case["nip"] for case in expected]
    assert all(len(row["nip"]) == 18 for row in plain)
    assert plain[1]["summary"] == FORMULA_LIKE

    chosen = client.get(
        f"{EXPORTS}/cases.csv", params={"province_code": "73", "sep": ","}, headers=auditor | {"Accept-Language": "id"}
    )
    assert chosen.content.decode("utf-8-sig").splitlines()[0].startswith("id,case_number,nip,")
    refused = client.get(f"{EXPORTS}/cases.csv", params={"sep": "|"}, headers=auditor)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("accept_language", "separator"),
    [
        (None, ","),
        ("id", ";"),
        ("ID-id", ";"),
        ("id-ID,id;q=0.9,en-US;q=0.8", ";"),
        ("en-US,en;q=0.9,id;q=0.8", ","),
        ("en;q=0.5, id", ";"),
        ("en, id", ","),
        ("id;q=0, en;q=0.1", ","),
        ("id;q=oops, en", ","),
        ("*", ","),
    ],
)
def test_the_default_separator_follows_the_preferred_language(accept_language: str | None, separator: str) -> None:
    assert csv_separator_for(accept_language) == separator


@pytest.mark.parametrize("export", ["cases.xlsx", "cases.csv"])
def test_every_case_and_record_exported_is_in_the_read_audit(
    client: TestClient, auth_headers: AuthHeaders, exported: dict[str, Any], export: str
) -> None:
    auditor = auth_headers("auditor")
    purpose = {"X-Purpose": "Pemeriksaan BPK 2025", "X-Request-ID": f"export-{export}"}
    response = client.get(f"{EXPORTS}/{export}", params={"province_code": "73"}, headers=auditor | purpose)
    assert response.status_code == 200
    operation = "export_cases_" + export.rsplit(".", 1)[1]
    for case in exported["cases"]:
        trail = client.get("/api/v1/audit/read-log", params={"case_id": case["id"]}, headers=auditor).json()
        mine = [entry for entry in trail["items"] if entry["request_id"] == f"export-{export}"]
        assert {entry["operation"] for entry in mine} == {operation}
        assert {entry["purpose"] for entry in mine} == {"Pemeriksaan BPK 2025"}
        audited_records = {entry["record_id"] for entry in mine if entry["record_id"]}
        held = {record["id"] for record in exported["records"][case["id"]]}
        assert audited_records == (held if export == "cases.xlsx" else set())  # the CSV carries no records
        assert any(entry["record_id"] is None for entry in mine)
