"""OpenTelemetry tracing of requests and their SQL: off by default, on with the standard ``OTEL_*`` variables.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp`` or ``console``) or an OTLP endpoint is
set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), unless ``OTEL_SDK_DISABLED`` is
true. Everything else (service name, resource attributes, endpoint, headers, sampler, batch sizes) is read by the
OpenTelemetry SDK from its own variables, as its specification says.

Each app gets its own tracer provider and its own engine listener instead of the instrumentors' global
monkey-patching (``SQLAlchemyInstrumentor().instrument()`` patches ``create_engine`` once per process), so tests
can build several apps, each with an in-memory exporter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from sqlalchemy import Engine

from app.core.config import ConfigurationError

SERVICE_NAME = "sbt"
EXPORTERS = ("otlp", "console")
# Probes and scrapes every few seconds would drown the traces of agency requests.
EXCLUDED_URLS = "/health,/ready,/metrics"


def tracer_provider_from_environment(environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """The tracer provider the ``OTEL_*`` variables ask for, or None when tracing is off."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter_name = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if exporter_name in ("", "none") and not (exporter_name == "" and endpoint):
        return None
    exporter_name = exporter_name or "otlp"
    if exporter_name not in EXPORTERS:
        raise ConfigurationError(
            [f"OTEL_TRACES_EXPORTER: {exporter_name!r} is not supported; use one of {', '.join(EXPORTERS)} or none"]
        )
    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        # Imported only when used: the OTLP exporter pulls in protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; "sbt" unless they say otherwise.
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def install_tracing(app: FastAPI, engine: Engine, provider: TracerProvider | None) -> None:
    """Trace every request (a server span per route template) and every SQL statement it runs (child spans:
    sync handlers run in worker threads that copy the request's context)."""
    if provider is None:
        return
    tracer = trace.get_tracer(__name__, tracer_provider=provider)
    # The SQL instrumentation also counts connections in use; SBT's own metrics already report pool use.
    connections_usage = metrics.NoOpMeter(__name__).create_up_down_counter("db.client.connections.usage")
    app.state.sql_tracer = EngineTracer(tracer, engine, connections_usage)  # type: ignore[no-untyped-call]  # untyped upstream
    # One span per request: the ASGI send/receive sub-spans only repeat its timing.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
    )
    app.state.tracer_provider = provider
