"""DPoP (RFC 9449) with the embedded issuer: a token bound to the client's key at /oauth/token, then accepted by the
resource server only with a fresh proof of that key for the very request. Proofs are made with joserfc."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jose import jwt

from app.auth.replay_cache import InProcessReplayCache
from app.auth.service import IssuedCredentials
from tests.auth.joserfc_signer import ClientKey
from tests.auth.test_token_endpoint import basic

TOKEN = "/oauth/token"
READ_ROUTE = "/api/v1/reference/agencies"
BASE = "http://testserver"


def bound_token(client: TestClient, bkn: IssuedCredentials, key: ClientKey) -> str:
    response = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={**basic("bkn-sapk", bkn.client_secret), "DPoP": key.dpop_proof("POST", BASE + TOKEN)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    token: str = response.json()["access_token"]
    return token


def dpop(token: str, proof: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def assert_refused(response: Any, error: str, scheme: str = "DPoP") -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert f'{scheme} realm="sbt", error="{error}"' in challenge
    assert 'algs="ES256 PS256 RS256"' in challenge


def test_a_bound_token_works_with_a_proof_of_its_key(client: TestClient, bkn: IssuedCredentials) -> None:
    key = ClientKey()
    token = bound_token(client, bkn, key)
    assert jwt.get_unverified_claims(token)["cnf"] == {"jkt": key.thumbprint}
    response = client.get(READ_ROUTE, headers=dpop(token, key.dpop_proof("GET", BASE + READ_ROUTE, access_token=token)))
    assert response.status_code == 200
    again = client.get(READ_ROUTE, headers=dpop(token, key.dpop_proof("GET", BASE + READ_ROUTE, access_token=token)))
    assert again.status_code == 200  # a new proof for each request


def test_an_rsa_proof_key_and_the_token_endpoint_public_url(
    client: TestClient, app: FastAPI, bkn: IssuedCredentials
) -> None:
    key = ClientKey.rsa("PS256")
    public_token_endpoint = app.state.settings.auth_issuer.rstrip("/") + TOKEN  # as the metadata names it
    response = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={**basic("bkn-sapk", bkn.client_secret), "DPoP": key.dpop_proof("POST", public_token_endpoint)},
    )
    token = response.json()["access_token"]
    assert response.json()["token_type"] == "DPoP"
    proof = key.dpop_proof("GET", BASE + READ_ROUTE, access_token=token)
    assert client.get(READ_ROUTE, headers=dpop(token, proof)).status_code == 200


def test_a_replayed_proof_is_refused(client: TestClient, bkn: IssuedCredentials) -> None:
    key = ClientKey()
    token = bound_token(client, bkn, key)
    proof = key.dpop_proof("GET", BASE + READ_ROUTE, access_token=token)
    assert client.get(READ_ROUTE, headers=dpop(token, proof)).status_code == 200
    replayed = client.get(READ_ROUTE, headers=dpop(token, proof))
    assert_refused(replayed, "invalid_dpop_proof")
    assert "already used" in replayed.json()["detail"]


@pytest.mark.parametrize(
    ("method", "url", "why"),
    [
        ("GET", BASE + "/api/v1/cases", "a proof for another URL"),
        ("GET", "http://other.example" + READ_ROUTE, "a proof for another host"),
        ("POST", BASE + READ_ROUTE, "a proof for another method"),
    ],
)
def test_a_proof_for_another_request_is_refused(
    client: TestClient, bkn: IssuedCredentials, method: str, url: str, why: str
) -> None:
    key = ClientKey()
    token = bound_token(client, bkn, key)
    response = client.get(READ_ROUTE, headers=dpop(token, key.dpop_proof(method, url, access_token=token)))
    assert_refused(response, "invalid_dpop_proof")


def test_a_bound_token_sent_as_bearer_is_refused(client: TestClient, bkn: IssuedCredentials) -> None:
    key = ClientKey()
    token = bound_token(client, bkn, key)
    proof = key.dpop_proof("GET", BASE + READ_ROUTE, access_token=token)
    response = client.get(READ_ROUTE, headers={"Authorization": f"Bearer {token}", "DPoP": proof})
    assert_refused(response, "invalid_token", scheme="Bearer")
    assert "DPoP-bound" in response.json()["detail"]


def test_a_dpop_token_without_its_proof_is_refused(client: TestClient, bkn: IssuedCredentials) -> None:
    token = bound_token(client, bkn, ClientKey())
    assert_refused(client.get(READ_ROUTE, headers={"Authorization": f"DPoP {token}"}), "invalid_dpop_proof")


def test_a_proof_for_another_token_is_refused(client: TestClient, bkn: IssuedCredentials) -> None:
    key = ClientKey()
    token, other = bound_token(client, bkn, key), bound_token(client, bkn, key)
    response = client.get(READ_ROUTE, headers=dpop(token, key.dpop_proof("GET", BASE + READ_ROUTE, access_token=other)))
    assert_refused(response, "invalid_dpop_proof")
    assert "ath" in response.json()["detail"]


def test_a_proof_by_another_key_is_refused(client: TestClient, bkn: IssuedCredentials) -> None:
    token = bound_token(client, bkn, ClientKey())
    thief = ClientKey()
    response = client.get(
        READ_ROUTE, headers=dpop(token, thief.dpop_proof("GET", BASE + READ_ROUTE, access_token=token))
    )
    assert_refused(response, "invalid_dpop_proof")
    assert "cnf.jkt" in response.json()["detail"]


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"iat": int(time.time()) - 600}, "an old proof"),
        ({"iat": int(time.time()) + 600}, "a proof from the future"),
        ({"jti": None}, "no jti"),
        ({"typ": "JWT"}, "not typed dpop+jwt"),
    ],
)
def test_stale_or_malformed_proofs_are_refused(
    client: TestClient, bkn: IssuedCredentials, overrides: dict[str, Any], why: str
) -> None:
    key = ClientKey()
    token = bound_token(client, bkn, key)
    proof = key.dpop_proof("GET", BASE + READ_ROUTE, access_token=token, **overrides)
    assert_refused(client.get(READ_ROUTE, headers=dpop(token, proof)), "invalid_dpop_proof")


def test_a_proof_carrying_a_private_key_is_refused(client: TestClient, bkn: IssuedCredentials) -> None:
    key = ClientKey()
    token = bound_token(client, bkn, key)
    proof = key.dpop_proof("GET", BASE + READ_ROUTE, access_token=token, jwk=key.key.as_dict(private=True))
    assert_refused(client.get(READ_ROUTE, headers=dpop(token, proof)), "invalid_dpop_proof")


def test_an_unbound_token_is_not_a_dpop_token(client: TestClient, bkn: IssuedCredentials) -> None:
    response = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic("bkn-sapk", bkn.client_secret)
    )
    assert response.json()["token_type"] == "Bearer"
    token = response.json()["access_token"]
    key = ClientKey()
    refused = client.get(READ_ROUTE, headers=dpop(token, key.dpop_proof("GET", BASE + READ_ROUTE, access_token=token)))
    assert_refused(refused, "invalid_token")


def test_the_token_endpoint_refuses_a_bad_proof(client: TestClient, bkn: IssuedCredentials) -> None:
    key = ClientKey()
    for proof in (key.dpop_proof("POST", BASE + "/elsewhere"), key.dpop_proof("GET", BASE + TOKEN), "not-a-jwt"):
        response = client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers={**basic("bkn-sapk", bkn.client_secret), "DPoP": proof},
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_dpop_proof"
    replayed = key.dpop_proof("POST", BASE + TOKEN)
    headers = {**basic("bkn-sapk", bkn.client_secret), "DPoP": replayed}
    assert client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=headers).status_code == 200
    again = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=headers)
    assert again.json()["error"] == "invalid_dpop_proof"


def test_metadata_lists_the_dpop_algorithms(client: TestClient) -> None:
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "RS256"]


def test_the_replay_cache_forgets_a_key_once_it_expires() -> None:
    now = [1000.0]
    cache = InProcessReplayCache(clock=lambda: now[0])
    assert cache.first_use("dpop:key:jti-1", until=1060)
    assert not cache.first_use("dpop:key:jti-1", until=1060)
    assert cache.first_use("dpop:key:jti-2", until=1010)
    now[0] = 1060
    assert cache.first_use("dpop:key:jti-1", until=1120)  # its proof is too old to pass the iat check by now
    assert not cache.first_use("dpop:key:jti-1", until=1120)
    assert len(cache._until) == 1  # jti-2 was forgotten too: memory follows the window, not the history
