"""``sbt import FILE``: the template (shipped, downloadable, written by the command), row errors before anything is
written, and a file that imports; checked over HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from app.cases.schemas import CaseCreate
from app.cases.template import SHEET, csv_template, shipped_csv_template
from app.cli import cli
from app.core.config import Settings
from tests.auth_helpers import AuthHeaders

pytestmark = pytest.mark.real_commits  # the command opens its own engine
REFERENCE = "/api/v1/reference"


def _rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "nip": f"{dt.date(1971, 1, 1) + dt.timedelta(days=i):%Y%m%d}200503{1 + i % 2}001",
            "name": f"Siti Rahma {i}",
            "instansi": "Pemerintah Kota Makassar",
            "position_category": "PELAKSANA",
            "province_code": "73",
            "regency": "Kota Makassar",
            "election_type": "PILKADA",
            "election_year": 2024,
            "violation_code": "D-6",
            "phase": "CALON",
            "source": "LAPORAN",
            "incident_date": "2024-10-02",
            "reported_date": "2024-10-04",
        }
        for i in range(count)
    ]


def _cases(client: TestClient, auth_headers: AuthHeaders) -> list[dict[str, Any]]:
    response = client.get("/api/v1/cases", headers=auth_headers("BKN"))
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _header(path: Path) -> list[str]:
    return next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _fill_xlsx(template: Path, rows: list[dict[str, Any]], target: Path) -> None:
    book = load_workbook(template)
    sheet = book[SHEET]
    header = [cell.value for cell in sheet[1]]
    for row in rows:
        sheet.append([row.get(str(name)) for name in header])
    book.save(target)


def _write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as file:
        writer = csv.DictWriter(file, fieldnames=_header_of_template(), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def _header_of_template() -> list[str]:
    return next(csv.reader(io.StringIO(csv_template())))


def _import(*arguments: str) -> Any:
    return CliRunner().invoke(cli, ["import", *arguments])


def test_the_shipped_template_is_the_schema_and_is_downloadable(
    client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    assert _header_of_template() == list(CaseCreate.model_fields)
    assert shipped_csv_template() == csv_template(), (
        "regenerate: sbt import --template app/cases/data/import-template.csv"
    )
    csv_response = client.get(f"{REFERENCE}/import-template.csv", headers=auth_headers("BAWASLU"))
    assert csv_response.status_code == 200
    assert csv_response.text.lstrip("\ufeff") == csv_template()
    xlsx_response = client.get(f"{REFERENCE}/import-template.xlsx", headers=auth_headers("BAWASLU"))
    assert xlsx_response.status_code == 200
    book = load_workbook(io.BytesIO(xlsx_response.content))
    assert [cell.value for cell in book[SHEET][1]] == _header_of_template()
    documented = {row[0]: row for row in book["columns"].iter_rows(min_row=2, values_only=True)}
    assert documented["violation_code"][1] == "yes"
    assert "D-6" in str(documented["violation_code"][3]).split()
    assert documented["summary"][1] == "no"

    written = tmp_path / "template.xlsx"
    assert _import("--template", str(written)).exit_code == 0
    assert [cell.value for cell in load_workbook(written)[SHEET][1]] == _header_of_template()


def test_an_xlsx_with_a_bad_row_reports_it_and_writes_nothing_then_the_fixed_file_imports(
    cli_env: Settings, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    template = tmp_path / "template.xlsx"
    assert _import("--template", str(template)).exit_code == 0
    rows = _rows(4)
    rows[1]["nip"] = "19710102"  # row 3 of the sheet
    del rows[2]["election_type"]  # row 4
    filled = tmp_path / "cases.xlsx"
    _fill_xlsx(template, rows, filled)
    result = _import(str(filled), "--agency", "BAWASLU")
    assert result.exit_code == 1
    assert "row 3, column nip: String should match pattern '^[0-9]{18}$'" in result.stderr
    assert "row 4, column election_type: Field required" in result.stderr
    assert "2 of 4 rows refused; nothing was imported" in result.stderr
    assert _cases(client, auth_headers) == []

    fixed = _rows(4)
    _fill_xlsx(template, fixed, filled)
    result = _import(str(filled), "--agency", "BAWASLU")
    assert result.exit_code == 0, result.output
    assert sorted(case["nip"] for case in _cases(client, auth_headers)) == sorted(row["nip"] for row in fixed)


def test_a_csv_row_the_service_refuses_is_reported_and_nothing_is_written(
    cli_env: Settings, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    rows = _rows(3)
    rows[2]["violation_code"] = "D-99"  # well-formed, but not a violation form
    path = tmp_path / "cases.csv"
    _write_csv(path, rows)
    result = _import(str(path), "--agency", "BAWASLU")
    assert result.exit_code == 1
    assert "row 4, column violation_code: unknown code 'D-99'; see /api/v1/reference" in result.stderr
    assert _cases(client, auth_headers) == []


def test_a_good_file_imports_every_row(
    cli_env: Settings, client: TestClient, auth_headers: AuthHeaders, tmp_path: Path
) -> None:
    rows = _rows(30)
    rows[0]["nip"] = f'="{rows[0]["nip"]}"'  # as SBT's own CSV export writes identifiers for Excel
    path = tmp_path / "cases.csv"
    _write_csv(path, [*rows[:10], {}, *rows[10:]], delimiter=";")  # Excel in id-ID: ';', and an empty row
    result = _import(str(path), "--agency", "BAWASLU")
    assert result.exit_code == 0, result.output
    assert "imported 30 cases" in result.stdout
    cases = _cases(client, auth_headers)
    assert sorted(case["nip"] for case in cases) == sorted(row["nip"].strip('="') for row in rows)
    assert {case["created_by_agency"] for case in cases} == {"BAWASLU"}
    entries = client.get("/api/v1/ledger/entries?limit=200", headers=auth_headers("BKN")).json()["items"]
    assert sum(entry["entry_type"] == "case.created" for entry in entries) == 30


def test_a_file_that_is_not_the_template_is_refused(cli_env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "other.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["nomor", "nama"])
    book.save(path)
    result = _import(str(path), "--agency", "BAWASLU")
    assert result.exit_code == 1
    assert "columns not in the template: nomor, nama" in result.stderr
