"""Input that used to reach the database or a parser unchecked gets a 4xx problem, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.ledger.models import LedgerEntry
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload, create_case
from tests.problems import PROBLEM, assert_problem

pytestmark = pytest.mark.slow  # a hardening suite: run by ./test and CI; ./test --fast leaves it out


def test_a_datetime_without_time_zone_is_a_422_naming_the_parameter(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    response = client.get(
        "/api/v1/audit/read-log", params={"recorded_from": "2024-01-01T00:00:00"}, headers=auth_headers("auditor")
    )
    body = assert_problem(response, 422)
    assert [param["name"] for param in body["invalid_params"]] == ["query.recorded_from"]
    aware = client.get(
        "/api/v1/audit/read-log", params={"recorded_from": "2024-01-01T00:00:00+07:00"}, headers=auth_headers("auditor")
    )
    assert aware.status_code == 200


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
}


def _first_cursor(client: TestClient, path: str, headers: dict[str, str]) -> str:
    response = client.get(path, params={"limit": 1}, headers=headers)
    assert response.status_code == 200, response.text
    cursor: str = response.json()["next_cursor"]
    return cursor


@pytest.fixture
def two_cases(client: TestClient, auth_headers: AuthHeaders) -> None:
    for _ in range(2):
        create_case(client, auth_headers("BAWASLU"))
    client.get("/api/v1/cases", headers=auth_headers("auditor"))  # two read-audit rows


@pytest.mark.usefixtures("two_cases")
@pytest.mark.parametrize(
    ("path", "malformed_keys"),
    [
        ("/api/v1/cases", MALFORMED_TIME_ID_KEYS),
        ("/api/v1/ledger/entries", MALFORMED_NUMBER_KEYS),
        ("/api/v1/audit/read-log", MALFORMED_NUMBER_KEYS),
    ],
)
def test_a_signed_cursor_with_a_malformed_key_is_a_400(
    client: TestClient, auth_headers: AuthHeaders, settings: Settings, path: str, malformed_keys: dict[str, Any]
) -> None:
    headers = auth_headers("auditor")
    issued = _first_cursor(client, path, headers)
    for variant, key in malformed_keys.items():
        response = client.get(path, params={"cursor": _resigned(settings, issued, k=key)}, headers=headers)
        assert response.status_code == 400, f"{variant}: {response.text}"
        assert response.headers["content-type"].startswith(PROBLEM), variant
    assert client.get(path, params={"cursor": issued}, headers=headers).status_code == 200


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'"a string"', b"{}"])
def test_a_signed_cursor_whose_payload_is_not_a_cursor_is_a_400(
    client: TestClient, auth_headers: AuthHeaders, settings: Settings, payload: bytes
) -> None:
    cursor = _signed(settings, payload)
    assert_problem(client.get("/api/v1/cases", params={"cursor": cursor}, headers=auth_headers("auditor")), 400)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        pytest.param("partner-trace-0001", True, id="visible ASCII, kept"),
        pytest.param("x" * 128, True, id="128 characters, kept"),
        pytest.param("x" * 6000, False, id="6000 characters, replaced"),
        pytest.param("trace id with spaces", False, id="spaces, replaced"),
        pytest.param("jejak-\u00e9", False, id="non-ASCII, replaced"),
    ],
)
def test_request_ids_are_bounded_the_same_way_on_both_databases(
    client: TestClient, auth_headers: AuthHeaders, session: Session, given: str, kept: bool
) -> None:
    raw_headers = [(name.encode(), value.encode()) for name, value in auth_headers("BAWASLU").items()]
    raw_headers.append((b"X-Request-ID", given.encode("utf-8")))
    response = client.post("/api/v1/cases", json=case_payload(), headers=raw_headers)
    assert response.status_code == 201, response.text
    stored = session.scalars(select(LedgerEntry.request_id).where(LedgerEntry.entry_type == "case.created")).one()
    if kept:
        assert stored == given
    else:
        assert str(uuid.UUID(stored)) == stored


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


CONTRACT_PATHS = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())["paths"]


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
