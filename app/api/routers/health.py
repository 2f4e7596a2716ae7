"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text

from app.api.problems import problem_responses
from app.core.problems import ServiceUnavailable

router = APIRouter(tags=["health"])


class HealthStatus(BaseModel):
    status: str


@router.get("/health", summary="Liveness probe")
def health() -> HealthStatus:
    return HealthStatus(status="ok")


@router.get("/ready", summary="Readiness probe (database reachable)", responses=problem_responses(503))
def ready(request: Request) -> HealthStatus:
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable.") from exc
    return HealthStatus(status="ready")
