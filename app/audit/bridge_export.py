"""The count bridge as tables for people: CSV (UTF-8 with a byte-order mark) and XLSX (openpyxl), every id and
code written as text so a spreadsheet never turns it into a number."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from app.audit.bridge import CountBridgeRead

SUMMARY_COLUMNS = (
    "unit", "period_from", "period_to", "as_of", "tree_size", "checkpoint_tree_size", "national", "agency",
    "agency_count", "delta",
)  # fmt: skip
CAUSE_COLUMNS = ("agency", "cause", "effect", "count", "description")
CASE_COLUMNS = ("agency", "cause", "effect", "case_id")
CSV_COLUMNS = (*SUMMARY_COLUMNS, "cause", "effect", "case_id")
TEXT = "@"


Cell = str | int | None


def _summary(bridge: CountBridgeRead) -> Iterator[list[Cell]]:
    position = bridge.consistent_with
    for agency in bridge.agencies:
        yield [
            bridge.unit.value,
            bridge.period_from.isoformat(),
            bridge.period_to.isoformat(),
            position.as_of.isoformat(),
            position.tree_size,
            position.checkpoint_tree_size,
            bridge.national,
            agency.agency.value,
            agency.count,
            agency.delta,
        ]


def to_csv(bridge: CountBridgeRead) -> bytes:
    """One row per case behind a cause (an agency with no difference gets one row without a cause); text is
    quoted, numbers are not, so Excel keeps ids as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(CSV_COLUMNS)
    for summary, agency in zip(_summary(bridge), bridge.agencies, strict=True):
        if not agency.causes:
            writer.writerow([*summary, "", "", ""])
        for cause in agency.causes:
            for case_id in cause.case_ids:
                writer.writerow([*summary, cause.cause.value, cause.effect, str(case_id)])
    return ("\ufeff" + buffer.getvalue()).encode()


def to_xlsx(bridge: CountBridgeRead) -> bytes:
    """Three sheets (agencies, causes, cases), header rows frozen, every id and code a text cell."""
    workbook = Workbook()
    agencies = workbook.active
    assert agencies is not None  # a new workbook always has one sheet
    agencies.title = "agencies"
    causes = workbook.create_sheet("causes")
    cases = workbook.create_sheet("cases")
    tables: tuple[tuple[Worksheet, tuple[str, ...], list[list[Cell]]], ...] = (
        (agencies, SUMMARY_COLUMNS, list(_summary(bridge))),
        (
            causes,
            CAUSE_COLUMNS,
            [
                [agency.agency.value, cause.cause.value, cause.effect, cause.count, cause.description]
                for agency in bridge.agencies
                for cause in agency.causes
            ],
        ),
        (
            cases,
            CASE_COLUMNS,
            [
                [agency.agency.value, cause.cause.value, cause.effect, str(case_id)]
                for agency in bridge.agencies
                for cause in agency.causes
                for case_id in cause.case_ids
            ],
        ),
    )
    for sheet, header, rows in tables:
        sheet.append(list(header))
        for row in rows:
            sheet.append(row)
        for line in sheet.iter_rows(min_row=2):
            for cell in line:
                if isinstance(cell.value, str):
                    cell.number_format = TEXT
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
