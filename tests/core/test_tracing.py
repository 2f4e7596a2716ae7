"""OpenTelemetry tracing: off unless the ``OTEL_*`` variables ask for it; when on, a write is one server span with
the SQL it ran as child spans (in-memory exporter)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.api.tracing import tracer_provider_from_environment
from app.core.config import ConfigurationError, Settings
from tests.auth_helpers import AuthHeaders
from tests.conftest import build_app
from tests.factories import case_payload


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def app(settings: Settings, request: pytest.FixtureRequest, exporter: InMemorySpanExporter) -> Iterator[FastAPI]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield from build_app(settings, request, tracer_provider=provider)


def _server_span(spans: tuple[ReadableSpan, ...], route: str) -> ReadableSpan:
    [span] = [s for s in spans if s.kind is SpanKind.SERVER and (s.attributes or {}).get("http.route") == route]
    return span


def test_a_write_is_one_server_span_with_its_sql_as_children(
    undrained_client: TestClient, auth_headers: AuthHeaders, exporter: InMemorySpanExporter
) -> None:
    headers = auth_headers("BAWASLU")
    exporter.clear()
    # undrained: the outbox round after the response is background work, a trace of its own
    response = undrained_client.post("/api/v1/cases", json=case_payload(), headers=headers)
    assert response.status_code == 201, response.text

    spans = exporter.get_finished_spans()
    server = _server_span(spans, "/api/v1/cases")
    assert server.name == "POST /api/v1/cases"
    assert (server.attributes or {}).get("http.status_code") == 201
    assert server.context is not None
    trace_id = server.context.trace_id
    # The request's own SQL is in its trace; the ledger sequencer's round, shared by every write it integrates,
    # runs in its own thread with traces of its own.
    sql = [
        s
        for s in spans
        if s.kind is SpanKind.CLIENT
        and s.attributes
        and "db.system" in s.attributes
        and s.context is not None
        and s.context.trace_id == trace_id
    ]
    assert sql, "no SQL span recorded for the write"
    statements = " ".join(str(s.attributes.get("db.statement", "")) for s in sql if s.attributes)
    assert 'INSERT INTO "case"' in statements


def test_probes_are_not_traced(client: TestClient, exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    assert client.get("/health").status_code == 200
    assert [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER] == []


@pytest.mark.parametrize(
    "environ",
    [{}, {"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}],
)
def test_tracing_is_off_unless_asked_for(environ: dict[str, str]) -> None:
    assert tracer_provider_from_environment(environ) is None


@pytest.mark.parametrize(
    "environ", [{"OTEL_TRACES_EXPORTER": "otlp"}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}]
)
def test_otlp_is_on_with_the_standard_variables(environ: dict[str, str]) -> None:
    provider = tracer_provider_from_environment(environ)
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "sbt"
    provider.shutdown()


def test_the_console_exporter_gets_the_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    exported: list[str] = []

    def record(_exporter: ConsoleSpanExporter, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        exported.extend(span.name for span in spans)
        return SpanExportResult.SUCCESS

    monkeypatch.setattr(ConsoleSpanExporter, "export", record)
    provider = tracer_provider_from_environment({"OTEL_TRACES_EXPORTER": "console"})
    assert provider is not None
    with provider.get_tracer("test").start_as_current_span("a-span-for-the-console"):
        pass
    provider.shutdown()
    assert exported == ["a-span-for-the-console"]


def test_an_unknown_exporter_is_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError) as error:
        tracer_provider_from_environment({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert str(error.value) == (
        "configuration error: OTEL_TRACES_EXPORTER: 'zipkin' is not supported; use one of otlp, console or none"
    )
