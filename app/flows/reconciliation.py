"""Write flows of reconciliation: triage a finding, re-check a case now, queue a sweep.

Same pipeline as the case flows (``app.flows.cases``): scopes checked by the web layer, the change made by the
domain service, its ledger changes recorded as pending last, then the commit (a failure rolls everything back),
then the wait for the entries' positions.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import ReadAudit
from app.core.actor import Principal, WriteContext
from app.core.config import Settings
from app.core.db import transaction
from app.core.problems import NotFound
from app.ledger import sequencer
from app.ledger.schemas import LedgerReceipt
from app.reconciliation import repository, runner
from app.reconciliation import service as reconciliation
from app.reconciliation.models import Finding, Run
from app.reconciliation.schemas import RunCreate, TriageAction
from app.reconciliation.service import SyncOutcome


def triage_finding(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    finding_id: uuid.UUID,
    action: TriageAction,
    *,
    note: str | None,
    suppressed_until: dt.date | None,
    if_match: str | None,
) -> tuple[Finding, LedgerReceipt]:
    """The triaged finding and where its change was recorded."""
    with transaction(factory) as session:
        finding, triaged = reconciliation.triage(
            session, settings, ctx, finding_id, action, note=note, suppressed_until=suppressed_until, if_match=if_match
        )
        pending = sequencer.record_changes(session, settings, ctx, [triaged])
    return finding, sequencer.receipt(factory, settings, pending, proof=ctx.ledger_proof)


def check_case(
    factory: sessionmaker[Session], settings: Settings, ctx: WriteContext, case_id: uuid.UUID, audit: ReadAudit
) -> tuple[list[Finding], SyncOutcome, LedgerReceipt]:
    """Re-check one case; the findings it returns are read-audited in the check's own transaction."""
    with transaction(factory) as session:
        findings, outcome = reconciliation.check_case_now(session, settings, ctx, case_id)
        audit.in_session(session).findings(findings)
        pending = sequencer.record_changes(session, settings, ctx, outcome.ledger_changes)
    return findings, outcome, sequencer.receipt(factory, settings, pending, proof=ctx.ledger_proof)


def queue_run(factory: sessionmaker[Session], settings: Settings, principal: Principal, body: RunCreate) -> Run:
    """Commit the run row before the sweep starts: a sweep is a worker with its own transactions."""
    with transaction(factory) as session:
        if body.case_ids is not None:
            missing = set(body.case_ids) - set(repository.cases_by_id(session, body.case_ids))
            if missing:
                raise NotFound(f"No case with id {sorted(missing, key=str)[0]}.")
        return runner.create_run(
            session,
            principal.client_id,
            body.mode,
            body.as_of,
            body.case_ids,
            body.use_screen,
            stale_seconds=settings.reconciliation_run_stale_seconds,
        )
