"""Case exports for people: a CSV that Excel opens as written, and an XLSX workbook with one sheet per table.

Both put the label next to each code (violation form and its category, stage, sanction, agency, position category,
province, employee kind: the reference tables, and ``app.reference.labels`` for stages and categories) and keep
every identifier (NIP, ids, case and letter numbers, province code) as text, so a spreadsheet never turns an 18-digit
NIP into ``1.99E+17`` and drops its serial digits (docs/decisions/0014-exports-for-spreadsheets.md).

CSV: UTF-8 with a byte-order mark (without it Excel reads UTF-8 as the ANSI code page and breaks names such as
"Sulawesi Selatan – Gowa" or "Muh. Ma'ruf"), the separator chosen by the caller, and, in the Excel form (the
default), identifiers written as ``="196608011988031001"``: Excel, LibreOffice and Google Sheets evaluate that formula
to the text itself, while a quoted field (``"196608011988031001"``) is still converted to a number: CSV quoting only
delimits, it does not type. A leading tab or apostrophe would also keep the digits but stays in the cell's value.
Free text that Excel would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets
a leading apostrophe (OWASP CSV injection). The plain form (``excel=false``) writes raw values, for scripts.

XLSX: openpyxl's write-only mode, rows flushed to a temporary file per sheet as they are written (memory stays
bounded whatever the number of cases); every string is a string cell (never a formula), identifier columns carry
the text format ``@``, dates are dates, timestamps ISO 8601 text (Excel has no time zones), the header row is
frozen and filterable.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy.orm import Session, sessionmaker

from app.cases.schemas import AgencyRecordRead, CaseRead
from app.core.db import transaction
from app.reference import labels as reference_labels
from app.reference import repository as reference_repository
from app.reference.models import (
    AgencyRef,
    EmployeeKind,
    Instansi,
    PositionCategory,
    Province,
    Sanction,
    ViolationForm,
)

Separator = Literal[",", ";"]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8; header=present"
BOM = "\ufeff"
CHUNK_CHARS = 64_000
IDENTIFIERS = frozenset(
    {
        "id",
        "case_id",
        "case_number",
        "nip",
        "province_code",
        "instansi_code",
        "recommendation_number",
        "reference_number",
        "external_id",
    }
)
"""Columns written as text whatever their content (an external id or a letter number may be all digits; a
kabupaten's code "73.10" would otherwise become the number 73.1)."""
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
EXCEL_FORMULA_TEXT_MAX = 255
"""Longest string literal an Excel formula takes; a longer identifier gets the apostrophe instead."""


@dataclass(frozen=True)
class Labels:
    """Code -> label of every vocabulary an export labels, read once per export."""

    agencies: Mapping[str, str]
    violation_titles: Mapping[str, str]
    violation_categories: Mapping[str, str]
    category_titles: Mapping[str, str]
    sanctions: Mapping[str, str]
    stages: Mapping[str, str]
    position_categories: Mapping[str, str]
    employee_kinds: Mapping[str, str]
    provinces: Mapping[str, str]
    instansi: Mapping[str, str]

    @classmethod
    def read(cls, factory: sessionmaker[Session]) -> Labels:
        """Read in a short transaction of its own (a streamed export reads its batches in others)."""
        with transaction(factory) as session:
            return cls.load(session)

    @classmethod
    def load(cls, session: Session) -> Labels:
        forms = reference_repository.list_all(session, ViolationForm, ViolationForm.code)
        return cls(
            agencies={a.code: a.name for a in reference_repository.list_all(session, AgencyRef, AgencyRef.code)},
            violation_titles={form.code: form.title for form in forms},
            violation_categories={form.code: form.category for form in forms},
            category_titles=reference_labels.titles("violation_category"),
            sanctions={s.code: s.title for s in reference_repository.list_all(session, Sanction, Sanction.code)},
            stages=reference_labels.titles("stage"),
            position_categories={
                p.code: p.title for p in reference_repository.list_all(session, PositionCategory, PositionCategory.code)
            },
            employee_kinds={
                k.code: k.title for k in reference_repository.list_all(session, EmployeeKind, EmployeeKind.code)
            },
            provinces={p.code: p.name for p in reference_repository.list_all(session, Province, Province.code)},
            instansi={i.code: i.name for i in reference_repository.list_all(session, Instansi, Instansi.code)},
        )

    def _labelled(self) -> dict[str, list[tuple[str, Callable[[Any], str | None]]]]:
        """For a code column: the label columns written right after it, each with its lookup."""

        def lookup(table: Mapping[str, str]) -> Callable[[Any], str | None]:
            return lambda code: None if code is None else table.get(str(code))

        def category_title(code: Any) -> str | None:
            category = lookup(self.violation_categories)(code)
            return None if category is None else self.category_titles.get(category)

        def agency(prefix: str) -> list[tuple[str, Callable[[Any], str | None]]]:
            return [(f"{prefix}_name", lookup(self.agencies))]

        def sanction(prefix: str) -> list[tuple[str, Callable[[Any], str | None]]]:
            return [(f"{prefix}_title", lookup(self.sanctions))]

        return {
            "agency": agency("agency"),
            "employee_kind": [("employee_kind_label", lookup(self.employee_kinds))],
            "position_category": [("position_category_label", lookup(self.position_categories))],
            "province_code": [("province_name", lookup(self.provinces))],
            "instansi_code": [("instansi_name", lookup(self.instansi))],
            "violation_code": [
                ("violation_title", lookup(self.violation_titles)),
                ("violation_category", lookup(self.violation_categories)),
                ("violation_category_label", category_title),
            ],
            "stage": [("stage_label", lookup(self.stages))],
            "recommended_by": agency("recommended_by"),
            "recommended_sanction_code": sanction("recommended_sanction"),
            "imposed_sanction_code": sanction("imposed_sanction"),
            "created_by_agency": agency("created_by_agency"),
        }

    def columns(self, fields: Iterable[str]) -> list[Column]:
        """One column per field, in order, each code followed by its label columns."""
        labelled = self._labelled()
        columns: list[Column] = []
        for name in fields:
            columns.append(Column(name, field_value(name), identifier=name in IDENTIFIERS))
            columns.extend(Column(label, field_value(name, lookup)) for label, lookup in labelled.get(name, []))
        return columns

    def case_columns(self) -> list[Column]:
        return self.columns(CaseRead.state_fields())

    def record_columns(self) -> list[Column]:
        """An agency record, with its case's number next to the case id for people."""
        fields = AgencyRecordRead.state_fields()
        fields.insert(fields.index("case_id") + 1, "case_number")
        return self.columns(fields)


def field_value(name: str, label: Callable[[Any], str | None] | None = None) -> Callable[[Mapping[str, Any]], Any]:
    if label is None:
        return lambda row: row.get(name)
    return lambda row: label(row.get(name))


@dataclass(frozen=True)
class Column:
    name: str
    value: Callable[[Mapping[str, Any]], Any]
    identifier: bool = False


def case_row(case: CaseRead) -> dict[str, Any]:
    return case.model_dump()


def record_rows(records: Sequence[AgencyRecordRead], case_numbers: Mapping[uuid.UUID, str]) -> list[dict[str, Any]]:
    return [{**record.model_dump(), "case_number": case_numbers.get(record.case_id)} for record in records]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list):
        return " ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _csv_cell(column: Column, row: Mapping[str, Any], excel: bool) -> str:
    value = column.value(row)
    text = _text(value)
    if not excel or not text or (isinstance(value, int | float) and not column.identifier):
        return text  # a number the service computed (a count, a delta of -2) is a number, not a formula
    if column.identifier and len(text) <= EXCEL_FORMULA_TEXT_MAX:
        return '="' + text.replace('"', '""') + '"'
    if text.startswith(FORMULA_TRIGGERS) or column.identifier:
        return "'" + text
    return text


@dataclass(frozen=True)
class CsvFormat:
    sep: Separator = ","
    excel: bool = True
    """Identifiers as ``="…"`` and formula-like text with a leading ``'``; False: raw values."""


def csv_chunks(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], form: CsvFormat) -> Iterator[str]:
    """The CSV text in chunks of about 64 kB: byte-order mark, header row, one line per row (CRLF, RFC 4180)."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=form.sep, lineterminator="\r\n")
    writer.writerow([column.name for column in columns])
    for row in rows:
        writer.writerow([_csv_cell(column, row, form.excel) for column in columns])
        if buffer.tell() > CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class Sheet:
    """One write-only sheet: bold, frozen, filterable header; string cells never formulas; identifiers as text."""

    def __init__(self, workbook: Workbook, title: str, columns: Sequence[Column]) -> None:
        sheet = workbook.create_sheet(title)
        assert isinstance(sheet, WriteOnlyWorksheet)
        self.sheet, self.columns, self.rows = sheet, columns, 0
        for number, column in enumerate(columns, start=1):
            # column_dimensions and auto_filter are set up on write-only sheets too; types-openpyxl misses them
            sheet.column_dimensions[get_column_letter(number)].width = 22 if column.identifier else 16  # type: ignore[attr-defined]
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for column in columns:
            cell = WriteOnlyCell(sheet, column.name)
            cell.font = bold
            header.append(cell)
        sheet.append(header)

    def _cell(self, column: Column, value: Any) -> Any:
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, uuid.UUID | list | dt.datetime):
            value = _text(value)
        if not isinstance(value, str):
            return value
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if not column.identifier and not value.startswith("="):
            return value
        cell = WriteOnlyCell(self.sheet, value)
        cell.data_type = "s"  # openpyxl would store "=..." as a formula
        if column.identifier:
            cell.number_format = "@"
        return cell

    def append(self, row: Mapping[str, Any]) -> None:
        self.sheet.append([self._cell(column, column.value(row)) for column in self.columns])
        self.rows += 1

    def finish(self) -> None:
        last = get_column_letter(max(len(self.columns), 1))
        self.sheet.auto_filter.ref = f"A1:{last}{self.rows + 1}"  # type: ignore[attr-defined]


class CaseWorkbook:
    """The XLSX export: sheets ``cases`` and ``agency_records``, then ``export`` (when, which filters, counts)."""

    def __init__(self, labels: Labels) -> None:
        self.workbook = Workbook(write_only=True)
        self.cases = Sheet(self.workbook, "cases", labels.case_columns())
        self.records = Sheet(self.workbook, "agency_records", labels.record_columns())

    def add(self, cases: Sequence[CaseRead], records: Sequence[AgencyRecordRead]) -> None:
        position = {case.id: number for number, case in enumerate(cases)}
        for case in cases:
            self.cases.append(case_row(case))
        ordered = sorted(records, key=lambda record: (position.get(record.case_id, -1), record.agency))
        for row in record_rows(ordered, {case.id: case.case_number for case in cases}):
            self.records.append(row)

    def save(self, target: IO[bytes], about: Sequence[tuple[str, str]]) -> None:
        """Close the sheets and write the workbook (a zip) to ``target``."""
        self.cases.finish()
        self.records.finish()
        sheet = self.workbook.create_sheet("export")
        for key, value in [("cases", str(self.cases.rows)), ("agency_records", str(self.records.rows)), *about]:
            sheet.append([key, ILLEGAL_CHARACTERS_RE.sub("", value)])
        self.workbook.save(target)
