"""The committed contract (openapi/openapi.json) is exactly what the app serves, and is fit for client generators."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.api.openapi import render_openapi

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
REGENERATE = ".venv/bin/python scripts/export_openapi.py"
METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_committed_contract_matches_the_app(app: FastAPI) -> None:
    assert CONTRACT.read_text(encoding="utf-8") == render_openapi(app), (
        f"openapi/openapi.json is out of date; regenerate it with: {REGENERATE}"
    )


def test_operation_ids_are_the_unique_endpoint_names(app: FastAPI) -> None:
    app.openapi_schema = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns "Duplicate Operation ID"
        document = app.openapi()
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    assert all(operation_id.isidentifier() for operation_id in ids)


def test_every_error_is_a_documented_problem_and_every_api_operation_is_secured(app: FastAPI) -> None:
    document = app.openapi()
    scopes = document["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]["scopes"]
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                content = response["content"]
                assert content.get("application/problem+json", {}).get("schema") or path == "/oauth/token", where
        if not path.startswith("/api/v1"):
            continue
        assert {"401", "403", "429", "500"} <= responses.keys(), where
        validated = [p for p in operation.get("parameters", []) if p["name"] != "DPoP"]  # answered 401, not 422
        if validated or "requestBody" in operation:
            assert "422" in responses, where
        if_match = [p for p in operation.get("parameters", []) if p["name"] == "If-Match"]
        if if_match:
            assert if_match[0]["required"], where  # the server answers 428 without it
            assert {"412", "428"} <= responses.keys(), where
        requirement, bound = operation["security"]  # a Bearer token, or a DPoP-bound one with the same scopes
        assert requirement["OAuth2"], where
        assert set(requirement["OAuth2"]) <= scopes.keys(), where
        assert bound == {"DPoP": requirement["OAuth2"]}, where


def test_main_schemas_carry_examples(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    for name in ("CaseCreate", "Problem", "StatisticsRead", "ChangePage", "ReadAuditRead"):
        assert "example" in schemas[name] or "examples" in schemas[name], name


def test_contract_is_sorted_pretty_json() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
