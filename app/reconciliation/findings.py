"""Findings and their lifecycle: opened, refreshed and closed from evaluation drafts, triaged by agencies.

Every state change is recorded as a finding event and as a ledger entry. A re-check reopens a resolved (or
expired suppressed) finding whose draft is produced again, and auto-resolves watched findings no longer produced.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from app.core.actor import WriteContext
from app.core.config import Settings
from app.core.db import utcnow
from app.core.etag import check_if_match
from app.core.problems import Conflict, IllegalTransition
from app.ledger.schemas import LedgerChange
from app.ledger.service import format_timestamp
from app.reconciliation import repository
from app.reconciliation.facts import Evaluation, evaluate_cases, jakarta_day, ruleset_of
from app.reconciliation.models import ACTIVE_STATES, Finding, FindingState, Resolution
from app.reconciliation.repository import FindingWrites, StoredFinding
from app.reconciliation.rules import FindingDraft
from app.reconciliation.schemas import TriageAction
from app.reconciliation.visibility import visible_finding


@dataclass(slots=True)
class SyncOutcome:
    """What bringing findings in line did: counts for the caller, and the ledger changes for the write flow."""

    evaluated: int = 0
    opened: int = 0
    resolved: int = 0
    reopened: int = 0
    unchanged: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    ledger_changes: list[LedgerChange] = field(default_factory=list)

    def add(self, other: SyncOutcome) -> None:
        """Count ``other`` (a sweep's batch, whose ledger changes are already appended) into these totals."""
        self.evaluated += other.evaluated
        self.opened += other.opened
        self.resolved += other.resolved
        self.reopened += other.reopened
        self.unchanged += other.unchanged
        for rule, count in other.by_rule.items():
            self.by_rule[rule] = self.by_rule.get(rule, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {
            "evaluated_cases": self.evaluated,
            "opened": self.opened,
            "resolved": self.resolved,
            "reopened": self.reopened,
            "unchanged": self.unchanged,
            "produced_by_rule": dict(sorted(self.by_rule.items())),
        }


Lifecycle = Finding | StoredFinding
"""What a state change reads and sets: a ``Finding`` (triage) or a ``StoredFinding`` (a re-check)."""


def sync_findings(
    session: Session,
    ctx: WriteContext,
    evaluations: Sequence[Evaluation],
    as_of: dt.datetime,
    run_id: uuid.UUID | None,
    stats: SyncOutcome,
) -> SyncOutcome:
    """Bring the stored findings of the evaluated cases in line with their drafts (open, keep, reopen,
    auto-resolve), counting into ``stats``. The findings are read in one statement and written in a few
    multi-row ones (``repository.write_findings``)."""
    checked_before = [evaluation for evaluation in evaluations if evaluation.evaluated_before]
    existing: dict[uuid.UUID, list[StoredFinding]] = {}
    if checked_before:
        keys = {key for evaluation in checked_before for key in evaluation.drafts}
        existing = repository.stored_findings(session, [e.case.id for e in checked_before], keys)
    now = utcnow()
    writes = FindingWrites()
    for evaluation in evaluations:
        stats.evaluated += 1
        found = existing.get(evaluation.case.id, [])
        _sync_case(ctx, evaluation, found, now, as_of, run_id, stats, writes)
    repository.write_findings(session, writes, now, run_id)
    return stats


def _sync_case(
    ctx: WriteContext,
    evaluation: Evaluation,
    existing: Iterable[StoredFinding],
    now: dt.datetime,
    as_of: dt.datetime,
    run_id: uuid.UUID | None,
    stats: SyncOutcome,
    writes: FindingWrites,
) -> None:
    by_key = {finding.finding_key: finding for finding in existing}
    day = jakarta_day(as_of)
    for key, draft in evaluation.drafts.items():
        stats.by_rule[draft.rule] = stats.by_rule.get(draft.rule, 0) + 1
        finding = by_key.get(key)
        if finding is None:
            stats.ledger_changes.append(_new_finding(ctx, evaluation, key, draft, now, run_id, writes))
            stats.opened += 1
            continue
        changed = _refresh_details(finding, draft, evaluation)
        writes.seen.append(finding.id)
        expired = finding.suppressed_until is not None and finding.suppressed_until < day
        if finding.state == FindingState.RESOLVED or (finding.state == FindingState.SUPPRESSED and expired):
            stats.ledger_changes.append(
                _change_state(ctx, finding, FindingState.OPEN, "reopened", now, writes.events, run_id=run_id,
                              note="produced again by a re-check")
            )  # fmt: skip
            stats.reopened += 1
            changed = True
        else:
            stats.unchanged += 1
        if changed:
            writes.changed.append(finding)
    for finding in by_key.values():
        if finding.finding_key in evaluation.drafts or finding.state not in repository.WATCHED_STATES:
            continue
        stats.ledger_changes.append(
            _change_state(ctx, finding, FindingState.RESOLVED, "resolved", now, writes.events, run_id=run_id,
                          resolution=Resolution.AUTO_CLEARED, note="no longer produced by a re-check")
        )  # fmt: skip
        writes.changed.append(finding)
        stats.resolved += 1


def _refresh_details(finding: StoredFinding, draft: FindingDraft, evaluation: Evaluation) -> bool:
    """Keep evidence and messages current (days overdue grow); whether anything changed (only changed rows are
    written)."""
    evidence = stored_json(draft.evidence)
    messages = (draft.message_en, draft.message_indonesian)
    changed = False
    if finding.evidence != evidence:
        finding.evidence, changed = evidence, True
    if (finding.message_en, finding.message_indonesian) != messages:
        (finding.message_en, finding.message_indonesian), changed = messages, True
    if finding.deadline_date != evaluation.deadline_date:
        finding.deadline_date, changed = evaluation.deadline_date, True
    if finding.severity != draft.severity.value:
        finding.severity, finding.severity_rank = draft.severity.value, draft.severity.rank
        finding.version += 1
        changed = True
    return changed


def _new_finding(
    ctx: WriteContext,
    evaluation: Evaluation,
    key: str,
    draft: FindingDraft,
    now: dt.datetime,
    run_id: uuid.UUID | None,
    writes: FindingWrites,
) -> LedgerChange:
    case = evaluation.case
    finding = StoredFinding(
        id=uuid.uuid4(),
        finding_key=key,
        case_id=case.id,
        rule=draft.rule,
        fields=",".join(draft.fields),
        severity=draft.severity.value,
        severity_rank=draft.severity.rank,
        state=FindingState.OPEN.value,
        resolution=None,
        suppressed_until=None,
        note=None,
        evidence=stored_json(draft.evidence),
        message_en=draft.message_en,
        message_indonesian=draft.message_indonesian,
        deadline_date=evaluation.deadline_date,
        state_changed_at=now,
        state_changed_by=ctx.principal.client_id,
        version=1,
    )
    agencies = sorted(set(draft.agencies))
    kept = {"case_number": case.case_number, "nip": case.nip, "province_code": case.province_code,
            "hint": draft.hint, "observed": stored_json(draft.observed)}  # fmt: skip
    writes.new.append(
        finding.values()
        | kept
        | {"first_seen_at": now, "last_seen_at": now, "first_seen_run_id": run_id, "last_seen_run_id": run_id}
    )
    writes.agencies.extend({"finding_id": finding.id, "agency": agency} for agency in agencies)
    # what a finding keeps from its opening on: recorded once, so the state audit can rebuild the row
    opened = kept | {"agencies": agencies, "first_seen_at": format_timestamp(now)}
    return _record_event(ctx, finding, "opened", None, now, writes.events, run_id=run_id, note=None, opened=opened)


_STORED_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def stored_json(value: Any) -> Any:
    """JSON round trip: stored JSON equals what the API and the ledger show. As the standard library's with
    ``default=str`` (dates and times as ``str()`` writes them), in a sixth of its time: every re-seen finding's
    evidence goes through it."""
    return orjson.loads(orjson.dumps(value, default=str, option=_STORED_JSON_OPTIONS))


def _change_state(
    ctx: WriteContext,
    finding: Lifecycle,
    target: FindingState,
    action: str,
    now: dt.datetime,
    events: list[dict[str, Any]],
    *,
    run_id: uuid.UUID | None = None,
    resolution: Resolution | None = None,
    note: str | None = None,
    suppressed_until: dt.date | None = None,
) -> LedgerChange:
    previous = finding.state
    finding.state = target.value
    finding.resolution = resolution.value if resolution else None
    finding.suppressed_until = suppressed_until
    finding.note = note
    finding.state_changed_at = now
    finding.state_changed_by = ctx.principal.client_id
    finding.version += 1
    return _record_event(ctx, finding, action, previous, now, events, run_id=run_id, note=note)


def _record_event(
    ctx: WriteContext,
    finding: Lifecycle,
    action: str,
    previous: str | None,
    now: dt.datetime,
    events: list[dict[str, Any]],
    *,
    run_id: uuid.UUID | None,
    note: str | None,
    opened: dict[str, Any] | None = None,
) -> LedgerChange:
    """Append the finding event's row to ``events`` (inserted by the caller) and return its ledger change;
    ``opened``: what an opened finding keeps from then on."""
    event_id = uuid.uuid4()  # named in the entry, so the state audit matches the row
    events.append(
        {
            "id": event_id,
            "finding_id": finding.id,
            "at": now,
            "actor": ctx.principal.client_id,
            "action": action,
            "from_state": previous,
            "to_state": finding.state,
            "note": note,
            "run_id": run_id,
        }
    )
    return LedgerChange(
        f"finding.{action}",
        {
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
            "state_changed_at": format_timestamp(finding.state_changed_at),
            "event_id": str(event_id),
        }
        | (opened or {}),
        finding.case_id,
    )


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
    settings: Settings,
    ctx: WriteContext,
    finding_id: uuid.UUID,
    action: TriageAction,
    *,
    note: str | None,
    suppressed_until: dt.date | None,
    if_match: str | None,
) -> tuple[Finding, LedgerChange]:
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
        ruleset = ruleset_of(settings)
        (evaluation,) = evaluate_cases(session, [finding.case_id], now, ruleset)
        if finding.finding_key in evaluation.drafts:
            raise Conflict(
                "The agencies' data still disagree exactly as this finding describes; correct the data at the "
                "source first (the finding then resolves itself), or suppress it with a reason.",
                extra={"finding_key": finding.finding_key},
            )
        resolution = Resolution.FIXED_AT_SOURCE
    events: list[dict[str, Any]] = []
    triaged = _change_state(
        ctx,
        finding,
        target,
        verb,
        utcnow(),
        events,
        resolution=resolution,
        note=note,
        suppressed_until=suppressed_until if action == TriageAction.SUPPRESS else None,
    )
    session.flush()
    repository.insert_finding_events(session, events)
    return finding, triaged
