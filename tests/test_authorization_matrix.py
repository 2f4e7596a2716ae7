"""Every route × {anonymous, each agency, auditor, admin} answers exactly as its domain declared.

Rows live beside each domain's tests (``tests/<domain>/authz.py``); a route without a row, or a row without a
route, fails ``test_every_route_is_in_the_matrix``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response

from tests.auth_helpers import AuthHeaders
from tests.authz import IDENTITIES, Call, MatrixContext, Row

TESTS = Path(__file__).parent


def collect_rows() -> list[Row]:
    rows: list[Row] = []
    for module_path in sorted(TESTS.glob("*/authz.py")):
        module = importlib.import_module(f"tests.{module_path.parent.name}.authz")
        rows.extend(module.ROWS)
    return rows


ROWS = collect_rows()


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Routes by their contract path: a path converter ("{register_number:path}") is left out, as in OpenAPI."""
    routes = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path is not None:
                routes.add((method, re.sub(r":[a-z]+}", "}", route.path)))
    return routes


def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    declared = [row.key for row in ROWS]
    assert len(declared) == len(set(declared)), "a route is declared twice"
    routes = app_routes(app)
    assert sorted(routes - set(declared)) == [], "routes missing from the authorization matrix"
    assert sorted(set(declared) - routes) == [], "matrix rows for routes that no longer exist"


CONTRACT_HEADERS = (
    "ETag",
    "Location",
    "Idempotent-Replayed",
    "Ledger-Leaf-Hash",
    "Ledger-Seq",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "WWW-Authenticate",
)
"""Headers a client acts on: each one a response carries must be declared for that operation and status."""


def _assert_headers_declared(app: FastAPI, row: Row, response: Response) -> None:
    if row.route not in app.openapi()["paths"]:
        return  # the documentation pages and the contract itself are not operations of the contract
    operation = app.openapi()["paths"][row.route][row.method.lower()]
    declared = operation["responses"].get(str(response.status_code), {}).get("headers", {})
    sent = {name for name in CONTRACT_HEADERS if name in response.headers}
    assert sorted(sent - set(declared)) == [], (row.method, row.route, response.status_code)


@pytest.mark.parametrize("row", ROWS, ids=[f"{row.method} {row.route}" for row in ROWS])
def test_route_answers_each_identity_as_declared(
    row: Row, app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    context = MatrixContext(app=app, client=client, auth_headers=auth_headers)
    actual: dict[str, int] = {}
    for who in IDENTITIES:
        call = row.call(context, who) if row.call else Call(row.route)
        response = client.request(
            row.method,
            call.path,
            json=call.json,
            data=call.data,
            headers={**context.headers(who), **call.headers},
        )
        actual[who] = response.status_code
        _assert_headers_declared(app, row, response)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith(("application/problem+json", "application/json"))
    assert actual == dict(row.expected)
