"""Liveness and readiness probes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.problems import problem_responses
from app.api.state_audit import readiness
from app.audit.state import latest
from app.core.db import READ_ONLY_OPTION
from app.core.problems import LedgerIntegrityFailure, ServiceUnavailable
from app.ledger import service as ledger_service

router = APIRouter(tags=["health"])


class HealthStatus(BaseModel):
    status: str


class StateAuditReadiness(BaseModel):
    differences: int = Field(description="Differences between the tables and the ledger standing now.")
    checked_at: dt.datetime | None = Field(description="When the background audit last finished a round.")
    detail: str = Field(description="Where an auditor reads them (audit:read).")


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
    if request.app.state.shared_state.unreachable():  # degraded, still in rotation: SBT serves without Redis
        checks |= {"status": "degraded", "shared_state": {"redis": "unreachable"}}
    return checks


@router.get(
    "/ready",
    summary=(
        "Readiness probe (database reachable, stored ledger matching its latest signed checkpoint; degraded when "
        "the tables differ from the ledger or Redis does not answer)"
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
