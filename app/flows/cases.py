"""Write flows of the cases domain: one function per use case, read top to bottom.

Every flow runs the same pipeline (ARCHITECTURE.md, "The write pipeline"):

1. authorise — the route's scopes are checked by the web layer before the flow runs; the domain service checks
   what the acting agency may do (its own record, the workflow's agency rules);
2. claim the Idempotency-Key (its own short transaction);
3. the domain change (rows flushed, not committed), described as a ``LedgerChange``; a change to an existing
   case first locks the case row (``cases.lock_cases``), the order a reconciliation round locks in;
4. note the touched case in the reconciliation outbox (and the stage each written record reached): the outbox
   worker re-checks it after the commit (findings lag the write by about a poll interval;
   ``POST /reconciliation/cases/{id}/check`` re-checks at once);
5. record the ledger changes as pending (``sequencer.record_changes``: one row, no lock; 503 above the backlog);
6. store the reply under the Idempotency-Key, naming the pending record (a replay fills the receipt in);
7. commit (``transaction``);
8. after the commit: wait until the sequencer has given the entries their positions, and answer with the
   receipt (header and body field); notifications to agency systems belong here, never before the commit.

Checkpoints are signed by the sequencer's rounds (decision 0028), never over entries that might still roll back;
a log that no longer matches its last checkpoint refuses the write (503) instead of acknowledging it.

Failure path: any exception in 3–7 rolls the whole transaction back — no row, no ledger entry, no stored reply —
and then releases the key so that the client may retry (2); the error reaches the client as problem+json.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from app.cases import service as cases
from app.cases.models import Case
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
)
from app.core.actor import WriteContext
from app.core.config import Settings
from app.core.db import transaction
from app.core.etag import etag_of
from app.idempotency import service as idempotency
from app.idempotency.service import IdempotencyKey, Reply
from app.ledger import sequencer
from app.ledger.schemas import LedgerChange
from app.reconciliation import outbox
from app.reconciliation import service as reconciliation

CASES_PATH = "/api/v1/cases"


def create_case(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    data: CaseCreate,
    key: IdempotencyKey | None,
) -> Reply[CaseRead]:
    # 1. authorise: the route checked cases:write; create_case checks that the caller acts for an agency.
    # 2. claim the key (released if anything below fails) and 7. commit when the block ends.
    with idempotency.claimed(factory, settings, key, proof=ctx.ledger_proof), transaction(factory) as session:
        case = cases.create_case(session, settings, ctx, data)  # 3. domain change
        outbox.record_touched(session, [case.read.id])  # 4. reconciled after the commit
        pending = sequencer.record_changes(session, settings, ctx, [case.created])  # 5. ledger, pending
        headers = {"Location": f"{CASES_PATH}/{case.read.id}", "ETag": etag_of(case.read.version)}
        reply = Reply(201, case.read, headers)
        idempotency.store(session, key, reply, pending)  # 6. store the reply
    # 8. once the entries have positions (and, on request, their inclusion proofs)
    return reply.receipted(sequencer.receipt(factory, settings, pending, proof=ctx.ledger_proof))


def transition_case(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    case_id: uuid.UUID,
    data: TransitionCreate,
    if_match: str | None,
    key: IdempotencyKey | None,
) -> Reply[CaseRead]:
    return _step(
        factory, settings, ctx, case_id, key, lambda s, c: cases.transition_case(s, settings, ctx, c, data, if_match)
    )


def update_case(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    case_id: uuid.UUID,
    data: CaseUpdate,
    if_match: str | None,
) -> Reply[CaseRead]:
    """A case's instansi or register number set (PATCH: idempotent by its If-Match precondition, no key)."""
    return _step(factory, settings, ctx, case_id, None, lambda s, c: cases.update_case(s, ctx, c, data, if_match))


def correct_sanction(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    case_id: uuid.UUID,
    data: SanctionCorrectionCreate,
    if_match: str | None,
    key: IdempotencyKey | None,
) -> Reply[CaseRead]:
    """A recorded sanction corrected (``correct_sanction``): the same pipeline as a transition."""
    return _step(factory, settings, ctx, case_id, key, lambda s, c: cases.correct_sanction(s, ctx, c, data, if_match))


def reopen_case(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    case_id: uuid.UUID,
    data: ReopenCreate,
    if_match: str | None,
    key: IdempotencyKey | None,
) -> Reply[CaseRead]:
    return _step(
        factory, settings, ctx, case_id, key, lambda s, c: cases.reopen_case(s, settings, ctx, c, data, if_match)
    )


def _step(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    case_id: uuid.UUID,
    key: IdempotencyKey | None,
    take: Callable[[Session, Case], tuple[Case, list[LedgerChange]]],
) -> Reply[CaseRead]:
    """One change to a case (a workflow step, a reopening, a sanction correction, an update), through steps 2-8."""
    with idempotency.claimed(factory, settings, key, proof=ctx.ledger_proof), transaction(factory) as session:
        cases.lock_cases(session, [case_id])
        case, changes = take(session, cases.require_case(session, case_id))
        reconciliation.note_stages_reached(session, [case.id])
        outbox.record_touched(session, [case.id])
        pending = sequencer.record_changes(session, settings, ctx, changes)
        reply = Reply(200, cases.to_read(case), {"ETag": etag_of(case.version)})
        idempotency.store(session, key, reply, pending)
    return reply.receipted(sequencer.receipt(factory, settings, pending, proof=ctx.ledger_proof))


def submit_record(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    case_id: uuid.UUID,
    data: AgencyRecordCreate | ArchivedRecordCreate,
    key: IdempotencyKey | None,
) -> Reply[AgencyRecordRead]:
    """The calling agency's own record, or (``ArchivedRecordCreate``) a retired agency's from its archive."""
    with idempotency.claimed(factory, settings, key, proof=ctx.ledger_proof), transaction(factory) as session:
        locked = cases.lock_case_numbers(session, [case_id])
        record = cases.submit_record(session, ctx, locked, (case_id, data))
        reconciliation.note_stages_reached(session, [case_id])
        outbox.record_touched(session, [case_id])
        pending = sequencer.record_changes(session, settings, ctx, [record.submitted])
        reply = Reply(
            201,
            record.read,
            {"Location": f"{CASES_PATH}/{case_id}/records/{record.read.id}", "ETag": etag_of(record.read.version)},
        )
        idempotency.store(session, key, reply, pending)
    return reply.receipted(sequencer.receipt(factory, settings, pending, proof=ctx.ledger_proof))


def update_record(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    case_id: uuid.UUID,
    record_id: uuid.UUID,
    data: AgencyRecordUpdate,
    if_match: str | None,
) -> Reply[AgencyRecordRead]:
    """PATCH is idempotent by its If-Match precondition: no Idempotency-Key step."""
    with transaction(factory) as session:
        cases.lock_cases(session, [case_id])
        record = cases.require_own_record(session, ctx.principal, case_id, record_id)
        record, updated = cases.update_record(session, ctx, record, data, if_match)
        reconciliation.note_stages_reached(session, [record.case_id])
        outbox.record_touched(session, [record.case_id])
        pending = sequencer.record_changes(session, settings, ctx, [updated])
        reply = Reply(200, AgencyRecordRead.model_validate(record), {"ETag": etag_of(record.version)})
    return reply.receipted(sequencer.receipt(factory, settings, pending, proof=ctx.ledger_proof))
