"""Application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Connection, Engine

from app.api.auth_throttle import install_token_throttle
from app.api.body_limit import install_body_limit
from app.api.dependencies.context import refuse_writes
from app.api.dependencies.idempotency import install_replay_handler
from app.api.json_body import install_json_body
from app.api.metrics import install_metrics
from app.api.monitoring_worker import install_bridge_worker
from app.api.openapi import install_openapi
from app.api.problems import install_problem_handlers
from app.api.ratelimit import install_rate_limit
from app.api.reconciliation_worker import install_outbox_worker
from app.api.routes import api_router, root_router
from app.api.scheduler import install_scheduler
from app.api.security_headers import install_security_headers
from app.api.state_audit import install_state_audit
from app.api.tracing import install_tracing, tracer_provider_from_environment
from app.api.witnessing import install_witnessing
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.shared_state import SharedState
from app.ledger.sequencer import sequencer_for

DESCRIPTION = """
SBT (Sistem Berbagi Terintegrasi) is the shared record of ASN political-neutrality cases between Bawaslu, KASN,
BKN, Kemendagri and KemenPANRB. Every error is `application/problem+json` (RFC 9457), its `title` and `detail` in
Indonesian when `Accept-Language` prefers it (`id`), else in English; `Content-Language` says which. Every
`/api/v1` operation answers 400 to a query parameter it does not declare and to a query value with a NUL character,
naming them in `invalid_params`. The public monitoring page (`/monitoring`, HTML, no login) shows the national
aggregates.
"""
LICENSE_INFO = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
"""The repository's LICENSE, stated in the contract for partners (decision 0027)."""


def operation_id(route: APIRoute) -> str:
    """Stable operationIds: the endpoint function's name (unique across the app, checked by tests)."""
    return route.name


@asynccontextmanager
async def background_work(app: FastAPI) -> AsyncIterator[None]:
    """The process's background threads (ledger sequencer, state audit, scheduler, reconciliation outbox,
    witnessing rounds, the monitoring page's count bridge) run while the app serves."""
    workers = (
        app.state.sequencer,
        app.state.state_audit,
        app.state.scheduler,
        app.state.reconciliation_outbox,
        app.state.witnessing,
        app.state.monitoring_bridge,
    )
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in reversed(workers):
            worker.stop()


def create_app(
    settings: Settings | None = None,
    *,
    bind: Engine | Connection | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """``bind``: tests only. A ``Connection`` runs the app inside its transaction (the app's commits become
    savepoint releases, so the test can roll everything back); by default the app opens its own engine.
    ``tracer_provider``: where request and SQL spans go; by default what the ``OTEL_*`` variables ask for
    (nothing unless they are set)."""
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    # Swagger UI and ReDoc assets are served by SBT itself: agencies' closed networks reach no CDN.
    app = FastAPIOffline(
        title="SBT API",
        version="1.0.0",
        description=DESCRIPTION,
        license_info=LICENSE_INFO,
        generate_unique_id_function=operation_id,
        lifespan=background_work,
    )
    app.state.settings = settings
    # GET requests' own sessions where the database has one writer (SQLite: decision 0038); PostgreSQL and a test's
    # connection read in the request's one transaction, its audit rows with it
    app.state.read_sessionmaker = None
    if isinstance(bind, Connection):
        app.state.engine = bind.engine
        app.state.sessionmaker = make_sessionmaker(bind, join_transaction_mode="create_savepoint")
    else:
        app.state.engine = bind or make_engine(settings.sqlalchemy_url)
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        if app.state.engine.dialect.name == "sqlite":
            app.state.read_sessionmaker = make_sessionmaker(app.state.engine, read_only=True)
            refuse_writes(app.state.read_sessionmaker)
    app.state.shared_state = SharedState(settings)  # rate limits and client status: Redis, or this process
    # the ledger sequencer's integrator thread (none when bound to a test's connection: writers do the rounds)
    app.state.sequencer = sequencer_for(app.state.sessionmaker, settings)
    install_state_audit(app, settings)
    install_outbox_worker(app, settings)
    install_scheduler(app, settings)
    install_witnessing(app, settings)
    install_bridge_worker(app, settings)
    install_problem_handlers(app)
    install_replay_handler(app)
    # Middleware runs in the reverse order of installation: security headers, body limit (before anything reads
    # the body), rate limit and authentication (anonymous → 401 before the body is parsed), JSON body checks.
    install_json_body(app)
    install_rate_limit(app, settings, app.state.shared_state)
    install_token_throttle(app, settings, app.state.shared_state)
    install_body_limit(app, settings)
    install_security_headers(app, settings)
    install_metrics(app, settings)  # counts every answer, refusals included
    install_tracing(app, app.state.engine, tracer_provider or tracer_provider_from_environment())  # outermost
    app.include_router(root_router)
    app.include_router(api_router)
    install_openapi(app)
    return app
