"""Client registry: admin API, command line, first-start demo clients, ledger trail, revocation."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth import runtime, service
from app.auth.models import OAuthClient
from app.auth.registry import DEMO_CLIENTS_FILE, ensure_demo_clients, registry_session
from app.cli import cli
from app.core.actor import Agency, Role
from app.core.config import Environment, Settings
from app.ledger.models import LedgerEntry
from app.main import create_app
from tests.auth.forge import bearer
from tests.auth_helpers import AuthHeaders

CLIENTS = "/api/v1/clients"
READ_ROUTE = "/api/v1/reference/agencies"


class FakeClock:
    """A monotonic clock the test moves by hand (``ClientStatusCache(clock=...)``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ledger_types(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(select(LedgerEntry.entry_type, LedgerEntry.client_id).order_by(LedgerEntry.seq))
    return [(entry_type, client_id) for entry_type, client_id in rows]


def token_for(client: TestClient, client_id: str, secret: str) -> str:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_admin_creates_rotates_and_disables_a_client(
    client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    admin = auth_headers("admin")
    created = client.post(
        CLIENTS,
        json={"name": "Kemendagri SIMPEG", "role": "agency", "agency": "KEMENDAGRI", "client_id": "kemendagri-simpeg"},
        headers=admin,
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert "cases:write" in body["scopes"]
    first_secret = body["client_secret"]
    token = token_for(client, "kemendagri-simpeg", first_secret)
    assert client.get(READ_ROUTE, headers=bearer(token)).status_code == 200

    listed = client.get(CLIENTS, headers=admin).json()
    assert '"client_secret":' not in json.dumps(listed)
    assert "secret_hash" not in json.dumps(listed)

    rotated = client.post(f"{CLIENTS}/kemendagri-simpeg/rotate", headers=admin).json()
    assert rotated["client_secret"] != first_secret
    assert rotated["secret_rotated_at"] is not None

    disabled = client.post(f"{CLIENTS}/kemendagri-simpeg/disable", headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["active"] is False
    assert client.get(READ_ROUTE, headers=bearer(token)).status_code == 401  # at once, same process

    assert ledger_types(session) == [
        ("client.created", "test-admin"),
        ("client.rotated", "test-admin"),
        ("client.disabled", "test-admin"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "role": "agency"},  # agency missing
        {"name": "x", "role": "auditor", "agency": "BKN"},
        {"name": "x", "role": "agency", "agency": "BKN", "scopes": ["admin:clients"]},
        {"name": "x", "role": "auditor", "scopes": ["cases:write"]},
        {"name": "x", "role": "agency", "agency": "BKN", "scopes": []},
        {"name": "x", "role": "agency", "agency": "BKN", "client_id": "Has Spaces"},
        {"name": "x", "role": "root"},
        {"name": "x", "role": "admin", "secret_hash": "scrypt$..."},
    ],
)
def test_invalid_client_registrations_are_422(
    client: TestClient, auth_headers: AuthHeaders, body: dict[str, object], session: Session
) -> None:
    response = client.post(CLIENTS, json=body, headers=auth_headers("admin"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert session.scalars(select(OAuthClient.client_id).where(OAuthClient.name == "x")).all() == []


def test_duplicate_client_id_is_409(client: TestClient, auth_headers: AuthHeaders) -> None:
    body = {"name": "BKN", "role": "agency", "agency": "BKN", "client_id": "bkn-one"}
    assert client.post(CLIENTS, json=body, headers=auth_headers("admin")).status_code == 201
    assert client.post(CLIENTS, json=body, headers=auth_headers("admin")).status_code == 409


@pytest.mark.real_commits  # registry_session opens its own engine, as the CLI does
def test_disabled_clients_tokens_stop_within_the_status_ttl(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disabled elsewhere (the CLI, another worker): this process notices within the cache TTL."""
    quick = settings.model_copy(update={"auth_client_status_cache_seconds": 1})
    clock = FakeClock()
    monkeypatch.setattr(runtime, "ClientStatusCache", functools.partial(runtime.ClientStatusCache, clock=clock))
    application = create_app(quick)
    with TestClient(application) as api, registry_session(quick) as session:
        credentials = service.create_client(
            session, quick, service.operator_context("test", {}), name="BKN", role=Role.AGENCY,
            agency=Agency.BKN, client_id="bkn-revoked",
        )  # fmt: skip
        session.commit()
        token = token_for(api, "bkn-revoked", credentials.client_secret)
        assert api.get(READ_ROUTE, headers=bearer(token)).status_code == 200
        service.disable_client(session, quick, service.operator_context("test", {}), "bkn-revoked")
        session.commit()
        clock.advance(1.05)
        response = api.get(READ_ROUTE, headers=bearer(token))
        assert response.status_code == 401
        assert "disabled" in response.json()["detail"]
    application.state.engine.dispose()


def test_every_authenticated_request_is_logged_once_as_json(
    client: TestClient, auth_headers: AuthHeaders, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sbt.auth")
    client.get(READ_ROUTE, headers=auth_headers("BKN"))
    client.get(CLIENTS, headers=auth_headers("BKN"))
    client.get(READ_ROUTE, headers=bearer("not-a-token"))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sbt.auth"]
    assert [(line["outcome"], line["client_id"], line["agency"], line["route"]) for line in lines] == [
        ("allowed", "test-bkn", "BKN", READ_ROUTE),
        ("insufficient_scope", "test-bkn", "BKN", CLIENTS),
        ("invalid_token", None, None, READ_ROUTE),
    ]


def test_logged_route_is_the_template_not_the_concrete_path(
    client: TestClient, auth_headers: AuthHeaders, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sbt.auth")
    client.get(f"{CLIENTS}/test-admin", headers=auth_headers("admin"))
    line = json.loads(next(r.getMessage() for r in caplog.records if r.name == "sbt.auth"))
    assert line["route"] == "/api/v1/clients/{client_id}"


@pytest.mark.real_commits  # the CLI opens its own engine
def test_command_line_manages_clients(cli_env: Settings, client: TestClient, session: Session) -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["clients", "create", "--name", "Bawaslu SIGAP", "--agency", "BAWASLU",
                                  "--client-id", "bawaslu-sigap", "--scope", "cases:read"])  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = next(line.split()[-1] for line in created.stdout.splitlines() if line.startswith("client_secret"))
    assert token_for(client, "bawaslu-sigap", secret)

    listed = runner.invoke(cli, ["clients", "list"])
    assert "bawaslu-sigap" in listed.stdout
    assert "BAWASLU" in listed.stdout
    assert secret not in listed.stdout

    printed = runner.invoke(cli, ["clients", "token", "bawaslu-sigap"])
    assert printed.exit_code == 0
    assert client.get(READ_ROUTE, headers=bearer(printed.stdout.strip())).status_code == 200

    beyond = runner.invoke(cli, ["clients", "token", "bawaslu-sigap", "--scope", "cases:write"])
    assert beyond.exit_code == 1

    rotated = runner.invoke(cli, ["clients", "rotate", "bawaslu-sigap"])
    assert rotated.exit_code == 0
    assert secret not in rotated.stdout
    assert runner.invoke(cli, ["clients", "disable", "bawaslu-sigap"]).exit_code == 0
    assert runner.invoke(cli, ["clients", "disable", "nobody"]).exit_code == 1
    stored = session.scalars(select(OAuthClient).where(OAuthClient.client_id == "bawaslu-sigap")).one()
    assert stored.active is False
    assert [t for t, _ in ledger_types(session)] == ["client.created", "client.rotated", "client.disabled"]


@pytest.mark.real_commits  # registry_session opens its own engine
def test_first_development_start_creates_demo_clients(settings: Settings, client: TestClient) -> None:
    development = settings.model_copy(update={"environment": Environment.DEVELOPMENT})
    path = ensure_demo_clients(development)
    assert path == development.data_dir / DEMO_CLIENTS_FILE
    assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    document = json.loads(Path(path).read_text())
    who = {(c["role"], c["agency"]) for c in document["clients"]}
    assert who == {("agency", a) for a in ("BAWASLU", "KASN", "BKN", "KEMENDAGRI", "KEMENPANRB")} | {
        ("auditor", None),
        ("admin", None),
    }
    for demo in document["clients"]:
        if demo["agency"] == "KASN":  # KASN ceased to exist on 2024-08-24: its client gets no token
            response = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(demo["client_id"], demo["client_secret"]),
            )
            assert response.json()["error"] == "unauthorized_client"
            continue
        assert token_for(client, demo["client_id"], demo["client_secret"])
    assert ensure_demo_clients(development) is None  # only on the first start


def test_no_demo_clients_outside_development(settings: Settings) -> None:
    assert ensure_demo_clients(settings) is None
    assert not (settings.data_dir / DEMO_CLIENTS_FILE).exists()


def test_openapi_declares_the_client_credentials_flow_and_per_operation_scopes(app: FastAPI) -> None:
    schema = app.openapi()
    flow = schema["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert flow["scopes"]["cases:read"] == "Read cases, agency records and reference data"
    assert schema["paths"]["/api/v1/clients"]["get"]["security"] == [
        {"OAuth2": ["admin:clients"]},
        {"DPoP": ["admin:clients"]},
    ]
    assert schema["paths"]["/api/v1/reference/agencies"]["get"]["security"] == [
        {"OAuth2": ["cases:read"]},
        {"DPoP": ["cases:read"]},
    ]
    assert schema["paths"]["/health"]["get"]["security"] == []  # public, and says so
    assert schema["paths"]["/oauth/token"]["post"]["security"] == [{"ClientSecretBasic": []}, {}]
