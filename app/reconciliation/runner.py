"""Sweeps: full and deadline runs, started from the API (in the background) or the CLI.

A sweep is a worker, not a request: it owns its transactions, one per batch of cases, so a long run never
holds locks on every case at once and a failure loses at most one batch (which the next run redoes).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import transaction, utcnow
from app.core.problems import Conflict
from app.ledger import sequencer
from app.reconciliation import repository
from app.reconciliation.models import Run, RunMode, RunStatus
from app.reconciliation.rules import Ruleset, deadline_approaching, deadline_exceeded, duplicate_window_days
from app.reconciliation.service import (
    SyncOutcome,
    duplicate_case_ids,
    jakarta_day,
    refresh_cases,
    ruleset_of,
    system_context,
)

logger = logging.getLogger("sbt.reconciliation")
DEADLINE_RULES = (deadline_exceeded.code, deadline_approaching.code)
DEFAULT_STALE_SECONDS = 3600


class FullRunActive(Conflict):
    slug, title = "reconciliation-run-active", "A full reconciliation run is already queued or running"


def create_run(
    session: Session,
    requested_by: str,
    mode: RunMode,
    as_of: dt.datetime | None,
    case_ids: list[uuid.UUID] | None,
    use_screen: bool,
    *,
    stale_seconds: int = DEFAULT_STALE_SECONDS,
) -> Run:
    """Queue a run. At most one FULL run per database is queued or running at a time (409 otherwise); a run
    that began more than ``stale_seconds`` ago and never finished (its worker died) no longer counts."""
    if mode is RunMode.FULL:
        repository.lock_full_runs(session)
        active = repository.active_full_run(session, utcnow() - dt.timedelta(seconds=stale_seconds))
        if active is not None:
            raise FullRunActive(
                f"Full reconciliation run {active.id} is {active.status.lower()}; wait for it to finish "
                f"(GET /api/v1/reconciliation/runs/{active.id}).",
                extra={"running_run_id": str(active.id)},
            )
    run = Run(
        id=uuid.uuid4(),
        mode=mode.value,
        status=RunStatus.QUEUED.value,
        as_of=as_of or utcnow(),
        use_screen=use_screen,
        case_ids=[str(case_id) for case_id in case_ids] if case_ids is not None else None,
        requested_by=requested_by,
        requested_at=utcnow(),
        stats={},
    )
    session.add(run)
    session.flush()
    return run


@dataclass(frozen=True, slots=True)
class Selection:
    case_ids: list[uuid.UUID]
    screen_seconds: float
    stats: dict[str, int]


def select_cases(session: Session, run: Run, ruleset: Ruleset) -> Selection:
    """Which cases a run must evaluate. The full-run screen never skips a case on which a rule would fire."""
    started = time.perf_counter()
    day = jakarta_day(run.as_of)
    approaching = ruleset.config(deadline_approaching)
    due_by = day + dt.timedelta(days=int(approaching.params["days_before"]))
    counts: dict[str, int] = {}
    if run.mode == RunMode.CASES:
        chosen = {uuid.UUID(value) for value in run.case_ids or []}
    elif run.mode == RunMode.DEADLINES:
        chosen = repository.deadline_case_ids(session, due_by) | repository.watched_finding_case_ids(
            session, DEADLINE_RULES
        )
    elif not run.use_screen:
        chosen = repository.all_case_ids(session)
    else:
        repository.allow_large_sorts(session)
        parts = {
            "fingerprint_screen": repository.screened_case_ids(session),
            "deadline": repository.deadline_case_ids(session, due_by),
            "duplicate": duplicate_case_ids(session, duplicate_window_days(ruleset)),
            "not_normalized": repository.unnormalized_case_ids(session),
            "watched_findings": repository.watched_finding_case_ids(session),
        }
        counts = {f"flagged_{name}": len(ids) for name, ids in parts.items()}
        chosen = set().union(*parts.values())
    return Selection(sorted(chosen, key=str), time.perf_counter() - started, counts)


def execute_run(factory: sessionmaker[Session], settings: Settings, run_id: uuid.UUID) -> Run:
    """Run a queued sweep to completion, committing batch by batch; a failure is recorded on the run row."""
    with transaction(factory) as session:
        run = repository.get_run(session, run_id)
        if run is None:
            raise LookupError(f"no reconciliation run {run_id}")
        run.status, run.started_at = RunStatus.RUNNING.value, utcnow()
        request = {"mode": run.mode, "as_of": run.as_of.isoformat(), "use_screen": run.use_screen}
        as_of = run.as_of
    ruleset = ruleset_of(settings)
    ctx = system_context(run_id, request)
    stats = SyncOutcome()
    started = time.perf_counter()
    try:
        with transaction(factory) as session:
            run = repository.get_run(session, run_id)
            assert run is not None
            selection = select_cases(session, run, ruleset)
        batch = settings.reconciliation_batch_size
        for offset in range(0, len(selection.case_ids), batch):
            with transaction(factory) as session:
                chunk = selection.case_ids[offset : offset + batch]
                batch_outcome = refresh_cases(session, ctx, chunk, as_of, ruleset, run_id=run_id)
                pending = sequencer.record_changes(session, settings, ctx, batch_outcome.ledger_changes)
            sequencer.receipt(factory, settings, pending)  # the batch counts as done once its entries are in the log
            stats.add(batch_outcome)
    except Exception as exc:
        logger.exception("reconciliation run %s failed", run_id)
        with transaction(factory) as session:
            run = repository.get_run(session, run_id)
            assert run is not None
            run.status, run.finished_at, run.error = RunStatus.FAILED.value, utcnow(), f"{type(exc).__name__}: {exc}"
            run.stats = stats.as_dict()
        return run
    with transaction(factory) as session:
        run = repository.get_run(session, run_id)
        assert run is not None
        run.status, run.finished_at = RunStatus.SUCCEEDED.value, utcnow()
        run.stats = {
            **stats.as_dict(),
            **selection.stats,
            "selected_cases": len(selection.case_ids),
            "screen_seconds": round(selection.screen_seconds, 3),
            "total_seconds": round(time.perf_counter() - started, 3),
        }
    return run
