"""Prometheus scrape endpoint (off unless ``SBT_METRICS_ENABLED``; behind ``SBT_METRICS_TOKEN`` when set)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.metrics import Metrics
from app.api.problems import problem_responses

router = APIRouter(tags=["health"])

DESCRIPTION = """Prometheus text exposition: request counts and latency by route template and status, ledger tree
size and checkpoint age, open findings by severity, overdue cases by stage, idempotency keys in flight, database
pool use. Answers 404 unless the server runs with `SBT_METRICS_ENABLED=true`; when `SBT_METRICS_TOKEN` is set
(required in production) it needs `Authorization: Bearer <that token>` (not an OAuth access token). Keep it off the
public internet: scrape it from inside the deployment's network."""


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description=DESCRIPTION,
    response_class=Response,
    responses={
        200: {"description": "Metrics in the Prometheus text format", "content": {CONTENT_TYPE_LATEST: {}}},
        **problem_responses(401, 404),
    },
    openapi_extra={"security": [{}, {"MetricsToken": []}]},  # no token, or SBT_METRICS_TOKEN when one is set
)
def metrics(
    request: Request,
    authorization: Annotated[str | None, Header(description="`Bearer <SBT_METRICS_TOKEN>` when one is set")] = None,
) -> Response:
    collector: Metrics = request.app.state.metrics
    collector.authorize(authorization)
    return Response(collector.exposition(), media_type=CONTENT_TYPE_LATEST)
