"""Reconciliation: normalise each write, re-check the case, keep findings and their lifecycle.

``on_case_written`` is called by the cases service after every case or agency-record write, inside the same
transaction; sweeps (app.reconciliation.runner) call ``refresh_cases`` on batches. Both go through the same
normalise -> evaluate -> sync path, which is what makes incremental and full runs agree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.cases.models import AgencyRecord, Case
from app.cases.workflow import Stage
from app.core.actor import Principal, Role, WriteContext
from app.core.config import JAKARTA, Settings, get_settings
from app.core.db import utcnow
from app.core.etag import check_if_match
from app.core.problems import Conflict, IllegalTransition, NotFound
from app.ledger.service import append_at_commit
from app.reconciliation import repository
from app.reconciliation.models import (
    ACTIVE_STATES,
    CaseState,
    Finding,
    FindingAgency,
    FindingEvent,
    FindingState,
    Resolution,
)
from app.reconciliation.normalize import (
    NORMALIZER_VERSION,
    canonical_nip,
    canonical_stage,
    canonical_violation,
    clean_text,
    fingerprint,
    name_key,
    stage_rank,
)
from app.reconciliation.rules import (
    CaseContext,
    CaseFacts,
    FindingDraft,
    RecordFacts,
    ReferenceData,
    Ruleset,
    SiblingCase,
    agency_mask,
    case_has_local_issue,
    evaluate,
    expected_agencies,
    live_deadline,
    record_has_local_issue,
)
from app.reconciliation.schemas import TriageAction
from app.reference.models import AgencyRef, Sanction, ViolationForm

SYSTEM_CLIENT_ID = "system:reconciliation"
LIVE_EXCLUDED_STAGES = frozenset({Stage.DIBATALKAN.value, Stage.DITOLAK.value})
_REFERENCE_CACHE: dict[str, ReferenceData] = {}


def settings_of(session: Session) -> Settings:
    settings = session.info.get("settings")
    return settings if isinstance(settings, Settings) else get_settings()


def ruleset_of(settings: Settings) -> Ruleset:
    return Ruleset.with_overrides(settings.reconciliation_rules)


def jakarta_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(JAKARTA).date()


def build_reference(
    forms: Iterable[ViolationForm], sanctions: Iterable[Sanction], agencies: Iterable[AgencyRef]
) -> ReferenceData:
    """Lookups the rules need, from the reference tables (legacy sanctions map to the current code of equal
    weight, so PP 53/2010 and PP 94/2021 records compare equal)."""
    sanction_list = list(sanctions)
    current_by_rank = {s.severity_rank: s.code for s in sorted(sanction_list, key=lambda s: (not s.legacy, s.code))}
    agency_list, form_list = list(agencies), list(forms)
    return ReferenceData(
        violation_category={form.code: form.category for form in form_list},
        violation_phase={form.code: form.phase for form in form_list},
        sanction_rank={s.code: s.severity_rank for s in sanction_list},
        canonical_sanction={s.code: current_by_rank[s.severity_rank] for s in sanction_list},
        agency_valid_to={agency.code: agency.valid_to for agency in agency_list},
        agency_successor={agency.code: agency.successor_code for agency in agency_list},
    )


def reference_data(session: Session) -> ReferenceData:
    """Reference tables are seeded by migration and never change at run time: read once per database."""
    cache_key = str(session.get_bind().engine.url)
    cached = _REFERENCE_CACHE.get(cache_key)
    if cached is None:
        cached = build_reference(
            repository.violation_forms(session), repository.sanctions(session), repository.agencies(session)
        )
        _REFERENCE_CACHE[cache_key] = cached
    return cached


def canonical_sanction(raw: str | None, reference: ReferenceData) -> str | None:
    code = clean_text(raw)
    if code is None:
        return None
    code = code.upper()
    return reference.canonical_sanction.get(code, code)


def case_facts(case: Case, reference: ReferenceData) -> CaseFacts:
    return CaseFacts(
        id=case.id,
        case_number=case.case_number,
        nip_raw=case.nip,
        nip=canonical_nip(case.nip),
        name_raw=case.name,
        name=name_key(case.name),
        violation_code=canonical_violation(case.violation_code),
        phase=case.phase,
        stage=case.stage,
        instansi=case.instansi,
        province_code=case.province_code,
        created_by_agency=case.created_by_agency,
        incident_date=case.incident_date,
        reported_date=case.reported_date,
        stage_entered_on=case.stage_entered_on,
        deadline_date=case.deadline_date,
        recommended_by=case.recommended_by,
        recommendation_date=case.recommendation_date,
        recommended_sanction_raw=case.recommended_sanction_code,
        recommended_sanction=canonical_sanction(case.recommended_sanction_code, reference),
        imposed_sanction_raw=case.imposed_sanction_code,
        imposed_sanction=canonical_sanction(case.imposed_sanction_code, reference),
        sanction_date=case.sanction_date,
    )


def record_facts(record: AgencyRecord, reference: ReferenceData, high_water: int | None) -> RecordFacts:
    return RecordFacts(
        agency=record.agency,
        nip_raw=record.nip,
        nip=canonical_nip(record.nip),
        name_raw=record.name,
        name=name_key(record.name),
        violation_code_raw=record.violation_code,
        violation_code=canonical_violation(record.violation_code),
        stage_raw=record.stage,
        stage=canonical_stage(record.stage),
        stage_high_water=high_water,
        sanction_raw=record.sanction_code,
        sanction=canonical_sanction(record.sanction_code, reference),
        sanction_status=(clean_text(record.sanction_status) or "").upper() or None,
        reported_date=record.reported_date,
        recommendation_date=record.recommendation_date,
        sanction_date=record.sanction_date,
        created_on=jakarta_day(record.created_at),
    )


def compared_fingerprint(nip: str | None, name: str | None, violation: str | None, stage: str | None) -> int:
    """The fields every record must share with its case; equal fingerprints mean no cross-source rule fires
    on them."""
    return fingerprint([nip, name, violation, stage])


def _high_water(record: AgencyRecord, stage: str | None) -> int | None:
    ranks = [rank for rank in (record.stage_high_water, stage_rank(stage)) if rank is not None]
    return max(ranks) if ranks else None


DuplicateKey = tuple[str, dt.date]
"""(canonical NIP, incident date): live cases sharing one are duplicates of each other."""
RecordChange = tuple[AgencyRecord, dict[str, object]]


def duplicate_key(state: CaseState | None) -> DuplicateKey | None:
    if state is None or state.nip_canonical is None:
        return None
    return (state.nip_canonical, state.incident_date)


@dataclass(slots=True)
class Normalized:
    case: CaseFacts
    records: tuple[RecordFacts, ...]
    state: CaseState
    previous_key: DuplicateKey | None
    """The duplicate key stored before this write (None for a case never checked, or without a NIP)."""
    evaluated_before: bool
    """A state row existed: only then can the case have findings (a re-check stores the state first)."""
    record_changes: list[RecordChange]
    """Records whose stored comparison forms are out of date, with the new values (written in one batch)."""


def normalize_case(
    session: Session,
    case: Case,
    records: Sequence[AgencyRecord],
    state: CaseState | None,
    reference: ReferenceData,
    as_of: dt.date,
) -> Normalized:
    """Compute the comparison forms of the case and each record; update the case state, and list the records
    whose derived values changed for the caller to write in one batch."""
    facts = case_facts(case, reference)
    previous_key, evaluated_before = duplicate_key(state), state is not None
    record_list: list[RecordFacts] = []
    record_changes: list[RecordChange] = []
    for record in records:
        stage = canonical_stage(record.stage)
        item = record_facts(record, reference, _high_water(record, stage))
        record_list.append(item)
        derived: dict[str, object] = {
            "nip_canonical": item.nip,
            "name_key": item.name.key,
            "violation_canonical": item.violation_code,
            "stage_canonical": item.stage,
            "stage_high_water": item.stage_high_water,
            "sanction_canonical": item.sanction,
            "fingerprint": compared_fingerprint(item.nip, item.name.key, item.violation_code, item.stage),
            "local_issue": record_has_local_issue(item, facts, reference, as_of),
            "normalizer_version": NORMALIZER_VERSION,
        }
        if any(getattr(record, name) != value for name, value in derived.items()):
            record_changes.append((record, derived))
    if state is None:
        state = CaseState(case_id=case.id)
        session.add(state)
    values: dict[str, Any] = {
        "nip_canonical": facts.nip,
        "name_key": facts.name.key,
        "incident_date": facts.incident_date,
        "live": facts.stage not in LIVE_EXCLUDED_STAGES,
        "deadline_date": live_deadline(facts),
        "sanction_canonical": facts.recommended_sanction or facts.imposed_sanction,
        "fingerprint": compared_fingerprint(facts.nip, facts.name.key, facts.violation_code, facts.stage),
        "expected_mask": agency_mask(expected_agencies(facts, reference)),
        "local_issue": case_has_local_issue(facts, reference, as_of),
        "normalizer_version": NORMALIZER_VERSION,
    }
    for name, value in values.items():
        if getattr(state, name) != value:
            setattr(state, name, value)
    return Normalized(facts, tuple(record_list), state, previous_key, evaluated_before, record_changes)


# ---------------------------------------------------------------------------------------------------------
# Evaluation and synchronisation of findings


@dataclass(slots=True)
class SyncStats:
    evaluated: int = 0
    opened: int = 0
    resolved: int = 0
    reopened: int = 0
    unchanged: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "evaluated_cases": self.evaluated,
            "opened": self.opened,
            "resolved": self.resolved,
            "reopened": self.reopened,
            "unchanged": self.unchanged,
            "produced_by_rule": dict(sorted(self.by_rule.items())),
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    case: CaseFacts
    drafts: dict[str, FindingDraft]
    """finding_key -> draft"""
    deadline_date: dt.date | None
    evaluated_before: bool
    neighbours: frozenset[uuid.UUID]
    """Other live cases sharing the case's duplicate key before or after this write: their duplicate findings
    depend on this case."""


def evaluate_cases(
    session: Session, case_ids: Collection[uuid.UUID], as_of: dt.datetime, ruleset: Ruleset
) -> list[Evaluation]:
    """Normalise and evaluate the cases with the data as stored now (no findings are written)."""
    if not case_ids:
        return []
    session.flush()
    day = jakarta_day(as_of)
    reference = reference_data(session)
    loaded = repository.load_cases_for_check(session, case_ids)
    normalized = [
        normalize_case(session, item.case, item.records, item.state, reference, day)
        for _, item in sorted(loaded.items())
    ]
    repository.update_record_columns(session, [change for item in normalized for change in item.record_changes])
    session.flush()
    keys = {key for item in normalized for key in (item.previous_key, duplicate_key(item.state)) if key is not None}
    by_key: dict[DuplicateKey, list[SiblingCase]] = {}
    for row in sorted(repository.live_cases_with_keys(session, keys), key=lambda row: str(row.case_id)):
        by_key.setdefault((row.nip_canonical, row.incident_date), []).append(SiblingCase(row.case_id, row.case_number))
    evaluations = []
    for item in normalized:
        current = duplicate_key(item.state)
        same_person_and_day = by_key.get(current, []) if current is not None else []
        duplicates = tuple(s for s in same_person_and_day if item.state.live and s.id != item.case.id)
        context = CaseContext(item.case, item.records, duplicates, reference, day)
        drafts = {draft.key(item.case.id): draft for draft in evaluate(context, ruleset)}
        neighbours = frozenset(
            sibling.id
            for key in {item.previous_key, current}
            if key is not None
            for sibling in by_key.get(key, [])
            if sibling.id != item.case.id
        )
        evaluations.append(Evaluation(item.case, drafts, item.state.deadline_date, item.evaluated_before, neighbours))
    return evaluations


def refresh_cases(
    session: Session,
    ctx: WriteContext,
    case_ids: Collection[uuid.UUID],
    as_of: dt.datetime,
    ruleset: Ruleset,
    *,
    run_id: uuid.UUID | None = None,
    stats: SyncStats | None = None,
) -> SyncStats:
    """Re-check the cases and bring their stored findings in line (open, keep, reopen, auto-resolve)."""
    stats = stats or SyncStats()
    evaluations = evaluate_cases(session, case_ids, as_of, ruleset)
    return _sync_findings(session, ctx, evaluations, as_of, run_id, stats)


def _sync_findings(
    session: Session,
    ctx: WriteContext,
    evaluations: Sequence[Evaluation],
    as_of: dt.datetime,
    run_id: uuid.UUID | None,
    stats: SyncStats,
) -> SyncStats:
    checked_before = [evaluation for evaluation in evaluations if evaluation.evaluated_before]
    existing: dict[uuid.UUID, list[Finding]] = {}
    if checked_before:
        keys = {key for evaluation in checked_before for key in evaluation.drafts}
        existing = repository.findings_for_cases(session, [e.case.id for e in checked_before], keys)
    now = utcnow()
    seen: list[uuid.UUID] = []
    for evaluation in evaluations:
        stats.evaluated += 1
        found = existing.get(evaluation.case.id, [])
        _sync_case(session, ctx, evaluation, found, now, as_of, run_id, stats, seen)
    session.flush()
    repository.mark_seen(session, seen, now, run_id)
    return stats


def _sync_case(
    session: Session,
    ctx: WriteContext,
    evaluation: Evaluation,
    existing: Iterable[Finding],
    now: dt.datetime,
    as_of: dt.datetime,
    run_id: uuid.UUID | None,
    stats: SyncStats,
    seen: list[uuid.UUID],
) -> None:
    by_key = {finding.finding_key: finding for finding in existing}
    day = jakarta_day(as_of)
    for key, draft in evaluation.drafts.items():
        stats.by_rule[draft.rule] = stats.by_rule.get(draft.rule, 0) + 1
        finding = by_key.get(key)
        if finding is None:
            finding = _new_finding(session, evaluation, key, draft, now, run_id, ctx)
            stats.opened += 1
            continue
        _refresh_details(finding, draft, evaluation)
        seen.append(finding.id)
        expired = finding.suppressed_until is not None and finding.suppressed_until < day
        if finding.state == FindingState.RESOLVED or (finding.state == FindingState.SUPPRESSED and expired):
            _change_state(session, ctx, finding, FindingState.OPEN, "reopened", now, run_id=run_id,
                          note="produced again by a re-check")  # fmt: skip
            stats.reopened += 1
        else:
            stats.unchanged += 1
    for finding in by_key.values():
        if finding.finding_key in evaluation.drafts or finding.state not in repository.WATCHED_STATES:
            continue
        _change_state(session, ctx, finding, FindingState.RESOLVED, "resolved", now, run_id=run_id,
                      resolution=Resolution.AUTO_CLEARED, note="no longer produced by a re-check")  # fmt: skip
        stats.resolved += 1


def _refresh_details(finding: Finding, draft: FindingDraft, evaluation: Evaluation) -> None:
    """Keep evidence and messages current (days overdue grow) without dirtying rows that did not change."""
    evidence = _plain(draft.evidence)
    if finding.evidence != evidence:
        finding.evidence = evidence
    if (finding.message_en, finding.message_id) != (draft.message_en, draft.message_id):
        finding.message_en, finding.message_id = draft.message_en, draft.message_id
    if finding.deadline_date != evaluation.deadline_date:
        finding.deadline_date = evaluation.deadline_date
    if finding.severity != draft.severity.value:
        finding.severity, finding.severity_rank = draft.severity.value, draft.severity.rank
        finding.version += 1


def _new_finding(
    session: Session,
    evaluation: Evaluation,
    key: str,
    draft: FindingDraft,
    now: dt.datetime,
    run_id: uuid.UUID | None,
    ctx: WriteContext,
) -> Finding:
    case = evaluation.case
    finding = Finding(
        id=uuid.uuid4(),
        finding_key=key,
        case_id=case.id,
        rule=draft.rule,
        fields=",".join(draft.fields),
        severity=draft.severity.value,
        severity_rank=draft.severity.rank,
        hint=draft.hint,
        state=FindingState.OPEN.value,
        observed=_plain(draft.observed),
        evidence=_plain(draft.evidence),
        message_id=draft.message_id,
        message_en=draft.message_en,
        case_number=case.case_number,
        nip=case.nip,
        province_code=case.province_code,
        deadline_date=evaluation.deadline_date,
        first_seen_at=now,
        last_seen_at=now,
        first_seen_run_id=run_id,
        last_seen_run_id=run_id,
        state_changed_at=now,
        state_changed_by=ctx.principal.client_id,
        version=1,
        agencies=[FindingAgency(agency=agency) for agency in sorted(set(draft.agencies))],
    )
    session.add(finding)
    _record_event(session, ctx, finding, "opened", None, now, run_id=run_id, note=None)
    return finding


def _plain(value: Any) -> Any:
    """JSON round trip: stored JSON equals what the API and the ledger show."""
    return json.loads(json.dumps(value, default=str))


def _change_state(
    session: Session,
    ctx: WriteContext,
    finding: Finding,
    target: FindingState,
    action: str,
    now: dt.datetime,
    *,
    run_id: uuid.UUID | None = None,
    resolution: Resolution | None = None,
    note: str | None = None,
    suppressed_until: dt.date | None = None,
) -> None:
    previous = finding.state
    finding.state = target.value
    finding.resolution = resolution.value if resolution else None
    finding.suppressed_until = suppressed_until
    finding.note = note
    finding.state_changed_at = now
    finding.state_changed_by = ctx.principal.client_id
    finding.version += 1
    _record_event(session, ctx, finding, action, previous, now, run_id=run_id, note=note)


def _record_event(
    session: Session,
    ctx: WriteContext,
    finding: Finding,
    action: str,
    previous: str | None,
    now: dt.datetime,
    *,
    run_id: uuid.UUID | None,
    note: str | None,
) -> None:
    session.add(
        FindingEvent(
            finding_id=finding.id,
            at=now,
            actor=ctx.principal.client_id,
            action=action,
            from_state=previous,
            to_state=finding.state,
            note=note,
            run_id=run_id,
        )
    )
    append_at_commit(
        session,
        ctx,
        entry_type=f"finding.{action}",
        case_id=finding.case_id,
        payload={
            "finding_id": str(finding.id),
            "finding_key": finding.finding_key,
            "rule": finding.rule,
            "fields": finding.fields,
            "severity": finding.severity,
            "from_state": previous,
            "to_state": finding.state,
            "resolution": finding.resolution,
            "suppressed_until": finding.suppressed_until.isoformat() if finding.suppressed_until else None,
            "note": note,
            "run_id": str(run_id) if run_id else None,
        },
    )


# ---------------------------------------------------------------------------------------------------------
# Entry points


def on_case_written(
    session: Session, ctx: WriteContext, case_id: uuid.UUID, *, as_of: dt.datetime | None = None
) -> SyncStats:
    """Incremental re-check after any write to a case or one of its agency records (same transaction).

    Cases that shared, or now share, its NIP and incident date are re-checked too: their duplicate findings
    depend on this case.
    """
    moment = as_of or utcnow()
    ruleset = ruleset_of(settings_of(session))
    stats = SyncStats()
    evaluations = evaluate_cases(session, [case_id], moment, ruleset)
    _sync_findings(session, ctx, evaluations, moment, None, stats)
    siblings = {sibling for evaluation in evaluations for sibling in evaluation.neighbours}
    if siblings:
        refresh_cases(session, ctx, siblings, moment, ruleset, stats=stats)
    return stats


def can_see_finding(session: Session, principal: Principal, finding: Finding) -> bool:
    """Auditors see every finding; an agency sees those about its data or about a case it holds a record of."""
    if principal.agency is None:
        return True
    agency = principal.agency.value
    return agency in finding.agency_codes or repository.agency_touches_case(session, agency, finding.case_id)


def visible_finding(
    session: Session, principal: Principal, finding_id: uuid.UUID, *, for_update: bool = False
) -> Finding:
    finding = repository.get_finding(session, finding_id, for_update=for_update)
    if finding is None or not can_see_finding(session, principal, finding):
        raise NotFound(f"No finding with id {finding_id}.")
    return finding


def require_visible_case(session: Session, principal: Principal, case_id: uuid.UUID) -> Case:
    case = session.get(Case, case_id)
    visible = case is not None and (
        principal.agency is None or repository.agency_touches_case(session, principal.agency.value, case_id)
    )
    if case is None or not visible:
        raise NotFound(f"No case with id {case_id}.")
    return case


def check_case_now(session: Session, ctx: WriteContext, case_id: uuid.UUID) -> tuple[list[Finding], SyncStats]:
    require_visible_case(session, ctx.principal, case_id)
    stats = on_case_written(session, ctx, case_id)
    findings = repository.findings_for_cases(session, [case_id], [])[case_id]
    active = sorted(
        (f for f in findings if f.state in ACTIVE_STATES),
        key=lambda f: (-f.severity_rank, f.rule, str(f.id)),
    )
    return active, stats


_ALLOWED_FROM: dict[TriageAction, tuple[tuple[str, ...], FindingState, str]] = {
    TriageAction.ACKNOWLEDGE: ((FindingState.OPEN.value,), FindingState.ACKNOWLEDGED, "acknowledged"),
    TriageAction.RESOLVE: (ACTIVE_STATES, FindingState.RESOLVED, "resolved"),
    TriageAction.SUPPRESS: (ACTIVE_STATES, FindingState.SUPPRESSED, "suppressed"),
    TriageAction.REOPEN: (
        (FindingState.RESOLVED.value, FindingState.SUPPRESSED.value),
        FindingState.OPEN,
        "reopened",
    ),
}


def triage(
    session: Session,
    ctx: WriteContext,
    finding_id: uuid.UUID,
    action: TriageAction,
    *,
    note: str | None,
    suppressed_until: dt.date | None,
    if_match: str | None,
) -> Finding:
    finding = visible_finding(session, ctx.principal, finding_id, for_update=True)
    check_if_match(if_match, finding.version)
    sources, target, verb = _ALLOWED_FROM[action]
    if finding.state not in sources:
        raise IllegalTransition(
            f"Cannot {action} a finding in state {finding.state}; allowed from: {', '.join(sources)}.",
            extra={"current_state": finding.state, "action": action},
        )
    resolution = None
    if action == TriageAction.RESOLVE:
        now = utcnow()
        ruleset = ruleset_of(settings_of(session))
        (evaluation,) = evaluate_cases(session, [finding.case_id], now, ruleset)
        if finding.finding_key in evaluation.drafts:
            raise Conflict(
                "The agencies' data still disagree exactly as this finding describes; correct the data at the "
                "source first (the finding then resolves itself), or suppress it with a reason.",
                extra={"finding_key": finding.finding_key},
            )
        resolution = Resolution.FIXED_AT_SOURCE
    _change_state(
        session,
        ctx,
        finding,
        target,
        verb,
        utcnow(),
        resolution=resolution,
        note=note,
        suppressed_until=suppressed_until if action == TriageAction.SUPPRESS else None,
    )
    session.flush()
    return finding


def system_context(run_id: uuid.UUID, request: dict[str, Any]) -> WriteContext:
    """Who writes during a sweep: the service itself, on behalf of the run (ledger entries say which)."""
    body = json.dumps(request, sort_keys=True, default=str).encode()
    return WriteContext(
        principal=Principal(client_id=SYSTEM_CLIENT_ID, role=Role.ADMIN),
        body_sha256=hashlib.sha256(body).hexdigest(),
        request_id=f"reconciliation-run:{run_id}",
    )
