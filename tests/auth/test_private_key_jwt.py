"""private_key_jwt (RFC 7523): a client registers its public keys and authenticates at /oauth/token with a JWT
signed by one of them. Assertions are made with joserfc."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.models import OAuthClient
from app.cli import cli
from app.core.config import Settings
from tests.auth.forge import bearer
from tests.auth.joserfc_signer import ClientKey
from tests.auth_helpers import AuthHeaders

TOKEN = "/oauth/token"
CLIENTS = "/api/v1/clients"
READ_ROUTE = "/api/v1/reference/agencies"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def key() -> ClientKey:
    return ClientKey()


@pytest.fixture
def token_endpoint(app: FastAPI) -> str:
    return str(app.state.settings.auth_issuer).rstrip("/") + TOKEN


@pytest.fixture
def kemendagri(client: TestClient, auth_headers: AuthHeaders, key: ClientKey) -> dict[str, Any]:
    created = client.post(
        CLIENTS,
        json={
            "name": "Kemendagri SIMPEG",
            "role": "agency",
            "agency": "KEMENDAGRI",
            "client_id": "kemendagri-simpeg",
            "scopes": ["cases:read"],
            "jwks": {"keys": [key.public_jwk]},
        },
        headers=auth_headers("admin"),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def with_assertion(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        **extra,
    }


def test_a_key_client_is_registered_without_a_secret(kemendagri: dict[str, Any], key: ClientKey) -> None:
    assert "client_secret" not in kemendagri
    assert kemendagri["token_endpoint_auth_method"] == "private_key_jwt"
    assert kemendagri["jwks"]["keys"][0]["x"] == key.public_jwk["x"]


def test_a_signed_assertion_gets_a_token_that_works(
    client: TestClient, kemendagri: dict[str, Any], key: ClientKey, token_endpoint: str
) -> None:
    response = client.post(TOKEN, data=with_assertion(key.client_assertion("kemendagri-simpeg", token_endpoint)))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "cases:read"
    assert client.get(READ_ROUTE, headers=bearer(response.json()["access_token"])).status_code == 200


def test_the_issuer_as_audience_and_an_rsa_key(client: TestClient, app: FastAPI, auth_headers: AuthHeaders) -> None:
    rsa = ClientKey.rsa("PS256")
    registered = client.post(
        CLIENTS,
        json={"name": "BKN SAPK", "role": "agency", "agency": "BKN", "client_id": "bkn-sapk",
              "jwks": {"keys": [rsa.public_jwk]}},
        headers=auth_headers("admin"),
    )  # fmt: skip
    assert registered.status_code == 201
    assertion = rsa.client_assertion("bkn-sapk", app.state.settings.auth_issuer)
    response = client.post(TOKEN, data=with_assertion(assertion, client_id="bkn-sapk"))
    assert response.status_code == 200, response.text


def test_an_assertion_by_another_key_is_refused(
    client: TestClient, kemendagri: dict[str, Any], key: ClientKey, token_endpoint: str
) -> None:
    impostor = ClientKey(kid=key.kid)  # same kid, other key
    response = client.post(TOKEN, data=with_assertion(impostor.client_assertion("kemendagri-simpeg", token_endpoint)))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "signature" in response.json()["error_description"]


def test_a_replayed_assertion_is_refused(
    client: TestClient, kemendagri: dict[str, Any], key: ClientKey, token_endpoint: str
) -> None:
    assertion = key.client_assertion("kemendagri-simpeg", token_endpoint)
    assert client.post(TOKEN, data=with_assertion(assertion)).status_code == 200
    replayed = client.post(TOKEN, data=with_assertion(assertion))
    assert replayed.status_code == 401
    assert "already used" in replayed.json()["error_description"]


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"exp": int(time.time()) + 3600}, "lives longer than 300 s"),
        ({"exp": None}, "no exp"),
        ({"jti": None}, "no jti"),
        ({"aud": "https://elsewhere.example/token"}, "for another server"),
        ({"sub": "someone-else"}, "iss and sub differ"),
    ],
)
def test_expired_or_malformed_assertions_are_refused(
    client: TestClient,
    kemendagri: dict[str, Any],
    key: ClientKey,
    token_endpoint: str,
    overrides: dict[str, Any],
    why: str,
) -> None:
    response = client.post(
        TOKEN, data=with_assertion(key.client_assertion("kemendagri-simpeg", token_endpoint, **overrides))
    )
    assert response.status_code == 401, why
    assert response.json()["error"] == "invalid_client"


def test_a_secret_client_cannot_use_an_assertion_nor_a_key_client_a_secret(
    client: TestClient, kemendagri: dict[str, Any], key: ClientKey, token_endpoint: str, auth_headers: AuthHeaders
) -> None:
    secret_client = client.post(
        CLIENTS, json={"name": "Auditor", "role": "auditor", "client_id": "audit-1"}, headers=auth_headers("admin")
    ).json()
    assertion = key.client_assertion("audit-1", token_endpoint)
    assert client.post(TOKEN, data=with_assertion(assertion)).status_code == 401
    guessed = {"grant_type": "client_credentials", "client_id": "kemendagri-simpeg", "client_secret": "x" * 43}
    assert client.post(TOKEN, data=guessed).status_code == 401
    both = with_assertion(
        key.client_assertion("kemendagri-simpeg", token_endpoint), client_secret=secret_client["client_secret"]
    )
    assert client.post(TOKEN, data=both).json()["error"] == "invalid_request"
    rotated = client.post(f"{CLIENTS}/kemendagri-simpeg/rotate", headers=auth_headers("admin"))
    assert rotated.status_code == 409


def test_a_key_client_can_bind_its_token_with_dpop(
    client: TestClient, kemendagri: dict[str, Any], key: ClientKey, token_endpoint: str
) -> None:
    dpop_key = ClientKey()
    response = client.post(
        TOKEN,
        data=with_assertion(key.client_assertion("kemendagri-simpeg", token_endpoint)),
        headers={"DPoP": dpop_key.dpop_proof("POST", token_endpoint)},
    )
    assert response.json()["token_type"] == "DPoP"
    token = response.json()["access_token"]
    proof = dpop_key.dpop_proof("GET", "http://testserver" + READ_ROUTE, access_token=token)
    assert client.get(READ_ROUTE, headers={"Authorization": f"DPoP {token}", "DPoP": proof}).status_code == 200


@pytest.mark.parametrize(
    ("jwks", "why"),
    [
        ({"keys": []}, "no key"),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "a symmetric key"),
        ("private", "a private key"),
    ],
)
def test_only_public_signature_keys_can_be_registered(
    client: TestClient, auth_headers: AuthHeaders, jwks: Any, why: str
) -> None:
    if jwks == "private":
        jwks = {"keys": [ClientKey().key.as_dict(private=True)]}
    response = client.post(CLIENTS, json={"name": "X", "role": "auditor", "jwks": jwks}, headers=auth_headers("admin"))
    assert response.status_code == 422, why
    assert response.headers["content-type"] == "application/problem+json"


def test_metadata_lists_private_key_jwt(client: TestClient) -> None:
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "PS256", "RS256"]


@pytest.mark.real_commits  # the CLI opens its own engine
def test_command_line_registers_a_key_client(
    cli_env: Settings, client: TestClient, session: Session, tmp_path: Path, key: ClientKey, token_endpoint: str
) -> None:
    jwks_file = tmp_path / "simpeg-keys.json"
    jwks_file.write_text(json.dumps({"keys": [key.public_jwk]}))
    created = CliRunner().invoke(cli, ["clients", "create", "--name", "Kemendagri SIMPEG", "--agency", "KEMENDAGRI",
                                       "--client-id", "kemendagri-simpeg", "--jwks", str(jwks_file)])  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "private_key_jwt" in created.stdout
    assert "client_secret" not in created.stdout
    stored = session.scalars(select(OAuthClient).where(OAuthClient.client_id == "kemendagri-simpeg")).one()
    assert stored.secret_hash is None
    response = client.post(TOKEN, data=with_assertion(key.client_assertion("kemendagri-simpeg", token_endpoint)))
    assert response.status_code == 200
    jwks_file.write_text(json.dumps({"keys": [key.key.as_dict(private=True)]}))
    refused = CliRunner().invoke(
        cli, ["clients", "create", "--name", "X", "--role", "auditor", "--jwks", str(jwks_file)]
    )
    assert refused.exit_code == 1
