"""Auditor surface, read-only (scope ``audit:read``). Every route is a GET; tests walk the routes to prove it.

Auditors also hold ``ledger:read`` and ``reconciliation:read``: the ledger (entries, checkpoints, proofs, export)
is served by ``/api/v1/ledger`` and findings and summaries by ``/api/v1/reconciliation``; this router does not
copy them.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
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
from app.api.parameters import CursorParam, PageSizeParam
from app.api.problems import problem_responses
from app.audit import repository
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
from app.core.db import transaction
from app.core.pagination import KeysetPager, Page, time_id_key
from app.core.schemas import LINE_PATTERN, IsoDateTime
from app.ledger import repository as ledger_repository
from app.ledger.schemas import LedgerEntryRead

router = APIRouter(prefix="/audit", tags=["audit"], responses=problem_responses(400, 401, 403, 422))

Auditor = Annotated[Principal, require(Scope.AUDIT_READ)]
NDJSON = "application/x-ndjson"
CSV = "text/csv"
EXPORT_BATCH = 500
RECORD_ENTRY_TYPES = {"case.created", "agency_record.submitted", "agency_record.updated"}


def _record_state(entry: LedgerEntryRead) -> dict[str, Any]:
    payload = entry.payload
    if entry.entry_type == "case.created":
        state: dict[str, Any] = payload["agency_record"]
    elif entry.entry_type == "agency_record.updated":
        state = {k: v for k, v in payload["changes"].items() if k != "changed"}
    else:
        state = dict(payload)
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
def get_statistics(session: SessionDep, filters: CaseFiltersDep, _: Auditor) -> StatisticsRead:
    today = today_in_jakarta()
    stats = repository.statistics(session, filters, today)

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
    )


@router.get(
    "/overdue",
    summary="PPK follow-ups past their deadline: cases in REKOMENDASI whose deadline_date has passed",
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
    query = repository.overdue_follow_ups(filters, today_in_jakarta())
    rows, next_cursor = pager.split(
        repository.cases_page(session, query, pager.after_time_id(cursor), pager.fetch),
        lambda case: time_id_key(case.created_at, case.id),
    )
    audit.cases(rows)
    return Page[CaseRead](items=[cases_service.to_read(case) for case in rows], next_cursor=next_cursor)


def _exported_cases(request: Request, audit: ReadAudit, filters: CaseFilters) -> Iterator[CaseRead]:
    """Every filtered case, read in batches; each batch's read audit commits before the batch is sent."""
    query = cases_repository.filtered_cases(filters)
    after: tuple[dt.datetime, uuid.UUID] | None = None
    while True:
        with transaction(request.app.state.sessionmaker) as session:
            rows = repository.cases_page(session, query, after, EXPORT_BATCH)
            dataclasses.replace(audit, session=session).cases(rows)
            batch = [cases_service.to_read(case) for case in rows]
        yield from batch
        if len(batch) < EXPORT_BATCH:
            return
        after = (batch[-1].created_at, batch[-1].id)


def _csv_value(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return "" if value is None else str(value)


@router.get(
    "/exports/cases.csv",
    summary="Export every case matching the filters as CSV (streamed; one header row)",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}, "description": "RFC 4180 CSV, UTF-8"}},
)
def export_cases_csv(
    request: Request, filters: CaseFiltersDep, audit: ReadAuditDep, gate: ExportGateDep, _: Auditor
) -> StreamingResponse:
    columns = list(CaseRead.model_fields)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        for case in _exported_cases(request, audit, filters):
            row = case.model_dump(mode="json")
            writer.writerow([_csv_value(row[column]) for column in columns])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        gate.stream(lines()),
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
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
        repository.read_audit_page(session, filters, pager.after_number(cursor), pager.fetch), lambda row: [row.id]
    )
    if nip is not None:
        # Looking up a person's access trail is itself a processing of their personal data.
        audit.subject(nip)
    return Page[ReadAuditRead](items=[ReadAuditRead.model_validate(row) for row in rows], next_cursor=next_cursor)
