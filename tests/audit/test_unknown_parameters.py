"""No query parameter is silently ignored: every read of the API (the statistics, the summaries, the count bridge
and every other operation the contract lists without a path parameter) and the public monitoring page answer a
parameter they do not take with a 400 problem naming it, so a misspelt `as_of` cannot give today's numbers as if
they were the asked moment's."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.auth_helpers import AuthHeaders

PROBLEM = "application/problem+json"
IDENTITIES = ("auditor", "BAWASLU", "admin")
"""Tried in turn until one may call the operation (the scope check answers before the parameters are read)."""


def _reads(app: FastAPI) -> list[str]:
    paths = app.openapi()["paths"]
    return sorted(
        path
        for path, operations in paths.items()
        if "get" in operations and "{" not in path and path.startswith("/api/")
    )


def _refusal(client: TestClient, auth_headers: AuthHeaders, path: str, params: dict[str, str]) -> dict[str, object]:
    for identity in IDENTITIES:
        response = client.get(path, params=params, headers=auth_headers(identity))
        if response.status_code not in (401, 403):
            assert response.status_code == 400, (path, identity, response.text)
            assert response.headers["content-type"] == PROBLEM
            problem: dict[str, object] = response.json()
            return problem
    raise AssertionError(f"no identity may read {path}")


def test_every_read_refuses_a_parameter_it_does_not_take(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    reads = _reads(app)
    assert {"/api/v1/audit/statistics", "/api/v1/reconciliation/summary", "/api/v1/audit/count-bridge"} <= set(reads)
    for path in reads:
        problem = _refusal(client, auth_headers, path, {"not_a_parameter": "1"})
        assert problem["invalid_params"] == [
            {"name": "query.not_a_parameter", "reason": "not a parameter of this operation"}
        ], path


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/audit/statistics", {"asof": "2024-10-20T00:00:00+07:00"}),
        ("/api/v1/reconciliation/summary", {"as-of": "2024-10-20T00:00:00+07:00", "state": "OPEN"}),
        ("/api/v1/audit/count-bridge", {"from": "2024-09-01", "to": "2024-10-31", "unit": "cases", "asOf": "x"}),
        ("/api/v1/audit/statistics", {"provinsi": "73"}),
    ],
)
def test_a_misspelt_parameter_of_a_statistic_is_named_in_the_problem(
    client: TestClient, auth_headers: AuthHeaders, path: str, params: dict[str, str]
) -> None:
    problem = _refusal(client, auth_headers, path, params)
    known = {"as_of", "state", "from", "to", "unit"}
    assert [entry["name"] for entry in problem["invalid_params"]] == [  # type: ignore[attr-defined]
        f"query.{name}" for name in sorted(set(params) - known)
    ]
    assert "as_of" in str(problem["detail"])  # the detail lists what the operation takes


def test_the_monitoring_page_refuses_a_parameter_it_does_not_take(client: TestClient) -> None:
    response = client.get("/monitoring", params={"bahasa": "en"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def test_every_read_refuses_a_nul_character_in_a_parameter_it_takes(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    """PostgreSQL cannot hold a NUL in a text value: a filter with one failed in the database (a 500 there, found
    by the contract's fuzzing on ``/reconciliation/summary?nip=%00``); it is the same 400 on both databases."""
    contract = app.openapi()["paths"]
    tried = []
    for path in _reads(app):
        names = [p["name"] for p in contract[path]["get"].get("parameters", []) if p["in"] == "query"]
        if not names:
            continue
        problem = _refusal(client, auth_headers, path, {names[0]: "1\x00"})
        assert problem["invalid_params"] == [{"name": f"query.{names[0]}", "reason": "contains a NUL character"}], path
        tried.append(path)
    assert "/api/v1/reconciliation/summary" in tried
