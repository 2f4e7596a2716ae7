"""HTTP surface of reconciliation: runs, findings and their triage, summaries, rules, CSV export."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep, SessionFactoryDep, SettingsDep, WriteContextDep
from app.api.dependencies.read_audit import ReadAuditDep
from app.api.export_limit import ExportGateDep
from app.api.language import requested_language
from app.api.parameters import (
    CSV_EXPORT_HEADERS,
    CSV_EXPORT_HEADERS_DOC,
    AsOfParam,
    CsvFormatDep,
    CursorParam,
    IfMatchHeader,
    PageSizeParam,
    TextLanguageDep,
    checked_moment,
)
from app.api.problems import problem_responses
from app.api.responses import RECEIPT_HEADERS, declared_headers
from app.audit import exports
from app.core.actor import Agency, Principal, Scope
from app.core.clock import today_in_jakarta
from app.core.db import transaction
from app.core.etag import etag_of
from app.core.pagination import KeysetPager, Page, time_id_key
from app.core.problems import NotFound
from app.flows import reconciliation as flows
from app.reconciliation import repository, runner, service, visibility
from app.reconciliation.asof import summary_at
from app.reconciliation.models import FindingState
from app.reconciliation.repository import FindingFilters
from app.reconciliation.rules import Severity
from app.reconciliation.schemas import (
    CaseCheckRead,
    FindingDetail,
    FindingEventRead,
    FindingRead,
    FindingTransitionCreate,
    RuleRead,
    RunCreate,
    RunRead,
    SummaryRead,
)

router = APIRouter(prefix="/reconciliation", tags=["reconciliation"], responses=problem_responses(400, 401, 403, 422))

Runner = Annotated[Principal, require(Scope.RECONCILIATION_RUN)]
Reader = Annotated[Principal, require(Scope.RECONCILIATION_READ)]
Triager = Annotated[Principal, require(Scope.RECONCILIATION_TRIAGE)]
CURSOR_SCOPE = "reconciliation-findings"
EXPORT_BATCH = 500
CSV_COLUMNS = (
    "id", "case_number", "case_id", "rule", "fields", "severity", "hint", "state", "resolution", "agencies",
    "nip", "province_code", "deadline_date", "first_seen_at", "last_seen_at", "message_en", "message_id",
    "observed", "evidence",
)  # fmt: skip


def _run_location(run_id: uuid.UUID) -> str:
    return f"/api/v1/reconciliation/runs/{run_id}"


@router.post(
    "/runs",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a sweep (full run with SQL fingerprint screen, deadline run, or listed cases)",
    description="At most one FULL run is queued or running at a time: another answers 409 with the active "
    "run's id in `running_run_id`.",
    responses=problem_responses(404, 409) | declared_headers(202, "Location"),
)
def start_reconciliation_run(
    body: RunCreate,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    background: BackgroundTasks,
    response: Response,
    principal: Runner,
) -> RunRead:
    run = flows.queue_run(factory, settings, principal, body)
    background.add_task(runner.execute_run, factory, settings, run.id)
    response.headers["Location"] = _run_location(run.id)
    return RunRead.model_validate(run)


@router.get("/runs/{run_id}", summary="Status, counts and timings of a run", responses=problem_responses(404))
def get_reconciliation_run(run_id: uuid.UUID, session: SessionDep, _: Reader) -> RunRead:
    run = repository.get_run(session, run_id)
    if run is None:
        raise NotFound(f"No reconciliation run with id {run_id}.")
    return RunRead.model_validate(run)


SeverityQ = Annotated[Severity | None, Query(description="Exactly this severity")]
MinSeverityQ = Annotated[Severity | None, Query(description="This severity or worse")]
RuleQ = Annotated[str | None, Query(max_length=40, pattern=r"^[A-Z_]+$")]
AgencyQ = Annotated[Agency | None, Query(description="Findings about this agency's records")]
StateQ = Annotated[FindingState | None, Query()]
NipQ = Annotated[str | None, Query(max_length=32, description="Canonical NIP of the case (digits only)")]
RegionQ = Annotated[str | None, Query(pattern=r"^[0-9]{2}$", description="Province code of the case")]
OverdueQ = Annotated[bool | None, Query(description="Only cases whose stage deadline (Asia/Jakarta) has passed")]


async def finding_filters(
    principal: Reader,
    severity: SeverityQ = None,
    min_severity: MinSeverityQ = None,
    rule: RuleQ = None,
    agency: AgencyQ = None,
    state: StateQ = None,
    case_id: uuid.UUID | None = None,
    nip: NipQ = None,
    province_code: RegionQ = None,
    overdue: OverdueQ = None,
) -> FindingFilters:
    """The filters shared by the list, the CSV export and the summary; agencies are limited to their cases."""
    return FindingFilters(
        severity=severity.value if severity else None,
        min_severity_rank=min_severity.rank if min_severity else None,
        rule=rule,
        agency=agency.value if agency else None,
        state=state.value if state else None,
        case_id=case_id,
        nip=nip,
        province_code=province_code,
        overdue_before=today_in_jakarta() if overdue else None,
        visible_to=visibility.visibility_scope(principal),
    )


Filters = Annotated[FindingFilters, Depends(finding_filters)]


@router.get(
    "/findings",
    summary="List findings (filters, cursor pagination, oldest first)",
    responses=declared_headers(200, "Content-Language"),
)
def list_reconciliation_findings(
    session: SessionDep,
    settings: SettingsDep,
    filters: Filters,
    audit: ReadAuditDep,
    language: TextLanguageDep,
    limit: PageSizeParam = None,
    cursor: CursorParam = None,
) -> Page[FindingRead]:
    pager = KeysetPager.for_request(settings, CURSOR_SCOPE, filters.as_dict(), limit)
    after = pager.after_time_id(cursor)
    rows, next_cursor = pager.split(
        repository.list_findings(session, filters, after, pager.fetch),
        lambda finding: time_id_key(finding.first_seen_at, finding.id),
    )
    audit.findings(rows)
    return Page[FindingRead](items=[FindingRead.of(f, language) for f in rows], next_cursor=next_cursor)


@router.get(
    "/findings.csv",
    summary="Export findings as CSV for spreadsheets (same filters, streamed)",
    description="UTF-8 with a byte-order mark, one header row; lists as space-separated codes, nested objects as "
    "JSON, so one finding stays one row; `province_name` after `province_code`. The same `sep` and `excel` "
    "choices as the case CSV export.",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "One row per finding",
            "headers": CSV_EXPORT_HEADERS_DOC,
        }
    },
)
def export_reconciliation_findings(
    request: Request,
    filters: Filters,
    audit: ReadAuditDep,
    gate: ExportGateDep,
    form: CsvFormatDep,
) -> StreamingResponse:
    factory = request.app.state.sessionmaker
    language = requested_language(request.scope)

    def batches() -> Iterator[list[dict[str, Any]]]:
        """Every filtered finding, read in batches; each batch's read audit commits before the batch is sent."""
        after: tuple[dt.datetime, uuid.UUID] | None = None
        while True:
            with transaction(factory) as session:
                page = repository.list_findings(session, filters, after, EXPORT_BATCH)
                audit.in_session(session).findings(page)
                batch = [FindingRead.of(finding, language).model_dump(mode="json") for finding in page]
                last = (page[-1].first_seen_at, page[-1].id) if page else None
            yield batch
            if len(batch) < EXPORT_BATCH or last is None:
                return
            after = last

    def chunks() -> Iterator[str]:
        columns = exports.Labels.read(factory).columns(CSV_COLUMNS)
        rows = (finding for batch in batches() for finding in batch)
        yield from exports.csv_chunks(columns, rows, form)

    headers = {"Content-Disposition": 'attachment; filename="reconciliation-findings.csv"', **CSV_EXPORT_HEADERS}
    return StreamingResponse(gate.stream(chunks()), media_type=exports.CSV_MEDIA_TYPE, headers=headers)


@router.get(
    "/findings/{finding_id}",
    summary="One finding with its history (ETag)",
    responses=problem_responses(404) | declared_headers(200, "ETag", "Content-Language"),
)
def get_reconciliation_finding(
    finding_id: uuid.UUID,
    session: SessionDep,
    response: Response,
    audit: ReadAuditDep,
    language: TextLanguageDep,
    principal: Reader,
) -> FindingDetail:
    finding = service.visible_finding(session, principal, finding_id)
    audit.findings([finding])
    events = [FindingEventRead.model_validate(event) for event in repository.finding_events(session, finding.id)]
    response.headers["ETag"] = etag_of(finding.version)
    return FindingDetail(**FindingRead.of(finding, language).model_dump(), events=events)


@router.post(
    "/findings/{finding_id}/transitions",
    summary="Acknowledge, resolve (fixed at source), suppress (accepted difference) or reopen (If-Match)",
    responses=problem_responses(404, 409, 412, 428)
    | declared_headers(200, "ETag", "Content-Language", *RECEIPT_HEADERS),
)
def transition_reconciliation_finding(
    finding_id: uuid.UUID,
    body: FindingTransitionCreate,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    response: Response,
    language: TextLanguageDep,
    _: Triager,
    if_match: IfMatchHeader = None,
) -> FindingRead:
    finding, receipt = flows.triage_finding(
        factory,
        settings,
        ctx,
        finding_id,
        body.action,
        note=body.note,
        suppressed_until=body.suppressed_until,
        if_match=if_match,
    )
    response.headers.update({"ETag": etag_of(finding.version), **receipt.headers()})
    return receipt.attach(FindingRead.of(finding, language))


@router.get("/summary", summary="Counts of findings by rule, severity, state and agency (same filters)")
def get_reconciliation_summary(session: SessionDep, filters: Filters, as_of: AsOfParam = None) -> SummaryRead:
    position = None
    if as_of is None:
        counts = repository.summary_counts(session, filters)
    else:
        counts, position = summary_at(session, filters, checked_moment(as_of))
    return SummaryRead(
        by_rule=counts["rule"],
        by_severity=counts["severity"],
        by_state=counts["state"],
        by_agency=counts["agency"],
        consistent_with=position,
    )


@router.post(
    "/cases/{case_id}/check",
    summary="Re-check one case now and return its active findings",
    responses=problem_responses(404) | declared_headers(200, "Content-Language", *RECEIPT_HEADERS),
)
def check_reconciliation_case(
    case_id: uuid.UUID,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    ctx: WriteContextDep,
    audit: ReadAuditDep,
    response: Response,
    language: TextLanguageDep,
    _: Runner,
) -> CaseCheckRead:
    findings, stats, receipt = flows.check_case(factory, settings, ctx, case_id, audit)
    response.headers.update(receipt.headers())
    return CaseCheckRead(
        case_id=case_id,
        findings=[FindingRead.of(f, language) for f in findings],
        stats=stats.as_dict(),
        receipt=receipt,
    )


@router.get(
    "/rules",
    summary="The rule catalogue with the configured severity and parameters",
    responses=declared_headers(200, "Content-Language"),
)
def list_reconciliation_rules(settings: SettingsDep, language: TextLanguageDep, _: Reader) -> list[RuleRead]:
    ruleset = service.ruleset_of(settings)
    return [
        RuleRead(
            code=rule.code,
            enabled=ruleset.config(rule).enabled,
            severity=ruleset.config(rule).severity,
            params=dict(ruleset.config(rule).params),
            description_en=rule.description_en,
            description_id=rule.description_indonesian,
            description=rule.describe(language),
            local=rule.local,
        )
        for rule in ruleset.rules
    ]
