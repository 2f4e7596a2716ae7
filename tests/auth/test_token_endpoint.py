"""POST /oauth/token: the client-credentials grant as an agency system uses it (RFC 6749 §4.4, §5.2)."""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote_plus

import limits.storage.memory
import limits.storage.redis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jose import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api import auth_throttle
from app.auth import hashing, service
from app.auth.models import OAuthClient
from app.auth.service import IssuedCredentials
from app.core.actor import Scope
from app.core.config import Settings
from app.core.shared_state import SharedState
from tests.conftest import Writing

TOKEN = "/oauth/token"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_client_secret_basic_gets_a_token_that_works(client: TestClient, bkn: IssuedCredentials) -> None:
    response = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic("bkn-sapk", bkn.client_secret)
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "cases:read cases:write"
    assert body["expires_in"] == 600
    assert "refresh_token" not in body
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["agency"] == "BKN"
    assert claims["client_id"] == claims["sub"] == "bkn-sapk"
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    api = client.get("/api/v1/reference/agencies", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.status_code == 200


def test_client_secret_post_and_a_narrower_scope(client: TestClient, bkn: IssuedCredentials) -> None:
    response = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": "bkn-sapk",
            "client_secret": bkn.client_secret,
            "scope": "cases:read",
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "cases:read"
    token = response.json()["access_token"]
    denied = client.post("/api/v1/cases", json={}, headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 403


def authentication(kind: str, secret: str) -> dict[str, str]:
    return {
        "basic": basic("bkn-sapk", secret),
        "wrong-secret": basic("bkn-sapk", "wrong"),
        "unknown-client": basic("nobody", secret),
        "none": {},
        "garbled-basic": {"Authorization": "Basic !!!"},
        "bearer": {"Authorization": "Bearer x"},
    }[kind]


CC = {"grant_type": "client_credentials"}


@pytest.mark.parametrize(
    ("data", "kind", "status", "error"),
    [
        (CC, "wrong-secret", 401, "invalid_client"),
        (CC, "unknown-client", 401, "invalid_client"),
        (CC, "none", 401, "invalid_client"),
        ({**CC, "client_id": "bkn-sapk"}, "none", 401, "invalid_client"),
        (CC, "garbled-basic", 401, "invalid_client"),
        (CC, "bearer", 401, "invalid_client"),
        ({"grant_type": "password"}, "basic", 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "basic", 400, "unsupported_grant_type"),
        ({}, "basic", 400, "invalid_request"),
        ({**CC, "scope": "cases:read audit:read"}, "basic", 400, "invalid_scope"),
        ({**CC, "scope": "cases:transition"}, "basic", 400, "invalid_scope"),
        ({**CC, "scope": "cases:*"}, "basic", 400, "invalid_scope"),
        ({**CC, "client_secret": "x"}, "basic", 400, "invalid_request"),
    ],
)
def test_token_errors_follow_rfc_6749(
    client: TestClient, bkn: IssuedCredentials, data: dict[str, str], kind: str, status: int, error: str
) -> None:
    response = client.post(TOKEN, data=data, headers=authentication(kind, bkn.client_secret))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    if status == 401:
        assert response.headers["www-authenticate"] == 'Basic realm="sbt"'


def test_repeated_parameters_are_invalid_request(client: TestClient, bkn: IssuedCredentials) -> None:
    response = client.post(
        TOKEN,
        content="grant_type=client_credentials&scope=cases:read&scope=cases:write",
        headers={"Content-Type": "application/x-www-form-urlencoded", **basic("bkn-sapk", bkn.client_secret)},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_disabled_client_gets_no_token(
    client: TestClient, bkn: IssuedCredentials, writing: Writing, settings: Settings
) -> None:
    with writing() as writer:
        service.disable_client(writer, settings, service.operator_context("test", {}), "bkn-sapk")
    response = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic("bkn-sapk", bkn.client_secret)
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_rotated_secret_replaces_the_old_one(
    client: TestClient, bkn: IssuedCredentials, writing: Writing, settings: Settings
) -> None:
    with writing() as writer:
        rotated = service.rotate_secret(writer, settings, service.operator_context("test", {}), "bkn-sapk")
    old = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("bkn-sapk", bkn.client_secret))
    new = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic("bkn-sapk", rotated.client_secret)
    )
    assert (old.status_code, new.status_code) == (401, 200)


def test_secrets_are_never_stored_or_logged_in_clear(
    client: TestClient, bkn: IssuedCredentials, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ok = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("bkn-sapk", bkn.client_secret))
    client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("bkn-sapk", "guess-" + "x" * 20))
    stored = session.scalars(select(OAuthClient.secret_hash).where(OAuthClient.client_id == "bkn-sapk")).one()
    assert stored is not None
    assert bkn.client_secret not in stored
    assert stored.startswith("scrypt$")
    everything_logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "bkn-sapk" in everything_logged  # the client is identified...
    assert bkn.client_secret not in everything_logged  # ...its secret never
    assert "guess-" not in everything_logged
    assert ok.json()["access_token"] not in everything_logged


def test_metadata_and_jwks_describe_the_issuer(client: TestClient, app: FastAPI) -> None:
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    issuer = app.state.settings.auth_issuer
    assert metadata["issuer"] == issuer
    assert metadata["token_endpoint"] == issuer + TOKEN
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert set(metadata["scopes_supported"]) == {scope.value for scope in Scope}
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert [(key["kty"], key["crv"], key["alg"], key["use"]) for key in keys] == [("EC", "P-256", "ES256", "sig")]
    assert "d" not in keys[0]


def test_signing_key_survives_a_restart(app: FastAPI, client: TestClient) -> None:
    from app.auth.keys import KEY_FILE_NAME
    from app.main import create_app

    first = client.get("/.well-known/jwks.json").json()
    key_file = app.state.settings.data_dir / KEY_FILE_NAME
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    restarted = create_app(app.state.settings)
    with TestClient(restarted) as again:
        assert again.get("/.well-known/jwks.json").json() == first
    restarted.state.engine.dispose()


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts secret verifications (each one is a scrypt derivation)."""
    calls: list[str] = []
    real = hashing.verify_secret

    def counting(secret: str, encoded: str) -> bool:
        calls.append(secret)
        return real(secret, encoded)

    monkeypatch.setattr(service, "verify_secret", counting)
    return calls


def _token(client: TestClient, client_id: str, secret: str) -> Any:
    return client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(client_id, secret))


def test_unknown_client_id_costs_no_scrypt_and_answers_like_a_wrong_secret(
    client: TestClient, bkn: IssuedCredentials, scrypt_calls: list[str]
) -> None:
    unknown = _token(client, "no-such-client", "whatever")
    assert scrypt_calls == []
    wrong = _token(client, "bkn-sapk", "whatever")
    assert len(scrypt_calls) == 1
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"error": "invalid_client", "error_description": ANY_DESCRIPTION}
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_DESCRIPTION = _AnyText()


def test_failures_of_one_client_id_are_throttled_before_scrypt(
    client: TestClient, bkn: IssuedCredentials, settings: Settings, scrypt_calls: list[str]
) -> None:
    for _ in range(settings.auth_failures_per_client):
        assert _token(client, "bkn-sapk", "wrong").status_code == 401
    verified = len(scrypt_calls)
    throttled = _token(client, "bkn-sapk", bkn.client_secret)  # even the right secret waits
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/json"
    assert throttled.headers["cache-control"] == "no-store"
    assert 1 <= int(throttled.headers["retry-after"]) <= settings.auth_failure_window_seconds
    assert throttled.json()["error"] == "slow_down"
    assert len(scrypt_calls) == verified  # refused before any hash work


def test_a_success_resets_the_client_count(client: TestClient, bkn: IssuedCredentials, settings: Settings) -> None:
    for _ in range(settings.auth_failures_per_client - 1):
        assert _token(client, "bkn-sapk", "wrong").status_code == 401
    assert _token(client, "bkn-sapk", bkn.client_secret).status_code == 200
    assert _token(client, "bkn-sapk", "wrong").status_code == 401  # counting starts again


def test_failures_from_one_address_are_throttled_and_a_success_does_not_reset_them(
    client: TestClient, bkn: IssuedCredentials, settings: Settings, scrypt_calls: list[str]
) -> None:
    for index in range(settings.auth_failures_per_address - 1):
        assert _token(client, f"guess-{index}", "x").status_code == 401
    assert _token(client, "bkn-sapk", bkn.client_secret).status_code == 200
    assert _token(client, "guess-last", "x").status_code == 401
    throttled = _token(client, "bkn-sapk", bkn.client_secret)
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "slow_down"
    assert int(throttled.headers["retry-after"]) >= 1


class FrozenTime:
    """``time.time()`` that the test moves by hand, for the ``limits`` storages and the throttle."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def time(self) -> float:
        return self.now


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_failure_throttle_window_slides(
    store: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: Settings = request.getfixturevalue("redis_settings" if store == "redis" else "settings")
    clock = FrozenTime()
    for module in (limits.storage.memory, limits.storage.redis, auth_throttle):
        monkeypatch.setattr(module, "time", clock)
    throttle = auth_throttle.FailureThrottle(SharedState(settings), per_client=2, per_address=5, window_seconds=60)
    throttle.failed("c", "a")
    clock.now += 30
    throttle.failed("c", "a")
    assert throttle.retry_after("c", "a") == 30
    assert throttle.retry_after("other", "b") == 0
    clock.now += 30.5
    assert throttle.retry_after("c", "a") == 0
    throttle.failed("c", "a")  # the second failure is still in the window: a fixed window would have reset it
    assert throttle.retry_after("c", "a") == 30
    throttle.succeeded("c")
    assert throttle.retry_after("c", "a") == 0
