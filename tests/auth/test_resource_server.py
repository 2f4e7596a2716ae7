"""Bearer-token verification as a caller sees it: the RFC 8725 attack set, each answered 401 problem+json."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jose import jwt

from app.api.dependencies.auth import auth_runtime
from app.auth.runtime import build_runtime
from app.auth.verifier import P256_ORDER
from app.core.actor import Role
from tests.auth.forge import BARE_CHALLENGE, b64url, bearer, claims_for, high_s, sign, unsigned
from tests.auth_helpers import AuthHeaders, register_test_client

ADMIN_ROUTE = "/api/v1/clients"
READ_ROUTE = "/api/v1/reference/agencies"


@pytest.fixture
def admin_id(app: FastAPI) -> str:
    return register_test_client(app, "admin")


def assert_invalid_token(response_status: int, headers: dict[str, str], body: dict[str, object]) -> None:
    assert response_status == 401
    assert headers["content-type"] == "application/problem+json"
    assert headers["www-authenticate"].startswith('Bearer realm="sbt", error="invalid_token"')
    assert body["status"] == 401


def call(client: TestClient, token: str, route: str = ADMIN_ROUTE) -> tuple[int, dict[str, str], dict[str, object]]:
    response = client.get(route, headers=bearer(token))
    return response.status_code, dict(response.headers), response.json()


def test_a_valid_token_is_accepted(client: TestClient, app: FastAPI, admin_id: str) -> None:
    status, _, body = call(client, sign(app, claims_for(app, admin_id)))
    assert status == 200
    assert any(row["client_id"] == admin_id for row in body)  # type: ignore[index]


def test_no_token_is_401_with_a_bare_challenge(client: TestClient) -> None:
    response = client.get(ADMIN_ROUTE)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == BARE_CHALLENGE
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("header", ["Basic YWRtaW46c2VjcmV0", "Bearer", "Bearer a b", "bearer"])
def test_malformed_authorization_header_is_401(client: TestClient, header: str) -> None:
    response = client.get(ADMIN_ROUTE, headers={"Authorization": header})
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_alg_none_is_rejected(client: TestClient, app: FastAPI, admin_id: str) -> None:
    issuer = auth_runtime(app).issuer
    assert issuer is not None
    token = unsigned({"alg": "none", "typ": "at+jwt", "kid": issuer.key.kid}, claims_for(app, admin_id))
    assert_invalid_token(*call(client, token))


def test_hs256_signed_with_the_public_key_is_rejected(client: TestClient, app: FastAPI, admin_id: str) -> None:
    issuer = auth_runtime(app).issuer
    assert issuer is not None
    public_pem = issuer.key.private_key.public_key().to_pem().decode()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": issuer.key.kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims_for(app, admin_id)).encode())}"
    import hashlib
    import hmac

    signature = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert_invalid_token(*call(client, f"{signing_input}.{b64url(signature)}"))


NOW = int(time.time())
BAD_CLAIMS: dict[str, dict[str, object]] = {
    "wrong issuer": {"iss": "https://evil.example"},
    "wrong audience": {"aud": "another-api"},
    "missing audience": {"aud": None},
    "missing issuer": {"iss": None},
    "missing expiry": {"exp": None},
    "missing issued-at": {"iat": None},
    "missing jti": {"jti": None},
    "missing subject": {"sub": None},
    "missing client id": {"client_id": None},
    "missing scope": {"scope": None},
    "scope not a string": {"scope": ["admin:clients"]},
    "iat not a number": {"iat": "yesterday"},
    "exp a numeric string": {"exp": str(NOW + 300)},
    "nbf a numeric string": {"nbf": str(NOW - 10)},
    "iat a numeric string": {"iat": str(NOW)},
    "expired beyond the clock skew": {"exp": NOW - 120, "iat": NOW - 600},
    # a day ahead: NOW is taken at import, and a long session reaches NOW + 300 before these run
    "not yet valid": {"nbf": NOW + 86_400},
    "issued in the future": {"iat": NOW + 86_400, "exp": NOW + 90_000},
    "unknown role": {"role": "superuser"},
    "no role": {"role": None},
    "admin token naming an agency": {"agency": "BKN"},
    "azp differs from client_id": {"azp": "someone-else"},
    "sender-constrained token": {"cnf": {"jkt": "abc"}},
}


@pytest.mark.parametrize("overrides", BAD_CLAIMS.values(), ids=BAD_CLAIMS.keys())
def test_bad_claims_are_rejected(client: TestClient, app: FastAPI, admin_id: str, overrides: dict[str, object]) -> None:
    assert_invalid_token(*call(client, sign(app, claims_for(app, admin_id, **overrides))))


def test_expiry_within_the_clock_skew_is_tolerated(client: TestClient, app: FastAPI, admin_id: str) -> None:
    now = int(time.time())
    status, _, _ = call(client, sign(app, claims_for(app, admin_id, iat=now - 600, exp=now - 5)))
    assert status == 200


@pytest.mark.parametrize(("agency", "role"), [(None, "agency"), ("MARS", "agency"), ("bkn", "agency")])
def test_agency_token_must_name_a_known_agency(client: TestClient, app: FastAPI, agency: str | None, role: str) -> None:
    client_id = register_test_client(app, "BKN")
    token = sign(app, claims_for(app, client_id, role=role, agency=agency, scope="cases:read"))
    assert_invalid_token(*call(client, token, READ_ROUTE))


def test_the_high_s_twin_of_a_valid_signature_is_rejected(client: TestClient, app: FastAPI, admin_id: str) -> None:
    token = sign(app, claims_for(app, admin_id))
    assert call(client, token)[0] == 200
    twin = high_s(token)
    issuer = auth_runtime(app).issuer
    assert issuer is not None
    public = issuer.key.jwks()["keys"][0]
    jwt.decode(twin, public, algorithms=["ES256"], options={"verify_aud": False})  # mathematically valid
    assert_invalid_token(*call(client, twin))


def test_an_operator_may_accept_high_s_from_an_issuer_that_signs_either_form(
    client: TestClient, app: FastAPI, admin_id: str
) -> None:
    twin = high_s(sign(app, claims_for(app, admin_id)))
    assert_invalid_token(*call(client, twin))
    app.state.settings = app.state.settings.model_copy(update={"auth_require_low_s": False})
    app.state.auth = build_runtime(
        app.state.settings, app.state.sessionmaker, app.state.shared_state
    )  # as SBT_AUTH_REQUIRE_LOW_S=false
    assert call(client, twin)[0] == 200


def test_the_embedded_issuer_signs_low_s(app: FastAPI) -> None:
    issuer = auth_runtime(app).issuer
    assert issuer is not None
    for _ in range(40):  # cryptography picks either half at random: 40 draws would all be low-S by chance 1 in 10^12
        token = issuer.mint(client_id="c", role=Role.ADMIN, agency=None, scopes=[]).access_token
        signature = base64.urlsafe_b64decode(token.rpartition(".")[2] + "==")
        assert int.from_bytes(signature[32:], "big") <= P256_ORDER // 2


def test_unknown_kid_is_rejected(client: TestClient, app: FastAPI, admin_id: str) -> None:
    assert_invalid_token(*call(client, sign(app, claims_for(app, admin_id), kid="no-such-key")))


def test_token_without_kid_is_rejected(client: TestClient, app: FastAPI, admin_id: str) -> None:
    assert_invalid_token(*call(client, sign(app, claims_for(app, admin_id), kid=None)))


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "application/at+jwt"])
def test_access_token_types_are_accepted(client: TestClient, app: FastAPI, admin_id: str, typ: str) -> None:
    assert call(client, sign(app, claims_for(app, admin_id), typ=typ))[0] == 200


@pytest.mark.parametrize("typ", ["ID", "dpop+jwt", "logout+jwt"])
def test_other_token_types_are_rejected(client: TestClient, app: FastAPI, admin_id: str, typ: str) -> None:
    assert_invalid_token(*call(client, sign(app, claims_for(app, admin_id), typ=typ)))


def test_token_signed_by_a_foreign_key_with_our_kid_is_rejected(
    client: TestClient, app: FastAPI, admin_id: str
) -> None:
    issuer = auth_runtime(app).issuer
    assert issuer is not None
    foreign = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    token = jwt.encode(claims_for(app, admin_id), foreign.decode(), algorithm="ES256", headers={"kid": issuer.key.kid})
    assert_invalid_token(*call(client, token))


def test_tampered_payload_is_rejected(client: TestClient, app: FastAPI) -> None:
    client_id = register_test_client(app, "BKN")
    token = sign(app, claims_for(app, client_id, role="agency", agency="BKN", scope="cases:read"))
    header, _, signature = token.split(".")
    elevated = claims_for(app, client_id, role="admin", scope="admin:clients")
    forged = f"{header}.{b64url(json.dumps(elevated).encode())}.{signature}"
    assert_invalid_token(*call(client, forged))


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "a.b.c.d.e", "e30.e30.", "x" * 9000])
def test_garbage_tokens_are_401_not_500(client: TestClient, garbage: str) -> None:
    response = client.get(ADMIN_ROUTE, headers=bearer(garbage))
    assert response.status_code == 401


def test_token_in_the_query_string_is_ignored(client: TestClient, app: FastAPI, admin_id: str) -> None:
    token = sign(app, claims_for(app, admin_id))
    response = client.get(ADMIN_ROUTE, params={"access_token": token})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == BARE_CHALLENGE


def test_scope_with_extra_whitespace_is_parsed_token_by_token(client: TestClient, app: FastAPI) -> None:
    client_id = register_test_client(app, "BKN")
    token = sign(app, claims_for(app, client_id, role="agency", agency="BKN", scope="  ledger:read \t cases:read  "))
    assert call(client, token, READ_ROUTE)[0] == 200


def test_run_together_scopes_grant_nothing(client: TestClient, app: FastAPI) -> None:
    client_id = register_test_client(app, "BKN")
    token = sign(app, claims_for(app, client_id, role="agency", agency="BKN", scope="cases:readcases:write"))
    response = client.get(READ_ROUTE, headers=bearer(token))
    assert response.status_code == 403


def test_unknown_scopes_are_ignored_not_errors(client: TestClient, app: FastAPI) -> None:
    client_id = register_test_client(app, "BKN")
    token = sign(app, claims_for(app, client_id, role="agency", agency="BKN", scope="cases:read root:* x"))
    assert call(client, token, READ_ROUTE)[0] == 200


def test_a_role_never_gains_scopes_beyond_its_grantable_set(client: TestClient, app: FastAPI) -> None:
    client_id = register_test_client(app, "BKN")
    token = sign(app, claims_for(app, client_id, role="agency", agency="BKN", scope="cases:read admin:clients"))
    response = client.get(ADMIN_ROUTE, headers=bearer(token))
    assert response.status_code == 403


def test_missing_scope_is_403_insufficient_scope(client: TestClient, auth_headers: AuthHeaders) -> None:
    from app.core.actor import Scope

    response = client.get(READ_ROUTE, headers=auth_headers("BKN", scopes=[Scope.LEDGER_READ]))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == (
        'Bearer realm="sbt", error="insufficient_scope", scope="cases:read", DPoP realm="sbt", algs="ES256 PS256 RS256"'
    )
    assert response.json()["error"] == "insufficient_scope"


def test_token_of_an_unregistered_client_is_rejected(client: TestClient, app: FastAPI) -> None:
    assert_invalid_token(*call(client, sign(app, claims_for(app, "never-registered"))))
