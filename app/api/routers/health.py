"""Liveness and readiness probes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api import reconciliation_worker
from app.api.problems import problem_responses
from app.api.state_audit import readiness
from app.api.witnessing import readiness as witnessing_readiness
from app.audit.state import latest
from app.core.config import Settings
from app.core.db import READ_ONLY_OPTION, utcnow
from app.core.problems import LedgerIntegrityFailure, ServiceUnavailable
from app.ledger import repository as ledger_repository
from app.ledger import service as ledger_service
from app.ledger.repository import PendingBacklog
from app.reconciliation import outbox

router = APIRouter(tags=["health"])


class HealthStatus(BaseModel):
    status: str


class StateAuditReadiness(BaseModel):
    differences: int = Field(description="Differences between the tables and the ledger standing now.")
    checked_at: dt.datetime | None = Field(description="When the background audit last finished a round.")
    detail: str = Field(description="Where an auditor reads them (audit:read).")


class ReconciliationReadiness(BaseModel):
    backlog_cases: int = Field(description="Cases written and not yet re-checked by the reconciliation worker.")
    lag_seconds: float = Field(description="How long the oldest of them has waited for its re-check.")


class LedgerSequencerReadiness(BaseModel):
    pending_writes: int = Field(description="Committed writes waiting for their ledger positions.")
    oldest_seconds: float = Field(description="How long the oldest of them has waited.")


class WitnessingReadiness(BaseModel):
    checkpoint_tree_size: int | None = Field(description="Tree size of the latest signed checkpoint.")
    witnessed_tree_size: int | None = Field(
        description="Tree size of the latest checkpoint with the quorum of witness cosignatures (null: none yet)."
    )
    quorum: str = Field(description="The witness policy's quorum (`SBT_WITNESSES`, `SBT_WITNESS_QUORUM`).")
    problems: dict[str, str] = Field(description="Witness key name -> why its latest submission got no cosignature.")


class SharedStateReadiness(BaseModel):
    redis: Literal["unreachable"] = Field(
        description="Redis (`SBT_REDIS_URL`) does not answer: until it does, rate limits and the token-endpoint "
        "throttle count per replica and client status is read from the database on every request."
    )


class ReadyStatus(BaseModel):
    status: str = Field(description="`ready`, or `degraded` while a check below reports a problem.")
    state_audit: StateAuditReadiness | None = Field(
        default=None, description="Present when the background state audit found the tables differ from the ledger."
    )
    reconciliation: ReconciliationReadiness | None = Field(
        default=None,
        description="Present when a written case has waited longer than SBT_RECONCILIATION_LAG_DEGRADED_SECONDS "
        "for its reconciliation re-check (findings are late).",
    )
    ledger_sequencer: LedgerSequencerReadiness | None = Field(
        default=None,
        description="Present when a committed write has waited longer than `SBT_LEDGER_BACKLOG_DEGRADED_SECONDS` "
        "for its ledger positions (no sequencer round is integrating: writes answer 503 after "
        "`SBT_LEDGER_SEQUENCE_TIMEOUT_SECONDS`).",
    )
    witnessing: WitnessingReadiness | None = Field(
        default=None,
        description="Present while the latest checkpoint, older than `SBT_WITNESS_GRACE_SECONDS`, lacks the quorum "
        "of witness cosignatures: writes go on, the checkpoint is not yet witnessed.",
    )
    shared_state: SharedStateReadiness | None = Field(
        default=None, description="Present while the state shared between replicas cannot be reached."
    )


@router.get("/health", summary="Liveness probe")
def health() -> HealthStatus:
    return HealthStatus(status="ok")


def _checks(request: Request) -> dict[str, Any]:
    """What the background checks add to readiness (each a small function of its own)."""
    with request.app.state.state_audit.reader() as session:
        checks = readiness(latest(session))
        checks |= reconciliation_worker.readiness(outbox.backlog(session), request.app.state.settings)
        checks |= _sequencer_readiness(ledger_repository.pending_backlog(session), request.app.state.settings)
    checks |= witnessing_readiness(request.app.state.witnessing.status())
    if request.app.state.shared_state.unreachable():  # degraded, still in rotation: SBT serves without Redis
        checks |= {"status": "degraded", "shared_state": {"redis": "unreachable"}}
    return checks


def _sequencer_readiness(pending: PendingBacklog, settings: Settings) -> dict[str, Any]:
    """Degraded while a committed write has waited past ``SBT_LEDGER_BACKLOG_DEGRADED_SECONDS`` for its positions;
    still in rotation: the writes are durable, their acknowledgements are late."""
    age = pending.age_seconds(utcnow())
    if age <= settings.ledger_backlog_degraded_seconds:
        return {}
    return {
        "status": "degraded",
        "ledger_sequencer": {"pending_writes": pending.writes, "oldest_seconds": round(age, 3)},
    }


@router.get(
    "/ready",
    summary=(
        "Readiness probe (database reachable, stored ledger matching its latest signed checkpoint; degraded when "
        "the tables differ from the ledger, reconciliation or the ledger sequencer lags behind the writes, the "
        "latest checkpoint lacks its witnesses' quorum or Redis does not answer)"
    ),
    responses=problem_responses(503),
    response_model_exclude_none=True,  # a healthy service answers {"status": "ready"}, nothing more
)
def ready(request: Request) -> ReadyStatus:
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable.") from exc
    _check_ledger_integrity(request)
    return ReadyStatus.model_validate({"status": "ready"} | _checks(request))


def _check_ledger_integrity(request: Request) -> None:
    """Not ready while the stored log contradicts a signed checkpoint: every write would be refused (503)."""
    try:
        with request.app.state.sessionmaker(execution_options={READ_ONLY_OPTION: True}) as session:
            problem = ledger_service.integrity_problem(session)
    except SQLAlchemyError as exc:
        raise ServiceUnavailable("The ledger cannot be read.") from exc
    if problem is not None:
        raise LedgerIntegrityFailure(f"Ledger integrity failure: {problem}.")
