"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.problems import problem_responses
from app.core.db import READ_ONLY_OPTION
from app.core.problems import LedgerIntegrityFailure, ServiceUnavailable
from app.ledger import service as ledger_service

router = APIRouter(tags=["health"])


class HealthStatus(BaseModel):
    status: str


@router.get("/health", summary="Liveness probe")
def health() -> HealthStatus:
    return HealthStatus(status="ok")


@router.get(
    "/ready",
    summary="Readiness probe (database reachable, stored ledger matching its latest signed checkpoint)",
    responses=problem_responses(503),
)
def ready(request: Request) -> HealthStatus:
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable.") from exc
    _check_ledger_integrity(request)
    return HealthStatus(status="ready")


def _check_ledger_integrity(request: Request) -> None:
    """Not ready while the stored log contradicts a signed checkpoint: every write would be refused (503)."""
    try:
        with request.app.state.sessionmaker(execution_options={READ_ONLY_OPTION: True}) as session:
            problem = ledger_service.integrity_problem(session)
    except SQLAlchemyError as exc:
        raise ServiceUnavailable("The ledger cannot be read.") from exc
    if problem is not None:
        raise LedgerIntegrityFailure(f"Ledger integrity failure: {problem}.")
