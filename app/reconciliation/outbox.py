"""Reconciliation after the commit: the outbox of touched cases and the worker round that re-checks them.

A write records which cases it touched (``record_touched``) in its own transaction and answers without
re-checking them; ``run_round`` — a background thread of each serving process (``app.api.reconciliation_worker``),
``sbt import`` and ``sbt demo-data`` at their end, a test's drain — takes the oldest touched cases, re-checks them
with the same ``on_cases_written`` the write used to call (their duplicates included), appends the findings'
ledger changes and deletes the outbox rows of those cases, all in one transaction. On PostgreSQL a round holds a
transaction-scoped advisory lock, so one replica at a time runs one (the others skip that round); on SQLite the
round's writing transaction holds the database's write lock.

A finding therefore lags the write that caused it by up to one poll interval plus one round
(``SBT_RECONCILIATION_OUTBOX_INTERVAL_SECONDS``); ``backlog`` measures it for ``/ready`` and ``/metrics``.
``POST /api/v1/reconciliation/cases/{id}/check`` still re-checks a case inside its own request.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import transaction, try_round_lock, utcnow
from app.ledger import sequencer
from app.reconciliation.findings import SyncOutcome
from app.reconciliation.models import TouchedCase
from app.reconciliation.service import on_cases_written, system_context

ROUND_LOCK_KEY = 0x5B7_0B0C
"""Advisory lock key of an outbox round (one holder per database at a time)."""


_INSERT_TOUCHED = insert(cast(Table, TouchedCase.__table__))


def record_touched(session: Session, case_ids: Collection[uuid.UUID]) -> None:
    """Note, in the write's transaction, that these cases need a re-check (one INSERT for all of them)."""
    if not case_ids:
        return
    now = utcnow()
    session.execute(
        _INSERT_TOUCHED,
        [{"case_id": case_id, "touched_at": now} for case_id in sorted(case_ids)],
    )


@dataclass(frozen=True, slots=True)
class Backlog:
    """Touched cases not yet re-checked, and since when the oldest has waited."""

    cases: int
    oldest_touched_at: dt.datetime | None

    def lag_seconds(self, now: dt.datetime) -> float:
        """How long the oldest waiting write has gone without its re-check (0 with nothing waiting)."""
        return 0.0 if self.oldest_touched_at is None else max(0.0, (now - self.oldest_touched_at).total_seconds())


def backlog(session: Session) -> Backlog:
    count, oldest = session.execute(
        select(func.count(func.distinct(TouchedCase.case_id)), func.min(TouchedCase.touched_at))
    ).one()
    return Backlog(int(count), oldest)


def has_backlog(session: Session) -> bool:
    return session.scalar(select(TouchedCase.id).limit(1)) is not None


_OLDEST = select(TouchedCase.case_id).order_by(TouchedCase.id).limit(bindparam("limit"))
_HANDLED = delete(TouchedCase).where(TouchedCase.case_id.in_(bindparam("case_ids", expanding=True)))
"""A round's read and delete of its outbox rows, built once (a one-case round spent more composing than running
its statements)."""


@dataclass(frozen=True, slots=True)
class Round:
    """One round's work: the touched cases it re-checked (0: nothing waited) and what their findings did."""

    cases: int
    outcome: SyncOutcome
    emptied: bool
    """It read fewer outbox rows than a round takes: every case touched before its read is re-checked now (a round
    touches none itself), so a drain needs no further round to look."""


def run_round(factory: sessionmaker[Session], settings: Settings, *, as_of: dt.datetime | None = None) -> Round | None:
    """Re-check up to ``SBT_RECONCILIATION_BATCH_SIZE`` of the oldest touched cases in one transaction; None when
    another replica holds this round's lock. ``as_of`` (tests, the demo data) evaluates at that moment."""
    with transaction(factory) as session:
        if not try_round_lock(session, ROUND_LOCK_KEY):
            return None
        rows = session.scalars(_OLDEST, {"limit": settings.reconciliation_batch_size}).all()
        case_ids = set(rows)
        if not case_ids:
            return Round(0, SyncOutcome(), emptied=True)
        round_id = uuid.uuid4()
        ctx = system_context(
            round_id, {"outbox": sorted(str(case_id) for case_id in case_ids)}, "reconciliation-outbox"
        )
        outcome = on_cases_written(session, settings, ctx, case_ids, as_of=as_of)
        pending = sequencer.record_changes(session, settings, ctx, outcome.ledger_changes)
        session.execute(_HANDLED, {"case_ids": sorted(case_ids)})  # every row of them (``TouchedCase``)
    sequencer.receipt(factory, settings, pending)  # the round is done once its findings' entries are in the log
    return Round(len(case_ids), outcome, emptied=len(rows) < settings.reconciliation_batch_size)


def drain(factory: sessionmaker[Session], settings: Settings, *, as_of: dt.datetime | None = None) -> SyncOutcome:
    """Rounds until every case touched before the drain began is re-checked (or another replica holds the round):
    the worker's look, the CLI's end, and tests. A round that emptied the outbox ends it: a serving process's
    worker then looked with one round, not two, and a write arriving meanwhile waits for the next look."""
    total = SyncOutcome()
    while (done := run_round(factory, settings, as_of=as_of)) is not None and done.cases:
        total.add(done.outcome)
        if done.emptied:
            break
    return total
