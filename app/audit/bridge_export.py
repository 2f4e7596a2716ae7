"""The count bridge as tables for people, written by the same spreadsheet helpers as the case exports
(``app.audit.exports``): CSV with a byte-order mark, the caller's separator and identifiers kept as text; XLSX with
sheets ``agencies``, ``causes`` and ``cases``, header rows frozen, case ids as text cells."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

from openpyxl import Workbook

from app.audit.bridge import CountBridgeRead
from app.audit.exports import Column, CsvFormat, Sheet, csv_chunks, field_value


def _columns(*names: str) -> list[Column]:
    return [Column(name, field_value(name), identifier=name == "case_id") for name in names]


SUMMARY = (
    "unit", "period_from", "period_to", "as_of", "tree_size", "checkpoint_tree_size", "national", "agency",
    "agency_count", "delta",
)  # fmt: skip
AGENCY_COLUMNS = _columns(*SUMMARY)
CAUSE_COLUMNS = _columns("agency", "cause", "effect", "count", "description")
CASE_COLUMNS = _columns("agency", "cause", "effect", "case_id")
CSV_COLUMNS = _columns(*SUMMARY, "cause", "effect", "case_id")


def _agency_rows(bridge: CountBridgeRead) -> Iterator[dict[str, Any]]:
    position = bridge.consistent_with
    for agency in bridge.agencies:
        yield {
            "unit": bridge.unit,
            "period_from": bridge.period_from,
            "period_to": bridge.period_to,
            "as_of": position.as_of.isoformat(),
            "tree_size": position.tree_size,
            "checkpoint_tree_size": position.checkpoint_tree_size,
            "national": bridge.national,
            "agency": agency.agency,
            "agency_count": agency.count,
            "delta": agency.delta,
        }


def _case_rows(bridge: CountBridgeRead) -> Iterator[Mapping[str, Any]]:
    """One row per case behind a cause; an agency with no difference gets one row without a cause."""
    for summary, agency in zip(_agency_rows(bridge), bridge.agencies, strict=True):
        if not agency.causes:
            yield summary
        for cause in agency.causes:
            for case_id in cause.case_ids:
                yield {**summary, "cause": cause.cause, "effect": cause.effect, "case_id": case_id}


def to_csv(bridge: CountBridgeRead, form: CsvFormat) -> bytes:
    return "".join(csv_chunks(CSV_COLUMNS, _case_rows(bridge), form)).encode()


def to_xlsx(bridge: CountBridgeRead) -> bytes:
    workbook = Workbook(write_only=True)
    agencies = Sheet(workbook, "agencies", AGENCY_COLUMNS)
    causes = Sheet(workbook, "causes", CAUSE_COLUMNS)
    cases = Sheet(workbook, "cases", CASE_COLUMNS)
    for row in _agency_rows(bridge):
        agencies.append(row)
    for agency in bridge.agencies:
        for cause in agency.causes:
            causes.append({"agency": agency.agency, **cause.model_dump(exclude={"case_ids"})})
            for case_id in cause.case_ids:
                cases.append(
                    {"agency": agency.agency, "cause": cause.cause, "effect": cause.effect, "case_id": case_id}
                )
    for sheet in (agencies, causes, cases):
        sheet.finish()
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
