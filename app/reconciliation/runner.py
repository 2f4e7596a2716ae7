"""Sweeps: full and deadline runs, started from the API (in the background) or the CLI.

A sweep is a worker, not a request: it owns its transactions, one per batch of cases, so a long run never
holds locks on every case at once and a failure loses at most one batch (which the next run redoes).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.core.actor import WriteContext
from app.core.config import Settings
from app.core.db import engine_of, make_sessionmaker, transaction, utcnow
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
    """Which cases a run must evaluate, all read in this session. The full-run screen never skips a case on which a
    rule would fire."""
    started = time.perf_counter()
    due_by = _due_by(ruleset, run.as_of)
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
        parts = {**_wide_selections(session, ruleset), **_small_selections(session, due_by)}
        counts = _flagged_counts(parts)
        chosen = set().union(*parts.values())
    return Selection(sorted(chosen, key=str), time.perf_counter() - started, counts)


def _flagged_counts(parts: dict[str, set[uuid.UUID]]) -> dict[str, int]:
    """The run stats' count of the cases each full-run selection flagged."""
    return {f"flagged_{name}": len(ids) for name, ids in parts.items()}


def _due_by(ruleset: Ruleset, as_of: dt.datetime) -> dt.date:
    approaching = ruleset.config(deadline_approaching)
    return jakarta_day(as_of) + dt.timedelta(days=int(approaching.params["days_before"]))


def _wide_selections(session: Session, ruleset: Ruleset) -> dict[str, set[uuid.UUID]]:
    """The full run's selections that read every case state: the screen and the cases sharing a NIP."""
    repository.allow_large_sorts(session)
    return {
        "fingerprint_screen": repository.screened_case_ids(session),
        "duplicate": duplicate_case_ids(session, duplicate_window_days(ruleset)),
    }


def _small_selections(session: Session, due_by: dt.date) -> dict[str, set[uuid.UUID]]:
    """The full run's selections read through an index or two counts: deadlines due, cases without a current state,
    cases with watched findings (in a steady state, nearly every case the screen flags)."""
    return {
        "deadline": repository.deadline_case_ids(session, due_by),
        "not_normalized": repository.unnormalized_case_ids(session),
        "watched_findings": repository.watched_finding_case_ids(session),
    }


def refresh_screened_run(
    factory: sessionmaker[Session],
    apart: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    as_of: dt.datetime,
    ruleset: Ruleset,
    run_id: uuid.UUID,
    stats: SyncOutcome,
) -> Selection:
    """A full run with the screen, which does not wait for it: the selections that read every case state (the
    screen, then the shared NIPs) run on another connection (``apart``) in a thread while the small selections are
    read and their cases re-checked; the cases only the wide selections add follow. The screen is one statement on
    one server process (no parallel plan), and in a steady state the watched findings alone hold about 98 % of
    the cases it flags, so the batches' work overlaps it instead of following it (PostgreSQL, 1M cases: the screen
    4–4.7 s, the shared NIPs 0.8 s, the small selections 0.3 s, the batches of 13k cases 5.6–6.9 s alone).
    A case re-checked early is not re-checked again: the sets are joined, not repeated."""
    started = time.perf_counter()
    with ThreadPoolExecutor(1, thread_name_prefix="sbt-reconciliation-screen") as pool:
        wide = pool.submit(_wide_apart, apart, ruleset, started)
        with transaction(factory) as session:
            small = _small_selections(session, _due_by(ruleset, as_of))
        early = sorted(set().union(*small.values()), key=str)
        refresh_in_batches(factory, settings, ctx, early, as_of, ruleset, run_id, stats)
        wide_parts, selection_seconds = wide.result()
    later = sorted(set().union(*wide_parts.values()).difference(early), key=str)
    refresh_in_batches(factory, settings, ctx, later, as_of, ruleset, run_id, stats)
    counts = _flagged_counts({**wide_parts, **small})
    return Selection(early + later, selection_seconds, {**counts, "evaluated_beside_the_screen": len(early)})


def _wide_apart(
    factory: sessionmaker[Session], ruleset: Ruleset, started: float
) -> tuple[dict[str, set[uuid.UUID]], float]:
    """The wide selections, and the seconds from ``started`` until they were known."""
    with transaction(factory) as session:
        wide = _wide_selections(session, ruleset)
    return wide, time.perf_counter() - started


def other_connections(factory: sessionmaker[Session]) -> sessionmaker[Session] | None:
    """Read-only sessions of the factory's engine, for work beside a session of the factory; None when the factory
    is bound to one connection (tests), which one thread at a time uses."""
    engine = engine_of(factory)
    return None if engine is None else make_sessionmaker(engine, read_only=True)


def refresh_in_batches(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    case_ids: Sequence[uuid.UUID],
    as_of: dt.datetime,
    ruleset: Ruleset,
    run_id: uuid.UUID,
    stats: SyncOutcome,
) -> None:
    """Re-check the cases in batches of ``SBT_RECONCILIATION_BATCH_SIZE``, a transaction each, adding each finished
    batch's outcome to ``stats``; the first failure stops the batches not begun and is raised once those under way
    end.

    On PostgreSQL ``SBT_RECONCILIATION_BATCH_WORKERS`` batches are under way at once, each in a thread and a
    transaction of its own: one batch's rules run in Python while the server reads, locks and writes another's
    (a batch waited on the server for about a third of its time). Batches are disjoint sets of cases, so they lock
    no row in common. SQLite has one writer at a time, and a batch's transaction writes from its start: one batch
    there.
    """
    size = settings.reconciliation_batch_size
    chunks = [case_ids[offset : offset + size] for offset in range(0, len(case_ids), size)]

    def refresh(chunk: Sequence[uuid.UUID]) -> SyncOutcome:
        with transaction(factory) as session:
            outcome = refresh_cases(session, ctx, chunk, as_of, ruleset, run_id=run_id)
            pending = sequencer.record_changes(session, settings, ctx, outcome.ledger_changes)
        sequencer.receipt(factory, settings, pending)  # the batch counts as done once its entries are in the log
        return outcome

    engine = engine_of(factory)  # one batch at a time on one connection (tests)
    parallel = engine is not None and engine.dialect.name == "postgresql"
    workers = settings.reconciliation_batch_workers if parallel else 1
    if workers == 1 or len(chunks) == 1:
        for chunk in chunks:
            stats.add(refresh(chunk))
        return
    failure: BaseException | None = None
    with ThreadPoolExecutor(workers, thread_name_prefix="sbt-reconciliation-batch") as pool:
        under_way: deque[Future[SyncOutcome]] = deque()
        for chunk in chunks:
            under_way.append(pool.submit(refresh, chunk))
            if len(under_way) == workers:
                failure = _finished(under_way.popleft(), stats)
                if failure is not None:
                    break
        for batch in under_way:
            later = _finished(batch, stats)
            failure = failure or later
    if failure is not None:
        raise failure


def _finished(batch: Future[SyncOutcome], stats: SyncOutcome) -> BaseException | None:
    """Wait for the batch; add its outcome to ``stats``, or return its failure."""
    failure = batch.exception()
    if failure is None:
        stats.add(batch.result())
    return failure


def _select_and_refresh(
    factory: sessionmaker[Session],
    settings: Settings,
    ctx: WriteContext,
    run: Run,
    ruleset: Ruleset,
    stats: SyncOutcome,
) -> Selection:
    apart = other_connections(factory) if run.mode == RunMode.FULL and run.use_screen else None
    if apart is not None:
        return refresh_screened_run(factory, apart, settings, ctx, run.as_of, ruleset, run.id, stats)
    with transaction(factory) as session:
        selection = select_cases(session, run, ruleset)
    refresh_in_batches(factory, settings, ctx, selection.case_ids, run.as_of, ruleset, run.id, stats)
    return selection


def execute_run(factory: sessionmaker[Session], settings: Settings, run_id: uuid.UUID) -> Run:
    """Run a queued sweep to completion, committing batch by batch; a failure is recorded on the run row."""
    with transaction(factory) as session:
        run = repository.get_run(session, run_id)
        if run is None:
            raise LookupError(f"no reconciliation run {run_id}")
        run.status, run.started_at = RunStatus.RUNNING.value, utcnow()
        request = {"mode": run.mode, "as_of": run.as_of.isoformat(), "use_screen": run.use_screen}
    ruleset = ruleset_of(settings)
    ctx = system_context(run_id, request)
    stats = SyncOutcome()
    started = time.perf_counter()
    try:
        # the run's columns stay loaded after the commit (expire_on_commit=False)
        selection = _select_and_refresh(factory, settings, ctx, run, ruleset, stats)
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
