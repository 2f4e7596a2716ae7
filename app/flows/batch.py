"""The batch write flow (bulk import): many single writes in one transaction, all or nothing.

``write_batch`` runs the write pipeline of ``app.flows.cases`` once for a whole batch:

1. validate every item with the single operation's schema (before the key is claimed, as a single write's body
   is validated before its handler runs); every invalid item is reported, with its index, and nothing is written;
2. claim the Idempotency-Key;
3. the items' domain changes (``BatchKind.write``), through the service the single operation uses:

   - cases: all at once, ``cases.create_cases``, set-based (each item checked as a single create checks it, the
     case numbers taken in one statement, one multi-row INSERT for the cases and one for their creator's records);
     the single create is that function's batch of one;
   - records, archived records, transitions: locked first (the cases they change, in id order, as a reconciliation
     round locks), then
   - records and archived records: all at once, ``cases.submit_records``, set-based (the locked cases' numbers
     handed to it, ``cases.lock_case_numbers``; each item checked in request
     order as a single submit or import checks it, against the records already there and the earlier accepted
     items, one multi-row INSERT); the single submit and import are that function's batch of one;
   - transitions: each item through its single service function (``transition_case``) in request order (the
     cases locked as objects, ``cases.lock_cases``, which the session then holds): a later item sees what the
     earlier ones wrote (a transition may follow the step before it).

   Either way every refused item is noted with its index and problem, so that one answer lists them all;
4. if any item was refused: raise ``BatchRejected``, which rolls the whole batch back;
5. note every touched case once in the reconciliation outbox (one INSERT; the outbox worker re-checks them
   after the commit, in batches);
6. record the ledger changes: one entry per item (two for a workflow step, as a single step writes), as one
   pending write (``sequencer.record_changes``: one row; the sequencer gives them consecutive positions in one
   round);
7. store the reply under the key; 8. commit through ``transaction``; 9. wait for the positions and answer.

Items after a refused one are checked against the state the earlier accepted items left, which is what they
would meet had the refused item been fixed (new cases depend on no other item; a record, on the earlier records of
its agency and case). The item count is bounded by the
web layer (``MAX_BATCH_ITEMS``); the ``sbt import`` command sends a whole file through this flow, so that a file
is imported all or nothing too.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from app.cases import service as cases
from app.cases.batch import ArchivedRecordBatchItem, BatchItemResult, BatchResult, RecordBatchItem, TransitionBatchItem
from app.cases.schemas import CaseCreate
from app.core.actor import WriteContext
from app.core.config import Settings
from app.core.db import transaction
from app.core.etag import etag_of
from app.core.problems import BatchItemProblem, BatchRejected, InvalidParam, ProblemError, ValidationProblem
from app.idempotency import service as idempotency
from app.idempotency.service import IdempotencyKey, Reply
from app.ledger import sequencer
from app.ledger.schemas import LedgerChange
from app.reconciliation import outbox
from app.reconciliation import service as reconciliation

CASES_PATH = "/api/v1/cases"

Progress = Callable[[int], None]
"""Called with the number of items written so far (the CLI's progress bar)."""


@dataclass(frozen=True, slots=True)
class _Written:
    id: uuid.UUID
    version: int
    case_id: uuid.UUID
    location: str
    changes: list[LedgerChange]


_Refused = list[BatchItemProblem]
_Writer = Callable[[Session, Settings, WriteContext, list[BaseModel], Progress | None], tuple[list[_Written], _Refused]]
"""Writes a batch's items; a writer of items that change existing cases locks those cases first."""


def _refused(index: int, error: ProblemError) -> BatchItemProblem:
    return BatchItemProblem(index=index, problem=error.to_problem(None))


def _create_cases(
    session: Session,
    settings: Settings,
    ctx: WriteContext,
    items: list[BaseModel],
    progress: Progress | None,
) -> tuple[list[_Written], _Refused]:
    """All the cases at once (``cases.create_cases``: set-based, the single create is its batch of one)."""
    reports = [item for item in items if isinstance(item, CaseCreate)]
    assert len(reports) == len(items)  # validated with CaseCreate
    created, refused = cases.create_cases(session, settings, ctx, reports)
    if progress is not None:
        progress(len(items))
    written = [
        _Written(new.read.id, new.read.version, new.read.id, f"{CASES_PATH}/{new.read.id}", [new.created])
        for new in created
    ]
    return written, [_refused(index, error) for index, error in refused]


def _submit_records(
    session: Session,
    _settings: Settings,
    ctx: WriteContext,
    items: list[BaseModel],
    progress: Progress | None,
) -> tuple[list[_Written], _Refused]:
    """All the records at once (``cases.submit_records``: set-based, in request order; the single submit is its
    batch of one), their cases locked first and only their numbers read."""
    records = [
        (item.case_id, item.record) for item in items if isinstance(item, RecordBatchItem | ArchivedRecordBatchItem)
    ]
    assert len(records) == len(items)  # validated with RecordBatchItem or ArchivedRecordBatchItem
    locked = cases.lock_case_numbers(session, {case_id for case_id, _ in records})
    created, refused = cases.submit_records(session, ctx, locked, records)
    if progress is not None:
        progress(len(items))
    written = [
        _Written(
            new.read.id,
            new.read.version,
            new.read.case_id,
            f"{CASES_PATH}/{new.read.case_id}/records/{new.read.id}",
            [new.submitted],
        )
        for new in created
    ]
    return written, [_refused(index, error) for index, error in refused]


def _one_by_one(write: Callable[[Session, Settings, WriteContext, BaseModel], _Written]) -> _Writer:
    """Each item through the single operation's service, in request order, the cases locked first (as objects,
    which the session then holds): a later item sees what the earlier ones wrote (a transition may follow the step
    before it). A refused item is noted with its problem and the next item is still tried, so that one answer
    lists every refused item."""

    def write_each(
        session: Session,
        settings: Settings,
        ctx: WriteContext,
        items: list[BaseModel],
        progress: Progress | None,
    ) -> tuple[list[_Written], _Refused]:
        cases.lock_cases(session, {item.case_id for item in items if isinstance(item, TransitionBatchItem)})
        written: list[_Written] = []
        refused: _Refused = []
        for index, item in enumerate(items):
            try:
                written.append(write(session, settings, ctx, item))
            except ProblemError as error:
                refused.append(_refused(index, error))
            if progress is not None:
                progress(index + 1)
        return written, refused

    return write_each


def _transition(session: Session, settings: Settings, ctx: WriteContext, item: BaseModel) -> _Written:
    assert isinstance(item, TransitionBatchItem)
    case = cases.require_case(session, item.case_id)
    case, changes = cases.transition_case(session, settings, ctx, case, item.transition, item.if_match)
    return _Written(case.id, case.version, case.id, f"{CASES_PATH}/{case.id}", changes)


class BatchKind(enum.Enum):
    """What a batch holds: the item schema and how its items are written."""

    CASES = (CaseCreate, _create_cases)
    RECORDS = (RecordBatchItem, _submit_records)
    ARCHIVED_RECORDS = (ArchivedRecordBatchItem, _submit_records)
    TRANSITIONS = (TransitionBatchItem, _one_by_one(_transition))

    def __init__(self, schema: type[BaseModel], write: _Writer) -> None:
        self.schema = schema
        self.write = write


def _invalid_item(error: ValidationError) -> ValidationProblem:
    """The problem the single operation would answer for this body (its parameters named ``body.<field>``)."""
    params = [
        InvalidParam(name=".".join(["body", *(str(part) for part in err["loc"])]), reason=err["msg"])
        for err in error.errors(include_url=False)
    ]
    return ValidationProblem(f"{len(params)} invalid input(s).", invalid_params=params)


def validate_items(kind: BatchKind, items: Sequence[Any]) -> list[BaseModel]:
    """Every item through its single-operation schema; ``BatchRejected`` lists each invalid item."""
    parsed: list[BaseModel] = []
    refused: list[BatchItemProblem] = []
    for index, item in enumerate(items):
        try:
            parsed.append(kind.schema.model_validate(item, from_attributes=True))  # as FastAPI validates a body
        except ValidationError as error:
            refused.append(_refused(index, _invalid_item(error)))
    if refused:
        raise BatchRejected(len(items), refused)
    return parsed


def write_batch(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    kind: BatchKind,
    items: Sequence[Any],
    key: IdempotencyKey | None,
    progress: Progress | None = None,
) -> Reply[BatchResult]:
    parsed = validate_items(kind, items)  # 1. validate every item
    # 2. claim, 8. commit
    with idempotency.claimed(factory, settings, key, proof=ctx.ledger_proof), transaction(factory) as session:
        written, refused = kind.write(session, settings, ctx, parsed, progress)  # 3. the items' changes
        if refused:
            raise BatchRejected(len(parsed), refused)  # 4. nothing is written
        touched = {w.case_id for w in written}
        if kind is not BatchKind.CASES:  # new cases' records start at the lowest stage: nothing reached yet
            reconciliation.note_stages_reached(session, touched)
        outbox.record_touched(session, touched)  # 5.
        changes = [change for w in written for change in w.changes]
        pending = sequencer.record_changes(session, settings, ctx, changes)  # 6.
        results: list[BatchItemResult] = []
        position = 0
        for index, w in enumerate(written):  # every item was written: their positions are the request's
            results.append(
                BatchItemResult(
                    index=index,
                    id=w.id,
                    case_id=w.case_id,
                    location=w.location,
                    etag=etag_of(w.version),
                    ledger_seq=position,  # the index of its first entry, until the receipt fills it in
                )
            )
            position += len(w.changes)
        # The receipt in the body only: a thousand items' leaf hashes would outgrow any HTTP header limit.
        reply = Reply(200, BatchResult(items=results), {}, receipt_in_headers=False)
        idempotency.store(session, key, reply, pending)  # 7.
    return reply.receipted(sequencer.receipt(factory, settings, pending, proof=ctx.ledger_proof))  # 9.
