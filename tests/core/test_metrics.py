"""``/metrics``: every named series is exposed, request counts move by route template and status, the state gauges
agree with what the API reports, and the endpoint is closed unless enabled and given the metrics token."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.idempotency.models import IdempotencyRecord
from tests.auth_helpers import AuthHeaders
from tests.conftest import Writing
from tests.factories import case_payload
from tests.problems import assert_problem

TOKEN = "metrics-token-for-tests-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SERIES = (
    "sbt_http_requests_total",
    "sbt_http_request_duration_seconds",
    "sbt_ledger_tree_size",
    "sbt_ledger_checkpoint_tree_size",
    "sbt_ledger_seconds_since_checkpoint",
    "sbt_ledger_pending_writes",
    "sbt_ledger_pending_oldest_seconds",
    "sbt_ledger_round_duration_seconds",
    "sbt_ledger_round_writes",
    "sbt_ledger_round_entries",
    "sbt_findings_open",
    "sbt_cases_overdue",
    "sbt_idempotency_in_flight",
    "sbt_state_audit_differences",
    "sbt_state_audit_seconds_since_check",
    "sbt_db_pool_connections_in_use",
    "sbt_db_pool_size",
    "sbt_database_up",
)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_enabled": True, "metrics_token": TOKEN})


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        samples[match["name"], labels] = float(match["value"])
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_every_named_series_is_exposed_and_agrees_with_the_api(
    client: TestClient, auth_headers: AuthHeaders, session: Session, writing: Writing
) -> None:
    # A case reported in 2024 is long past its verification deadline; BKN's other spelling opens a finding.
    case = client.post("/api/v1/cases", json=case_payload(name="Budi Santoso"), headers=auth_headers("BAWASLU"))
    assert case.status_code == 201, case.text
    record = {"nip": case.json()["nip"], "name": "Budi Susanto", "stage": "DITERIMA"}
    recorded = client.post(f"/api/v1/cases/{case.json()['id']}/records", json=record, headers=auth_headers("BKN"))
    assert recorded.status_code == 201, recorded.text
    with writing() as writer:
        writer.add(
            IdempotencyRecord(
                client_id="demo-bkn",
                key="in-flight",
                fingerprint="0" * 64,
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            )
        )

    samples = scrape(client)
    names = {name for name, _ in samples}
    for series in SERIES:
        assert any(name == series or name.startswith(f"{series}_") for name in names), series

    auditor = auth_headers("auditor")
    cases = client.get("/api/v1/cases", headers=auditor).json()["items"]
    overdue: dict[str, int] = {}
    for item in cases:
        if item["overdue"]:
            overdue[item["stage"]] = overdue.get(item["stage"], 0) + 1
    assert overdue
    assert {stage: value(samples, "sbt_cases_overdue", stage=stage) for stage in overdue} == overdue
    findings = client.get("/api/v1/reconciliation/findings", params={"state": "OPEN"}, headers=auditor).json()
    by_severity: dict[str, int] = {}
    for finding in findings["items"]:
        by_severity[finding["severity"]] = by_severity.get(finding["severity"], 0) + 1
    assert by_severity
    assert {severity: value(samples, "sbt_findings_open", severity=severity) for severity in by_severity} == by_severity

    checkpoint = client.get("/api/v1/ledger/checkpoint", headers=auditor).json()
    assert value(samples, "sbt_ledger_checkpoint_tree_size") == checkpoint["tree_size"]
    assert value(samples, "sbt_ledger_tree_size") >= checkpoint["tree_size"] > 0
    assert 0 <= value(samples, "sbt_ledger_seconds_since_checkpoint") < 3600
    assert value(samples, "sbt_idempotency_in_flight") == 1
    assert value(samples, "sbt_database_up") == 1


def test_request_counts_move_by_route_template_and_status(client: TestClient, auth_headers: AuthHeaders) -> None:
    route = "/api/v1/cases/{case_id}"
    missing = "/api/v1/cases/00000000-0000-4000-8000-000000000000"
    before = scrape(client)
    for _ in range(3):
        assert client.get(missing, headers=auth_headers("BKN")).status_code == 404
    assert client.get(missing).status_code == 401  # refused by the rate limiter, before routing
    after = scrape(client)
    requests = "sbt_http_requests_total"
    assert moved(before, after, requests, method="GET", route=route, status="404") == 3
    assert moved(before, after, requests, method="GET", route=route, status="401") == 1
    assert moved(before, after, "sbt_http_request_duration_seconds_count", method="GET", route=route) == 4
    assert value(after, requests, method="GET", route="/metrics", status="200") >= 1
    assert not any("00000000" in dict(labels).get("route", "") for _, labels in after), "raw paths never become labels"


def test_metrics_need_the_metrics_token(client: TestClient, auth_headers: AuthHeaders) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, auth_headers("admin")):
        response = client.get("/metrics", headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == 'Bearer realm="sbt-metrics"'


def test_the_sample_grafana_dashboard_queries_only_series_sbt_exposes(client: TestClient) -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "deploy/grafana/sbt-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = {
        re.sub(r"_(total|bucket)$", "", name)
        for expression in expressions
        for name in re.findall(r"\bsbt_[a-z_]+", expression)
    }
    client.get("/health")  # the request series have no family before their first sample
    response = client.get("/metrics", headers=BEARER)
    families = {name.removesuffix("_total") for name in re.findall(r"^# TYPE (\w+) ", response.text, flags=re.M)}
    assert queried, "the dashboard queries nothing"
    assert sorted(queried - families) == []
    assert {series.removesuffix("_total") for series in SERIES} <= queried, "a named series has no panel"
