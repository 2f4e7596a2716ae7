"""Input that used to reach the database or a parser unchecked gets a 4xx problem, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import ReadAuditEntry
from app.core.config import Settings
from app.ledger.models import LedgerEntry
from tests.audit.test_auditor import _recommended_long_ago as overdue_case
from tests.auth_helpers import AuthHeaders
from tests.authz import MatrixContext
from tests.factories import case_payload, create_case
from tests.problems import PROBLEM, assert_problem
from tests.reconciliation.authz import _case_with_finding as case_with_finding

pytestmark = pytest.mark.slow  # a hardening suite: run by ./test and CI; ./test --fast leaves it out


CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())
CONTRACT_PATHS = CONTRACT["paths"]


def _query_parameters(chosen: Callable[[dict[str, Any]], bool]) -> set[tuple[str, str]]:
    """(path, name) of every GET query parameter of the contract that ``chosen`` picks."""
    return {
        (path, parameter["name"])
        for path, item in CONTRACT_PATHS.items()
        for parameter in item.get("get", {}).get("parameters", [])
        if parameter["in"] == "query" and chosen(parameter)
    }


DATETIME_QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("/api/v1/audit/read-log", "recorded_from"): {},
    ("/api/v1/audit/read-log", "recorded_to"): {},
    ("/api/v1/audit/statistics", "as_of"): {},
    ("/api/v1/reconciliation/summary", "as_of"): {},
    ("/api/v1/audit/count-bridge", "as_of"): {"from": "2024-01-01", "to": "2024-01-31"},
}
"""Every date-time query parameter of the contract, with the other parameters its operation requires."""


def test_every_datetime_query_parameter_is_checked_below() -> None:
    assert _query_parameters(lambda parameter: '"date-time"' in json.dumps(parameter["schema"])) == set(
        DATETIME_QUERIES
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2024-01-01T00:00:00", id="naive"),
        pytest.param("0001-01-01T00:00:00+14:00", id="before year 1 in UTC"),
        pytest.param("9999-12-31T23:59:59-14:00", id="after year 9999 in UTC"),
    ],
)
@pytest.mark.parametrize(
    ("path", "name"), sorted(DATETIME_QUERIES), ids=[f"{p} {n}" for p, n in sorted(DATETIME_QUERIES)]
)
def test_a_datetime_without_time_zone_is_a_422_naming_the_parameter(
    client: TestClient, auth_headers: AuthHeaders, path: str, name: str, value: str
) -> None:
    others = DATETIME_QUERIES[(path, name)]
    response = client.get(path, params=others | {name: value}, headers=auth_headers("auditor"))
    body = assert_problem(response, 422)
    assert [param["name"] for param in body["invalid_params"]] == [f"query.{name}"]
    aware = client.get(path, params=others | {name: "2024-01-01T00:00:00+07:00"}, headers=auth_headers("auditor"))
    assert aware.status_code == 200, aware.text


@pytest.mark.parametrize("as_of", ["2024-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_run_as_of_an_instant_without_offset_or_out_of_range_is_a_422(
    client: TestClient, auth_headers: AuthHeaders, as_of: str
) -> None:
    response = client.post(
        "/api/v1/reconciliation/runs", json={"mode": "DEADLINES", "as_of": as_of}, headers=auth_headers("BAWASLU")
    )
    body = assert_problem(response, 422)
    assert [param["name"] for param in body["invalid_params"]] == ["body.as_of"]


def _resigned(settings: Settings, cursor: str, **changes: Any) -> str:
    """The same cursor with its payload changed and signed again with the service's secret."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload = json.loads(raw[16:])
    payload.update(changes)
    return _signed(settings, json.dumps(payload).encode())


def _signed(settings: Settings, payload: bytes) -> str:
    mac = hmac.new(settings.secret_key.encode(), payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


MALFORMED_TIME_ID_KEYS: dict[str, Any] = {
    "key not a list": "not a list",
    "empty key": [],
    "one part": ["2024-01-01T00:00:00+00:00"],
    "numbers": [1, 2],
    "not a timestamp": ["yesterday", str(uuid.uuid4())],
    "naive timestamp": ["2024-01-01T00:00:00", str(uuid.uuid4())],
    "not a uuid": ["2024-01-01T00:00:00+00:00", "not-a-uuid"],
}
MALFORMED_NUMBER_KEYS: dict[str, Any] = {
    "key not a list": "7",
    "string": ["7"],
    "boolean": [True],
    "float": [1.5],
    "below the start": [-5],
    "two parts": [1, 2],
    "beyond a BIGINT": [2**63],
    "beyond any column": [10**30],
}
MALFORMED_TEXT_KEYS: dict[str, Any] = {
    "key not a list": "73",
    "number": [73],
    "two parts": ["73", "74"],
    "NUL": ["73\x00"],
    "control": ["73\x1b"],
}
CURSOR_LISTINGS: dict[str, dict[str, Any]] = {
    "/api/v1/cases": MALFORMED_TIME_ID_KEYS,
    "/api/v1/audit/overdue": MALFORMED_TIME_ID_KEYS,
    "/api/v1/reconciliation/findings": MALFORMED_TIME_ID_KEYS,
    "/api/v1/ledger/entries": MALFORMED_NUMBER_KEYS,
    "/api/v1/ledger/cases/{case_id}/entries": MALFORMED_NUMBER_KEYS,
    "/api/v1/audit/read-log": MALFORMED_NUMBER_KEYS | {"beyond an INTEGER": [2**31]},  # its ids are 32-bit
    "/api/v1/reference/instansi": MALFORMED_TEXT_KEYS,
}
"""Every listing with a ``cursor`` parameter, and the signed keys of the wrong shape it must refuse."""
NOT_A_CURSOR = [b"not json", b"[1, 2]", b'"a string"', b"{}", b'{"s": 1, "k": [], "f": null}', b"\xff\xfe"]
"""Signed payloads that are not a cursor at all."""


def test_every_cursor_listing_is_checked_below() -> None:
    assert {path for path, _ in _query_parameters(lambda parameter: parameter["name"] == "cursor")} == set(
        CURSOR_LISTINGS
    )


def _first_cursor(client: TestClient, path: str, headers: dict[str, str]) -> str:
    response = client.get(path, params={"limit": 1}, headers=headers)
    assert response.status_code == 200, response.text
    cursor: str = response.json()["next_cursor"]
    assert cursor, f"{path} has one page only"
    return cursor


@pytest.fixture
def listings(app: FastAPI, client: TestClient, auth_headers: AuthHeaders) -> dict[str, str]:
    """Two items or more in every cursor listing; its concrete path by its contract path."""
    context = MatrixContext(app=app, client=client, auth_headers=auth_headers)
    cases = [case_with_finding(context)["case"] for _ in range(2)]  # two cases, two findings, several entries
    for _ in range(2):
        overdue_case(client, auth_headers)
    client.get("/api/v1/cases", headers=auth_headers("auditor"))  # read-audit rows
    return {path: path.replace("{case_id}", str(cases[0]["id"])) for path in CURSOR_LISTINGS}


@pytest.mark.parametrize("path", sorted(CURSOR_LISTINGS))
def test_a_signed_cursor_with_a_malformed_key_is_a_400(
    client: TestClient, auth_headers: AuthHeaders, settings: Settings, listings: dict[str, str], path: str
) -> None:
    headers = auth_headers("auditor")
    issued = _first_cursor(client, listings[path], headers)
    for variant, key in CURSOR_LISTINGS[path].items():
        response = client.get(listings[path], params={"cursor": _resigned(settings, issued, k=key)}, headers=headers)
        assert response.status_code == 400, f"{variant}: {response.text}"
        assert response.headers["content-type"].startswith(PROBLEM), variant
    for payload in NOT_A_CURSOR:
        response = client.get(listings[path], params={"cursor": _signed(settings, payload)}, headers=headers)
        assert_problem(response, 400)
    assert client.get(listings[path], params={"cursor": issued}, headers=headers).status_code == 200


REQUEST_IDS = [
    pytest.param("partner-trace-0001", True, id="visible ASCII, kept"),
    pytest.param("x" * 128, True, id="128 characters, kept"),
    pytest.param("x" * 129, False, id="129 characters, replaced"),
    pytest.param("x" * 201, False, id="201 characters (past PostgreSQL's column), replaced"),
    pytest.param("x" * 6000, False, id="6000 characters, replaced"),
    pytest.param("trace id with spaces", False, id="spaces, replaced"),
    pytest.param("jejak-\u00e9", False, id="non-ASCII, replaced"),
]


def _with_request_id(headers: dict[str, str], given: str) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in headers.items()] + [
        (b"X-Request-ID", given.encode("utf-8"))
    ]


def _assert_bounded(stored: str, given: str, kept: bool) -> None:
    if kept:
        assert stored == given
    else:
        assert str(uuid.UUID(stored)) == stored


@pytest.mark.parametrize(("given", "kept"), REQUEST_IDS)
def test_request_ids_are_bounded_the_same_way_on_both_databases(
    client: TestClient, auth_headers: AuthHeaders, session: Session, given: str, kept: bool
) -> None:
    response = client.post(
        "/api/v1/cases", json=case_payload(), headers=_with_request_id(auth_headers("BAWASLU"), given)
    )
    assert response.status_code == 201, response.text
    stored = session.scalars(select(LedgerEntry.request_id).where(LedgerEntry.entry_type == "case.created")).one()
    _assert_bounded(stored, given, kept)


@pytest.mark.parametrize(("given", "kept"), REQUEST_IDS)
def test_a_personal_data_read_bounds_its_request_id_in_the_read_audit(
    client: TestClient, auth_headers: AuthHeaders, session: Session, given: str, kept: bool
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    response = client.get(f"/api/v1/cases/{case['id']}", headers=_with_request_id(auth_headers("auditor"), given))
    assert response.status_code == 200, response.text
    session.rollback()  # see what the request committed
    stored = session.scalars(select(ReadAuditEntry.request_id).where(ReadAuditEntry.operation == "get_case")).one()
    _assert_bounded(stored, given, kept)


@pytest.mark.parametrize("value", ["0", "1700000000", "2024-1-5", "05-01-2024", "2024-01-05T00:00:00"])
def test_a_query_date_is_an_iso_calendar_day_only(client: TestClient, auth_headers: AuthHeaders, value: str) -> None:
    response = client.get("/api/v1/cases", params={"reported_to": value}, headers=auth_headers("auditor"))
    body = assert_problem(response, 422)
    assert [param["name"] for param in body["invalid_params"]] == ["query.reported_to"]


def test_an_iso_query_date_filters(client: TestClient, auth_headers: AuthHeaders) -> None:
    create_case(client, auth_headers("BAWASLU"), incident_date="2024-01-02", reported_date="2024-01-04")
    headers = auth_headers("auditor")
    assert len(client.get("/api/v1/cases", params={"reported_to": "2024-01-04"}, headers=headers).json()["items"]) == 1
    assert client.get("/api/v1/cases", params={"reported_to": "2024-01-03"}, headers=headers).json()["items"] == []


def _concrete(path: str) -> str:
    """A contract path with every parameter filled in (the paths' parameters are ids and sequence numbers)."""
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group() in {"{seq}", "{size}"} else str(uuid.uuid4()), path)


@pytest.mark.parametrize("path", sorted(CONTRACT_PATHS))
def test_a_method_the_path_does_not_have_is_405_listing_every_method_it_has(client: TestClient, path: str) -> None:
    documented = sorted(method.upper() for method in CONTRACT_PATHS[path])
    response = client.request("OPTIONS", _concrete(path))
    assert_problem(response, 405)
    assert response.headers["allow"] == ", ".join(documented)


@pytest.mark.parametrize("value", [0, 1718000000, "0", "1718000000"], ids=["zero", "timestamp", "zero-text", "ts-text"])
def test_a_number_is_not_a_date_in_a_body(client: TestClient, auth_headers: AuthHeaders, value: Any) -> None:
    problem = assert_problem(
        client.post("/api/v1/cases", json=case_payload(incident_date=value), headers=auth_headers("BAWASLU")), 422
    )
    assert [param["name"] for param in problem["invalid_params"]] == ["body.incident_date"]


@pytest.mark.parametrize("value", ["0.5", "1718000000", "0"])
def test_a_number_is_not_an_instant_in_a_query(client: TestClient, auth_headers: AuthHeaders, value: str) -> None:
    response = client.get("/api/v1/audit/read-log", params={"recorded_to": value}, headers=auth_headers("auditor"))
    assert [param["name"] for param in assert_problem(response, 422)["invalid_params"]] == ["query.recorded_to"]


def test_a_number_is_not_an_instant_in_a_run(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.post("/api/v1/reconciliation/runs", json={"as_of": 0}, headers=auth_headers("BKN"))
    assert [param["name"] for param in assert_problem(response, 422)["invalid_params"]] == ["body.as_of"]


@pytest.mark.parametrize(
    ("who", "path", "misspelt"),
    [
        ("auditor", "/api/v1/cases", "provinsi"),
        ("auditor", "/api/v1/audit/statistics", "asof"),
        ("auditor", "/api/v1/reconciliation/findings", "severity_min"),
        ("auditor", "/api/v1/ledger/entries", "page"),
        ("admin", "/api/v1/clients", "role"),
        ("BAWASLU", "/api/v1/reference/agencies", "lang"),
    ],
)
def test_an_unknown_query_parameter_is_a_400_naming_it(
    client: TestClient, auth_headers: AuthHeaders, who: str, path: str, misspelt: str
) -> None:
    response = client.get(path, params={misspelt: "1"}, headers=auth_headers(who))
    problem = assert_problem(response, 400)
    assert problem["invalid_params"] == [{"name": f"query.{misspelt}", "reason": "not a parameter of this operation"}]
    assert "This operation takes:" in problem["detail"]


def test_declared_query_parameters_still_work(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.get("/api/v1/cases", params={"province_code": "73", "limit": 5}, headers=auth_headers("auditor"))
    assert response.status_code == 200, response.text
