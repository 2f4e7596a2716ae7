"""Entry points of reconciliation: re-check cases after writes and in sweeps, check one case now, triage.

``on_cases_written`` re-checks the cases a write touched, after its commit, in the rounds of the outbox worker
(app.reconciliation.outbox); ``check_case_now`` re-checks one case inside a request; sweeps
(app.reconciliation.runner) call ``refresh_cases`` on batches. All go through the same normalise -> evaluate ->
sync path (facts.py, then findings.py), which is what makes incremental and full runs
agree. Who may see what is decided in visibility.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from app.core.actor import Principal, Role, WriteContext
from app.core.config import Settings
from app.core.db import utcnow
from app.reconciliation import repository
from app.reconciliation.facts import (
    build_reference,
    case_facts,
    compared_fingerprint,
    duplicate_case_ids,
    evaluate_cases,
    jakarta_day,
    note_stages_reached,
    record_facts,
    reference_data,
    ruleset_of,
)
from app.reconciliation.findings import SyncOutcome, sync_findings, triage
from app.reconciliation.models import ACTIVE_STATES, Finding
from app.reconciliation.rules import Ruleset
from app.reconciliation.visibility import require_visible_case, visible_finding

__all__ = [
    "SYSTEM_CLIENT_ID",
    "SyncOutcome",
    "build_reference",
    "case_facts",
    "check_case_now",
    "compared_fingerprint",
    "duplicate_case_ids",
    "evaluate_cases",
    "jakarta_day",
    "note_stages_reached",
    "on_case_written",
    "on_cases_written",
    "record_facts",
    "reference_data",
    "refresh_cases",
    "require_visible_case",
    "ruleset_of",
    "system_context",
    "triage",
    "visible_finding",
]

SYSTEM_CLIENT_ID = "system:reconciliation"


def refresh_cases(
    session: Session,
    ctx: WriteContext,
    case_ids: Collection[uuid.UUID],
    as_of: dt.datetime,
    ruleset: Ruleset,
    *,
    run_id: uuid.UUID | None = None,
    stats: SyncOutcome | None = None,
) -> SyncOutcome:
    """Re-check the cases and bring their stored findings in line (open, keep, reopen, auto-resolve)."""
    stats = stats or SyncOutcome()
    evaluations = evaluate_cases(session, case_ids, as_of, ruleset)
    return sync_findings(session, ctx, evaluations, as_of, run_id, stats)


def on_case_written(
    session: Session, settings: Settings, ctx: WriteContext, case_id: uuid.UUID, *, as_of: dt.datetime | None = None
) -> SyncOutcome:
    """Incremental re-check of one case and its duplicates, in the caller's transaction."""
    return on_cases_written(session, settings, ctx, [case_id], as_of=as_of)


def on_cases_written(
    session: Session,
    settings: Settings,
    ctx: WriteContext,
    case_ids: Collection[uuid.UUID],
    *,
    as_of: dt.datetime | None = None,
) -> SyncOutcome:
    """Incremental re-check of every case a write touched, in one pass per batch of
    ``SBT_RECONCILIATION_BATCH_SIZE`` cases (a bulk import re-checks each case once, not once per item).

    Cases that were, or now are, a touched case's duplicates (same NIP and violation form, incidents within the
    window) are re-checked too: their duplicate findings depend on it.
    """
    moment = as_of or utcnow()
    ruleset = ruleset_of(settings)
    stats = SyncOutcome()
    touched = sorted(set(case_ids))
    siblings: set[uuid.UUID] = set()
    size = settings.reconciliation_batch_size
    for start in range(0, len(touched), size):
        evaluations = evaluate_cases(session, touched[start : start + size], moment, ruleset)
        sync_findings(session, ctx, evaluations, moment, None, stats)
        siblings.update(sibling for evaluation in evaluations for sibling in evaluation.neighbours)
    remaining = sorted(siblings.difference(touched))
    for start in range(0, len(remaining), size):
        refresh_cases(session, ctx, remaining[start : start + size], moment, ruleset, stats=stats)
    return stats


def check_case_now(
    session: Session, settings: Settings, ctx: WriteContext, case_id: uuid.UUID
) -> tuple[list[Finding], SyncOutcome]:
    require_visible_case(session, ctx.principal, case_id)
    stats = on_case_written(session, settings, ctx, case_id)
    findings = repository.findings_for_cases(session, [case_id], [])[case_id]
    active = sorted(
        (f for f in findings if f.state in ACTIVE_STATES),
        key=lambda f: (-f.severity_rank, f.rule, str(f.id)),
    )
    return active, stats


def system_context(run_id: uuid.UUID, request: dict[str, Any], source: str = "reconciliation-run") -> WriteContext:
    """Who writes during a sweep or an outbox round: the service itself, on behalf of the run or round (its
    entries' ``request_id`` is ``<source>:<id>``)."""
    body = json.dumps(request, sort_keys=True, default=str).encode()
    return WriteContext(
        principal=Principal(client_id=SYSTEM_CLIENT_ID, role=Role.ADMIN),
        body_sha256=hashlib.sha256(body).hexdigest(),
        request_id=f"{source}:{run_id}",
    )
