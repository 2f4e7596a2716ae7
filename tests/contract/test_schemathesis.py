"""Schemathesis over the whole API, in process: no 5xx, responses match the contract, no undocumented status codes,
schema-valid input accepted.

Every check runs, ``positive_data_acceptance`` included; ``schemathesis.toml`` beside this file names, operation by
operation, the documented refusals of schema-valid input that no JSON Schema can state (signed cursors, proof bounds
against the current tree size, calendar facts across fields), each with its reason.

One test per operation of the committed contract, drawing positive and negative cases (the fuzzing phase in both
generation modes). Bounded for CI (``SBT_SCHEMATHESIS_EXAMPLES``, default 5
examples per operation); ``bench/schemathesis_run.py`` runs a larger campaign.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test

from app.core.actor import Agency, Scope
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case

pytestmark = pytest.mark.slow  # fuzzing every operation (~1 min); ./test --fast leaves it out, ./test runs it

MAX_EXAMPLES = int(os.environ.get("SBT_SCHEMATHESIS_EXAMPLES", "5"))
READ_SCOPES = frozenset({Scope.CASES_READ, Scope.LEDGER_READ, Scope.RECONCILIATION_READ, Scope.AUDIT_READ})
CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
CONFIG = Path(__file__).with_name("schemathesis.toml")
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in json.loads(CONTRACT.read_text(encoding="utf-8"))["paths"].items()
    for method in item
)


def _headers_for(auth_headers: AuthHeaders) -> Any:
    """Reads carry every read scope; each write goes out as the next agency in turn; client admin as admin."""
    agencies = itertools.cycle(list(Agency))
    reader = auth_headers("auditor", scopes=READ_SCOPES)
    admin = auth_headers("admin")
    writers = {agency: auth_headers(agency.value) for agency in Agency}

    def headers(method: str, path: str) -> dict[str, str]:
        if path.startswith("/api/v1/clients"):
            return admin
        if method in {"GET", "HEAD"}:
            return reader
        return writers[next(agencies)]

    return headers


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_the_contract(
    method: str, path: str, app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    # A few real cases so that listings, histories and exports return data that is checked against the schema.
    create_case(client, auth_headers("BAWASLU"))
    create_case(client, auth_headers("BKN"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_path(CONFIG))
    operation = schema[path][method]
    headers_for = _headers_for(auth_headers)

    # Schemathesis' own per-operation test builder: the examples, coverage and fuzzing phases, both generation
    # modes, the settings below (schemathesis is pinned in requirements-dev.lock; this module is its pytest glue).
    def call(case: Any) -> None:
        case.call_and_validate(headers=headers_for(case.method, case.path))

    test = build_operation_test(
        config=schema.config, operation=operation, test_func=call, given_kwargs={}, feedback=FeedbackSources()
    )
    settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))(
        test
    )()
