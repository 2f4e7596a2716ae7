"""HTTP surface of the cases domain: thin handlers over the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep, SessionFactoryDep, SettingsDep, WriteContextDep
from app.api.dependencies.filters import CaseFiltersDep
from app.api.dependencies.idempotency import IdempotencyKeyDep
from app.api.dependencies.read_audit import ReadAuditDep
from app.api.parameters import CursorParam, IfMatchHeader, PageSizeParam
from app.api.problems import problem_responses
from app.api.responses import RECEIPT_HEADERS, declared_headers, send
from app.cases import repository, service
from app.cases.batch import (
    ArchivedRecordBatchCreate,
    BatchResult,
    CaseBatchCreate,
    RecordBatchCreate,
    TransitionBatchCreate,
)
from app.cases.schemas import (
    AgencyRecordCreate,
    AgencyRecordRead,
    AgencyRecordUpdate,
    ArchivedRecordCreate,
    CaseCreate,
    CaseRead,
    CaseUpdate,
    ReopenCreate,
    SanctionCorrectionCreate,
    TransitionCreate,
    TransitionRead,
)
from app.core.actor import Principal, Scope
from app.core.etag import etag_of
from app.core.pagination import KeysetPager, Page, time_id_key
from app.core.problems import PROBLEM_MEDIA_TYPE
from app.flows import cases as flows
from app.flows.batch import BatchKind, write_batch

router = APIRouter(prefix="/cases", tags=["cases"], responses=problem_responses(400, 401, 403, 422))

BATCH_RESPONSES = problem_responses(409) | {
    422: {
        "description": "The batch or an item is not valid: nothing was written",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/BatchProblem"}}},
    }
}
"""A refused item is listed in the 422 problem's ``errors`` with its index and its own problem.

The batch paths are the single operations' with ``:batch`` appended; where the single path names a case, ``-``
stands for "the case each item names" (``/cases/-/records:batch``), which no ``/cases/{case_id}`` route matches."""

BATCH_DESCRIPTION = (
    "Up to 1,000 items, each the body of the single operation (where that operation names the case in its path, "
    "`-` stands for the `case_id` each item names). Every item is validated and checked as the single operation "
    "would, in order (a later item sees what the earlier ones wrote); one refused item refuses the batch: 422 "
    "`batch-rejected`, whose `errors` give each refused item's `index` and its own problem, and nothing is "
    "written. Otherwise all items are written in one transaction, with one ledger entry each (two for a workflow "
    "step), and the reply lists each item's id, location, ETag and ledger seq in request order."
)

Reader = Annotated[Principal, require(Scope.CASES_READ)]
Writer = Annotated[Principal, require(Scope.CASES_WRITE)]
Mover = Annotated[Principal, require(Scope.CASES_TRANSITION)]
CURSOR_SCOPE = "cases"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Report a case (one ASN, one incident); creates the calling agency's record of it",
    responses=problem_responses(409) | declared_headers(201, "Location", "ETag", *RECEIPT_HEADERS),
)
def create_case(
    body: CaseCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Writer,
) -> CaseRead:
    return send(flows.create_case(factory, settings, ctx, body, idempotency), response)


@router.get("", summary="List cases (cursor pagination, oldest first)")
def list_cases(
    session: SessionDep,
    settings: SettingsDep,
    filters: CaseFiltersDep,
    audit: ReadAuditDep,
    _: Reader,
    limit: PageSizeParam = None,
    cursor: CursorParam = None,
) -> Page[CaseRead]:
    pager = KeysetPager.for_request(settings, CURSOR_SCOPE, filters.as_dict(), limit)
    after = pager.after_time_id(cursor)
    rows, next_cursor = pager.split(
        repository.list_cases(session, filters, after, pager.fetch), lambda case: time_id_key(case.created_at, case.id)
    )
    audit.cases(rows)
    items = [service.to_read(case) for case in rows]
    return Page[CaseRead](items=items, next_cursor=next_cursor)


@router.get(
    "/{case_id}",
    summary="Get one case (with its ETag)",
    responses=problem_responses(404) | declared_headers(200, "ETag"),
)
def get_case(case_id: uuid.UUID, session: SessionDep, response: Response, audit: ReadAuditDep, _: Reader) -> CaseRead:
    case = service.require_case(session, case_id)
    audit.cases([case])
    response.headers["ETag"] = etag_of(case.version)
    return service.to_read(case)


@router.post(
    "/{case_id}/transitions",
    summary="Move the case through the workflow (If-Match required)",
    responses=problem_responses(404, 409, 412, 428) | declared_headers(200, "ETag", *RECEIPT_HEADERS),
)
def transition_case(
    case_id: uuid.UUID,
    body: TransitionCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Mover,
    if_match: IfMatchHeader = None,
) -> CaseRead:
    return send(flows.transition_case(factory, settings, ctx, case_id, body, if_match, idempotency), response)


@router.patch(
    "/{case_id}",
    summary="Set the case's instansi or register number: by the agency that reported it, or BKN (If-Match required)",
    responses=problem_responses(404, 412, 428) | declared_headers(200, "ETag", *RECEIPT_HEADERS),
)
def update_case(
    case_id: uuid.UUID,
    body: CaseUpdate,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Writer,
    if_match: IfMatchHeader = None,
) -> CaseRead:
    return send(flows.update_case(factory, settings, ctx, case_id, body, if_match), response)


@router.post(
    "/{case_id}/sanction-corrections",
    summary="Correct the recorded sanction of a sanctioned case, with a coded reason and a reference (If-Match "
    "required); recorded as the step correct_sanction",
    responses=problem_responses(404, 409, 412, 428) | declared_headers(200, "ETag", *RECEIPT_HEADERS),
)
def correct_sanction(
    case_id: uuid.UUID,
    body: SanctionCorrectionCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Mover,
    if_match: IfMatchHeader = None,
) -> CaseRead:
    return send(flows.correct_sanction(factory, settings, ctx, case_id, body, if_match, idempotency), response)


@router.post(
    "/{case_id}/reopen",
    summary="Reopen a case that ended, for a coded reason and the reference of the decision behind it (If-Match "
    "required)",
    responses=problem_responses(404, 409, 412, 428) | declared_headers(200, "ETag", *RECEIPT_HEADERS),
)
def reopen_case(
    case_id: uuid.UUID,
    body: ReopenCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Mover,
    if_match: IfMatchHeader = None,
) -> CaseRead:
    return send(flows.reopen_case(factory, settings, ctx, case_id, body, if_match, idempotency), response)


@router.get("/{case_id}/transitions", summary="Workflow history of a case", responses=problem_responses(404))
def list_case_transitions(case_id: uuid.UUID, session: SessionDep, _: Reader) -> list[TransitionRead]:
    service.require_case(session, case_id)
    return [TransitionRead.model_validate(row) for row in repository.list_transitions(session, case_id)]


@router.get("/{case_id}/records", summary="Every agency's own record of the case", responses=problem_responses(404))
def list_agency_records(
    case_id: uuid.UUID, session: SessionDep, audit: ReadAuditDep, _: Reader
) -> list[AgencyRecordRead]:
    service.require_case(session, case_id)
    records = repository.list_records(session, case_id)
    audit.records(records)
    return [AgencyRecordRead.model_validate(row) for row in records]


@router.post(
    "/{case_id}/records",
    status_code=status.HTTP_201_CREATED,
    summary="Submit the calling agency's own record of the case",
    responses=problem_responses(404, 409) | declared_headers(201, "Location", "ETag", *RECEIPT_HEADERS),
)
def submit_agency_record(
    case_id: uuid.UUID,
    body: AgencyRecordCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Writer,
) -> AgencyRecordRead:
    return send(flows.submit_record(factory, settings, ctx, case_id, body, idempotency), response)


@router.post(
    "/{case_id}/archived-records",
    status_code=status.HTTP_201_CREATED,
    summary="Import a retired agency's record of the case from its archive (by its successor: KASN's by BKN)",
    responses=problem_responses(404, 409) | declared_headers(201, "Location", "ETag", *RECEIPT_HEADERS),
)
def import_archived_record(
    case_id: uuid.UUID,
    body: ArchivedRecordCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Writer,
) -> AgencyRecordRead:
    return send(flows.submit_record(factory, settings, ctx, case_id, body, idempotency), response)


@router.get(
    "/{case_id}/records/{record_id}",
    summary="One agency record (with its ETag)",
    responses=problem_responses(404) | declared_headers(200, "ETag"),
)
def get_agency_record(
    case_id: uuid.UUID,
    record_id: uuid.UUID,
    session: SessionDep,
    response: Response,
    audit: ReadAuditDep,
    _: Reader,
) -> AgencyRecordRead:
    record = service.require_record(session, case_id, record_id)
    audit.records([record])
    response.headers["ETag"] = etag_of(record.version)
    return AgencyRecordRead.model_validate(record)


@router.patch(
    "/{case_id}/records/{record_id}",
    summary="Update the calling agency's own record (If-Match required)",
    responses=problem_responses(404, 412, 428) | declared_headers(200, "ETag", *RECEIPT_HEADERS),
)
def update_agency_record(
    case_id: uuid.UUID,
    record_id: uuid.UUID,
    body: AgencyRecordUpdate,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Writer,
    if_match: IfMatchHeader = None,
) -> AgencyRecordRead:
    return send(flows.update_record(factory, settings, ctx, case_id, record_id, body, if_match), response)


@router.post(
    ":batch",
    summary="Report many cases in one transaction (bulk import): all are written, or none",
    description=BATCH_DESCRIPTION,
    responses=BATCH_RESPONSES,
)
def create_cases_batch(
    body: CaseBatchCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Writer,
) -> BatchResult:
    return send(write_batch(factory, settings, ctx, BatchKind.CASES, body.items, idempotency), response)


@router.post(
    "/-/records:batch",
    summary="Submit the calling agency's own records of many cases in one transaction: all, or none",
    description=BATCH_DESCRIPTION,
    responses=BATCH_RESPONSES,
)
def submit_agency_records_batch(
    body: RecordBatchCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Writer,
) -> BatchResult:
    return send(write_batch(factory, settings, ctx, BatchKind.RECORDS, body.items, idempotency), response)


@router.post(
    "/-/archived-records:batch",
    summary="Import a retired agency's archive (many records) in one transaction: all, or none",
    description=BATCH_DESCRIPTION,
    responses=BATCH_RESPONSES,
)
def import_archived_records_batch(
    body: ArchivedRecordBatchCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Writer,
) -> BatchResult:
    return send(write_batch(factory, settings, ctx, BatchKind.ARCHIVED_RECORDS, body.items, idempotency), response)


@router.post(
    "/-/transitions:batch",
    summary="Apply many workflow steps in order, in one transaction: all, or none",
    description=BATCH_DESCRIPTION,
    responses=BATCH_RESPONSES,
)
def transition_cases_batch(
    body: TransitionBatchCreate,
    idempotency: IdempotencyKeyDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    _: Mover,
) -> BatchResult:
    return send(write_batch(factory, settings, ctx, BatchKind.TRANSITIONS, body.items, idempotency), response)
