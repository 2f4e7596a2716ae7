"""Prometheus metrics: requests by route template and status, and the service's state read at scrape time.

* Requests: ``sbt_http_requests_total{method,route,status}`` and ``sbt_http_request_duration_seconds{method,route}``,
  counted by an ASGI middleware outside every other one (a 401 from the rate limiter or a 413 from the body limit
  counts too). ``route`` is the route's template (``/api/v1/cases/{case_id}``), never the raw path, so the number of
  series stays bounded; a path no route matches is ``unmatched``. Errors are the ``status=~"5.."`` (or ``"4.."``)
  part of the request counter.
* State: a collector runs a few short aggregate queries when Prometheus scrapes (ledger tree size, latest
  checkpoint and the latest witnessed one, open findings by severity, overdue cases by stage, idempotency keys in
  flight, the differences the background state audit found and its age, the writes waiting for their ledger
  positions and the age of the oldest); nothing is kept up to date on the write path.
* Ledger sequencer rounds this process ran (those that integrated writes): their duration and how many writes and
  entries each took, as histograms observed by the round itself (``Sequencer.round_observer``).
* Database pool: connections checked out now, kept by pool events.

Several worker processes (``uvicorn --workers N``): each counts its own requests. With ``PROMETHEUS_MULTIPROC_DIR``
set to an empty directory (``sbt serve --workers N`` makes one when it is unset), prometheus-client keeps the
counts in files there and a scrape answered by any worker reports the sum over all of them; the state gauges come
from the database, so they are the same whichever worker answers.
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.operations import route_template
from app.audit import state as state_audit
from app.cases import repository as cases
from app.core.clock import today_in_jakarta
from app.core.config import Settings
from app.core.db import engine_of, make_sessionmaker, utcnow
from app.core.problems import NotFound, Unauthorized
from app.idempotency import repository as idempotency
from app.ledger import repository as ledger
from app.ledger.service import IntegratedRound
from app.ledger.witnessing import Witnesses, latest_witnessed
from app.reconciliation import outbox
from app.reconciliation import repository as reconciliation

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROUND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)

# No ``*_created`` series: they double the output and Prometheus does not need them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class ServiceStateCollector(Collector):
    """Gauges read from the database at scrape time, each from one short aggregate query."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self.witnesses = Witnesses.of(settings)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("sbt_database_up", "1 when the scrape could read the service state from the database")
        try:
            families = self._read()
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        now = utcnow()
        with self.factory() as session:
            size = ledger.tree_size(session)
            checkpoint = ledger.latest_checkpoint(session)
            findings = reconciliation.open_findings_by_severity(session)
            overdue = cases.overdue_by_stage(session, today_in_jakarta())
            claimed_after = now - dt.timedelta(seconds=self.settings.idempotency_lock_seconds)
            in_flight = idempotency.in_flight(session, claimed_after)
            audited = state_audit.latest(session)
            waiting = outbox.backlog(session)
            pending = ledger.pending_backlog(session)
            witnessed = latest_witnessed(session, self.witnesses) if self.witnesses.enabled else None
        age = math.nan if checkpoint is None else (now - checkpoint.created_at).total_seconds()
        return [
            _gauge("sbt_ledger_tree_size", "Entries in the ledger", size),
            _gauge(
                "sbt_ledger_checkpoint_tree_size",
                "Tree size of the latest signed checkpoint",
                0 if checkpoint is None else checkpoint.tree_size,
            ),
            _gauge("sbt_ledger_seconds_since_checkpoint", "Age of the latest signed checkpoint (NaN: none yet)", age),
            _labelled("sbt_findings_open", "Open reconciliation findings", "severity", findings),
            _labelled("sbt_cases_overdue", "Open cases past their stage deadline (Asia/Jakarta)", "stage", overdue),
            _gauge("sbt_idempotency_in_flight", "Idempotency keys claimed and not yet answered", in_flight),
            _gauge(
                "sbt_state_audit_differences",
                "Differences between the tables and the ledger standing after the background state audit",
                len(audited.differences),
            ),
            _gauge(
                "sbt_reconciliation_outbox_backlog",
                "Cases written and not yet re-checked by the reconciliation outbox worker",
                waiting.cases,
            ),
            _gauge(
                "sbt_reconciliation_lag_seconds",
                "How long the oldest written case has waited for its reconciliation re-check (0: none waits)",
                waiting.lag_seconds(now),
            ),
            _gauge(
                "sbt_ledger_pending_writes",
                "Committed writes waiting for the sequencer to give their entries ledger positions",
                pending.writes,
            ),
            _gauge(
                "sbt_ledger_pending_oldest_seconds",
                "How long the oldest write waiting for its ledger positions has waited (0: none waits)",
                pending.age_seconds(now),
            ),
            _gauge(
                "sbt_state_audit_seconds_since_check",
                "Age of the background state audit's latest round (NaN: none yet)",
                math.nan if audited.checked_at is None else (now - audited.checked_at).total_seconds(),
            ),
            _gauge(
                "sbt_ledger_witnessed_tree_size",
                "Tree size of the latest checkpoint cosigned by the witness quorum (NaN: none yet, or no witnesses)",
                math.nan if witnessed is None else witnessed[0].tree_size,
            ),
        ]


def _forget_dead_workers(directory: Path) -> None:
    """Drop the live-gauge files of worker processes that no longer exist (a worker that crashed or was replaced
    would otherwise keep adding its last pool figures); their counters stay, as sums must."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
        except PermissionError:
            continue  # alive, another user's


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(name: str, documentation: str, label: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, count in counts.items():
        family.add_metric([key], count)
    return family


class Metrics:
    """One app's metrics (a registry of its own, so several apps in one process do not collide)."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sbt_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sbt_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pool_in_use = Gauge(
            "sbt_db_pool_connections_in_use",
            "Database connections checked out of the pool (summed over worker processes)",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.pool_size = Gauge(
            "sbt_db_pool_size",
            "Steady size of the database pool (summed over worker processes)",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.round_duration = Histogram(
            "sbt_ledger_round_duration_seconds",
            "Time of a ledger sequencer round that integrated writes (its one transaction, commit included)",
            buckets=ROUND_BUCKETS,
            registry=self.registry,
        )
        self.round_writes = Histogram(
            "sbt_ledger_round_writes",
            "Pending writes a ledger sequencer round integrated (its batch, at most SBT_LEDGER_BATCH_MAX_WRITES)",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.round_entries = Histogram(
            "sbt_ledger_round_entries",
            "Ledger entries a sequencer round appended",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.state = ServiceStateCollector(factory, settings)
        self.registry.register(self.state)

    def watch_pool(self, engine: Engine) -> None:
        size = getattr(engine.pool, "size", None)
        if callable(size):
            self.pool_size.set(size())
        event.listen(engine, "checkout", lambda *_: self.pool_in_use.inc())
        event.listen(engine, "checkin", lambda *_: self.pool_in_use.dec())

    def observe_round(self, seconds: float, done: IntegratedRound) -> None:
        self.round_duration.observe(seconds)
        self.round_writes.observe(len(done.written))
        self.round_entries.observe(sum(len(entries) for entries in done.written.values()))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def authorize(self, authorization: str | None) -> None:
        """404 while metrics are off; with ``SBT_METRICS_TOKEN`` set, 401 unless the bearer token is that token."""
        if not self.settings.metrics_enabled:
            raise NotFound("Metrics are not enabled on this server (SBT_METRICS_ENABLED).")
        expected = self.settings.metrics_token
        if not expected:
            return
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Unauthorized(
                "Metrics need the metrics token (SBT_METRICS_TOKEN) as a bearer token.",
                headers={"WWW-Authenticate": 'Bearer realm="sbt-metrics"'},
            )

    def exposition(self) -> bytes:
        if directory := os.environ.get(MULTIPROCESS_DIR_VARIABLE):
            _forget_dead_workers(Path(directory))
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self.state)
            return generate_latest(registry)
        return generate_latest(self.registry)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            route = route_template(scope) or UNMATCHED  # also for a request refused before routing (401, 413)
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Outermost middleware: installed last, so it sees every answer, including the other middlewares' refusals."""
    engine = engine_of(app.state.sessionmaker)
    if engine is not None:
        metrics = Metrics(settings, make_sessionmaker(engine, read_only=True))  # SQLite: no write lock for a scrape
        metrics.watch_pool(engine)
    else:  # a test's shared connection: no pool to watch
        metrics = Metrics(settings, app.state.sessionmaker)
    app.state.metrics = metrics
    app.state.sequencer.round_observer = metrics.observe_round
    app.add_middleware(MetricsMiddleware, metrics=metrics)
