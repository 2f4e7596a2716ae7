"""Auditor surface, read-only (scope ``audit:read``). Every route is a GET; tests walk the routes to prove it.

Auditors also hold ``ledger:read`` and ``reconciliation:read``: the ledger (entries, checkpoints, proofs, export)
is served by ``/api/v1/ledger`` and findings and summaries by ``/api/v1/reconciliation``; this router does not
copy them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep, SettingsDep
from app.api.dependencies.filters import CaseFiltersDep
from app.api.dependencies.read_audit import ReadAuditDep
from app.api.export_limit import ExportGateDep
from app.api.parameters import (
    CSV_EXPORT_HEADERS,
    CSV_EXPORT_HEADERS_DOC,
    AsOfParam,
    CsvFormatDep,
    CursorParam,
    PageSizeParam,
    checked_moment,
)
from app.api.problems import problem_responses
from app.audit import exports, repository
from app.audit.asof import statistics_at
from app.audit.repository import ReadAuditFilters
from app.audit.schemas import (
    CaseHistoryRead,
    CountRead,
    ReadAuditRead,
    RecordVersionRead,
    StatisticsRead,
)
from app.audit.service import ReadAudit, subject_hash
from app.cases import repository as cases_repository
from app.cases import service as cases_service
from app.cases.repository import CaseFilters
from app.cases.schemas import AgencyRecordRead, CaseRead, TransitionRead
from app.core.actor import Agency, Principal, Scope
from app.core.clock import today_in_jakarta
from app.core.db import transaction, utcnow
from app.core.pagination import INTEGER_MAX, KeysetPager, Page, time_id_key
from app.core.schemas import LINE_PATTERN, IsoDateTime
from app.ledger import repository as ledger_repository
from app.ledger.schemas import CASE_LINK, LedgerEntryRead
from app.reconciliation.facts import jakarta_day

router = APIRouter(prefix="/audit", tags=["audit"], responses=problem_responses(400, 401, 403, 422))

Auditor = Annotated[Principal, require(Scope.AUDIT_READ)]
NDJSON = "application/x-ndjson"
CSV = "text/csv"
EXPORT_BATCH = 500
XLSX_CHUNK_BYTES = 256 * 1024
RECORD_ENTRY_TYPES = {"case.created", "agency_record.submitted", "agency_record.updated"}


def _record_state(entry: LedgerEntryRead) -> dict[str, Any]:
    payload = entry.payload
    if entry.entry_type == "case.created":
        state: dict[str, Any] = payload["agency_record"]
    elif entry.entry_type == "agency_record.updated":
        state = {k: v for k, v in payload["changes"].items() if k != "changed"}
    else:
        state = {k: v for k, v in payload.items() if k != CASE_LINK}
    return state


@router.get(
    "/cases/{case_id}/history",
    summary="A case with its full history: workflow steps, every agency record and every version of each",
    responses=problem_responses(404),
)
def get_case_history(case_id: uuid.UUID, session: SessionDep, audit: ReadAuditDep, _: Auditor) -> CaseHistoryRead:
    case = cases_service.require_case(session, case_id)
    records = cases_repository.list_records(session, case_id)
    entries = [
        LedgerEntryRead.of(entry)
        for entry in ledger_repository.list_entries(session, after_seq=-1, limit=1_000_000, case_id=case_id)
    ]
    versions = [
        RecordVersionRead(
            seq=entry.seq,
            recorded_at=entry.recorded_at,
            entry_type=entry.entry_type,
            agency=entry.agency,
            client_id=entry.client_id,
            record=_record_state(entry),
        )
        for entry in entries
        if entry.entry_type in RECORD_ENTRY_TYPES
    ]
    audit.cases([case])
    audit.records(records)
    audit.entries(entries)
    return CaseHistoryRead(
        case=cases_service.to_read(case),
        transitions=[TransitionRead.model_validate(t) for t in cases_repository.list_transitions(session, case_id)],
        agency_records=[AgencyRecordRead.model_validate(record) for record in records],
        record_versions=versions,
        ledger_entries=f"/api/v1/ledger/cases/{case_id}/entries",
    )


@router.get("/statistics", summary="National monitoring statistics over any filter of the case list")
def get_statistics(session: SessionDep, filters: CaseFiltersDep, _: Auditor, as_of: AsOfParam = None) -> StatisticsRead:
    position = None
    if as_of is None:
        today = today_in_jakarta()
        stats = repository.statistics(session, filters, today)
    else:
        moment = checked_moment(as_of)
        today = jakarta_day(moment)
        stats, position = statistics_at(session, filters, moment)

    def counts(pairs: list[tuple[str, int]]) -> list[CountRead]:
        return [CountRead(key=key, count=count) for key, count in pairs]

    return StatisticsRead(
        as_of=today,
        total_cases=stats.total,
        by_agency=counts(stats.by_agency),
        by_stage=counts(stats.by_stage),
        by_province=counts(stats.by_province),
        by_violation_category=counts(stats.by_violation_category),
        by_election=counts(stats.by_election),
        by_month=counts(stats.by_month),
        overdue_ppk_follow_ups=stats.overdue_ppk_follow_ups,
        consistent_with=position,
    )


@router.get(
    "/overdue",
    summary="Cases past their stage's deadline or ageing threshold (deadline_date before today, Asia/Jakarta), in "
    "any open stage; filter with stage",
)
def list_overdue_follow_ups(
    session: SessionDep,
    settings: SettingsDep,
    filters: CaseFiltersDep,
    audit: ReadAuditDep,
    _: Auditor,
    limit: PageSizeParam = None,
    cursor: CursorParam = None,
) -> Page[CaseRead]:
    pager = KeysetPager.for_request(settings, "audit-overdue", filters.as_dict(), limit)
    query = repository.overdue_cases(filters, today_in_jakarta())
    rows, next_cursor = pager.split(
        repository.cases_page(session, query, pager.after_time_id(cursor), pager.fetch),
        lambda case: time_id_key(case.created_at, case.id),
    )
    audit.cases(rows)
    return Page[CaseRead](items=[cases_service.to_read(case) for case in rows], next_cursor=next_cursor)


def _exported_batches(
    request: Request, audit: ReadAudit, filters: CaseFilters, *, with_records: bool = False
) -> Iterator[tuple[list[CaseRead], list[AgencyRecordRead]]]:
    """Every filtered case (and, when asked, their agency records), read in batches; each batch's read audit
    commits before the batch is sent."""
    query = cases_repository.filtered_cases(filters)
    after: tuple[dt.datetime, uuid.UUID] | None = None
    while True:
        with transaction(request.app.state.sessionmaker) as session:
            rows = repository.cases_page(session, query, after, EXPORT_BATCH)
            batch_audit = audit.for_batch(session)
            batch_audit.cases(rows)
            batch = [cases_service.to_read(case) for case in rows]
            records: list[AgencyRecordRead] = []
            if with_records:
                found = cases_repository.records_of_cases(session, [case.id for case in rows])
                batch_audit.records(found)
                records = [AgencyRecordRead.model_validate(record) for record in found]
        yield batch, records
        if len(batch) < EXPORT_BATCH:
            return
        after = (batch[-1].created_at, batch[-1].id)


def _exported_cases(request: Request, audit: ReadAudit, filters: CaseFilters) -> Iterator[CaseRead]:
    for batch, _ in _exported_batches(request, audit, filters):
        yield from batch


@router.get(
    "/exports/cases.csv",
    summary="Export every case matching the filters as CSV for spreadsheets (streamed; labels next to codes)",
    description="UTF-8 with a byte-order mark, one header row, CRLF line ends; a label column after each code "
    "(`violation_title`, `violation_category_label`, `stage_label`, `recommended_sanction_title`, "
    "`created_by_agency_name`, …). Every case sent is recorded in the read audit.",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {CSV: {"schema": {"type": "string"}}},
            "description": "RFC 4180 CSV, UTF-8 with a byte-order mark",
            "headers": CSV_EXPORT_HEADERS_DOC,
        }
    },
)
def export_cases_csv(
    request: Request, filters: CaseFiltersDep, audit: ReadAuditDep, gate: ExportGateDep, form: CsvFormatDep, _: Auditor
) -> StreamingResponse:

    def chunks() -> Iterator[str]:
        columns = exports.Labels.read(request.app.state.sessionmaker).case_columns()
        rows = (exports.case_row(case) for case in _exported_cases(request, audit, filters))
        yield from exports.csv_chunks(columns, rows, form)

    return StreamingResponse(
        gate.stream(chunks()),
        media_type=exports.CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="cases.csv"', **CSV_EXPORT_HEADERS},
    )


@router.get(
    "/exports/cases.xlsx",
    summary="Export every case matching the filters as an Excel workbook: cases, agency records, export details",
    description="Sheets `cases` and `agency_records` (a label column after each code, identifiers as text, header "
    "row frozen and filterable) and `export` (when, which filters, row counts). The workbook is built in a "
    "temporary file with bounded memory, then streamed: the first byte comes once the last case is read. Every "
    "case and agency record sent is recorded in the read audit.",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "Office Open XML workbook (ECMA-376)",
        }
    },
)
def export_cases_xlsx(
    request: Request, filters: CaseFiltersDep, audit: ReadAuditDep, gate: ExportGateDep, principal: Auditor
) -> StreamingResponse:
    about = [
        ("generated_at", utcnow().isoformat()),
        ("filters", json.dumps(filters.as_dict(), default=str, ensure_ascii=False)),
        ("client_id", principal.client_id),
        ("purpose", audit.purpose or ""),
        ("read_audit", "Every case and agency record in this workbook is recorded in SBT's read audit (UU PDP)."),
    ]

    def chunks() -> Iterator[bytes]:
        book = exports.CaseWorkbook(exports.Labels.read(request.app.state.sessionmaker))
        for cases, records in _exported_batches(request, audit, filters, with_records=True):
            book.add(cases, records)
        with tempfile.TemporaryFile() as file:
            book.save(file, about)
            file.seek(0)
            while chunk := file.read(XLSX_CHUNK_BYTES):
                yield chunk

    return StreamingResponse(
        gate.stream(chunks()),
        media_type=exports.XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="cases.xlsx"'},
    )


@router.get(
    "/exports/cases.ndjson",
    summary="Export every case matching the filters as NDJSON (streamed; one CaseRead per line)",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "One CaseRead JSON document per line"}},
)
def export_cases_ndjson(
    request: Request, filters: CaseFiltersDep, audit: ReadAuditDep, gate: ExportGateDep, _: Auditor
) -> StreamingResponse:
    def lines() -> Iterator[str]:
        for case in _exported_cases(request, audit, filters):
            yield json.dumps(case.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")) + "\n"

    return StreamingResponse(
        gate.stream(lines()),
        media_type=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="cases.ndjson"'},
    )


@router.get(
    "/read-log",
    summary="Who read personal data: by client, agency, data subject's NIP, case and period (oldest first)",
)
def list_read_audit(
    session: SessionDep,
    settings: SettingsDep,
    audit: ReadAuditDep,
    _: Auditor,
    client_id: Annotated[str | None, Query(min_length=1, max_length=200, pattern=LINE_PATTERN)] = None,
    agency: Agency | None = None,
    nip: Annotated[str | None, Query(pattern=r"^[0-9]{18}$", description="The data subject's NIP")] = None,
    case_id: uuid.UUID | None = None,
    recorded_from: Annotated[IsoDateTime | None, Query(description="Inclusive")] = None,
    recorded_to: Annotated[IsoDateTime | None, Query(description="Exclusive")] = None,
    limit: PageSizeParam = None,
    cursor: CursorParam = None,
) -> Page[ReadAuditRead]:
    filters = ReadAuditFilters(
        client_id=client_id,
        agency=agency.value if agency else None,
        subject_nip_hash=subject_hash(settings.secret_key, nip) if nip else None,
        case_id=case_id,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
    )
    cursor_filters = {k: str(v) for k, v in dataclasses.asdict(filters).items() if v is not None}
    pager = KeysetPager.for_request(settings, "read-audit", cursor_filters, limit)
    rows, next_cursor = pager.split(
        repository.read_audit_page(session, filters, pager.after_number(cursor, INTEGER_MAX), pager.fetch),
        lambda row: [row.id],
    )
    if nip is not None:
        # Looking up a person's access trail is itself a processing of their personal data.
        audit.subject(nip)
    return Page[ReadAuditRead](items=[ReadAuditRead.model_validate(row) for row in rows], next_cursor=next_cursor)
