"""The same verification against an external issuer (a locally generated Keycloak stand-in), JWKS over HTTP."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jose import jwk, jwt
from joserfc.jwk import RSAKey

from app.auth.issuer import low_s
from app.auth.jwks import JWKSCache, KeysUnavailable, UnknownKey, url_fetcher
from app.auth.runtime import build_runtime
from app.core.config import Settings
from app.main import create_app
from tests.auth.forge import b64url, bearer
from tests.auth.joserfc_signer import ClientKey

pytestmark = pytest.mark.real_commits  # each test's app is a second app with its own engine

REALM = "https://keycloak.test/realms/sbt"
CERTS = f"{REALM}/protocol/openid-connect/certs"
READ_ROUTE = "/api/v1/reference/agencies"
ADMIN_ROUTE = "/api/v1/clients"


@dataclass
class RealmKey:
    kid: str
    algorithm: str
    private_pem: str
    public_jwk: dict[str, Any]


def rsa_key(algorithm: str = "RS256", bits: int = 2048) -> RealmKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _realm_key(private, algorithm)


def ec_key() -> RealmKey:
    return _realm_key(ec.generate_private_key(ec.SECP256R1()), "ES256")


def _realm_key(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, algorithm: str) -> RealmKey:
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = uuid.uuid4().hex
    family = "ES256" if algorithm == "ES256" else "RS256"  # python-jose knows no PS256; the JWK is the same
    public = {**jwk.construct(public_pem, family).to_dict(), "kid": kid, "use": "sig", "alg": algorithm}
    return RealmKey(kid=kid, algorithm=algorithm, private_pem=pem, public_jwk=public)


def pss_sign(claims: dict[str, Any], private_pem: str, header: dict[str, Any]) -> str:
    """PS256 by hand: python-jose cannot sign it either."""
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = private.sign(
        signing_input.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )
    return f"{signing_input}.{b64url(signature)}"


@dataclass
class FakeKeycloak:
    """Serves the realm's JWKS and mints tokens shaped like Keycloak 26 service-account tokens."""

    keys: list[RealmKey]
    fetches: int = 0
    down: bool = False
    extra_jwks: list[dict[str, Any]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == CERTS
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": [k.public_jwk for k in self.keys] + self.extra_jwks})

    def token(self, key: RealmKey, *, agency: str | None = "BKN", role: str = "agency", **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "exp": now + 300,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": REALM,
            "aud": ["sbt-api", "account"],
            "sub": str(uuid.uuid4()),  # the service-account user, not the client
            "typ": "Bearer",
            "azp": "bkn-sapk",
            "client_id": "bkn-sapk",
            "scope": "profile email cases:read",
            "realm_access": {"roles": ["default-roles-sbt"]},
            "role": role,
            "agency": agency,
            **overrides,
        }
        claims = {name: value for name, value in claims.items() if value is not None}
        if key.algorithm == "PS256":
            return pss_sign(claims, key.private_pem, {"alg": "PS256", "typ": "JWT", "kid": key.kid})
        token = str(jwt.encode(claims, key.private_pem, algorithm=key.algorithm, headers={"kid": key.kid}))
        return low_s(token) if key.algorithm == "ES256" else token  # SBT accepts only low-S ES256 signatures


@pytest.fixture
def keycloak() -> FakeKeycloak:
    return FakeKeycloak(keys=[rsa_key()])


@pytest.fixture
def external_app(settings: Settings, keycloak: FakeKeycloak) -> Iterator[FastAPI]:
    external = settings.model_copy(
        update={"auth_issuer": REALM, "auth_jwks_url": CERTS, "auth_jwks_min_refetch_seconds": 0}
    )
    application = create_app(external)
    application.state.auth = build_runtime(
        external,
        application.state.sessionmaker,
        application.state.shared_state,
        jwks_fetcher=url_fetcher(CERTS, transport=httpx.MockTransport(keycloak.handler)),
    )
    yield application
    application.state.engine.dispose()


@pytest.fixture
def api(external_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(external_app) as test_client:
        yield test_client


def test_keycloak_rs256_token_is_accepted_and_scoped(api: TestClient, keycloak: FakeKeycloak) -> None:
    token = keycloak.token(keycloak.keys[0])
    assert api.get(READ_ROUTE, headers=bearer(token)).status_code == 200
    assert api.get(ADMIN_ROUTE, headers=bearer(token)).status_code == 403


def test_ps256_is_accepted(api: TestClient, keycloak: FakeKeycloak) -> None:
    keycloak.keys = [rsa_key("PS256")]
    assert api.get(READ_ROUTE, headers=bearer(keycloak.token(keycloak.keys[0]))).status_code == 200


def test_embedded_issuer_endpoints_are_off(api: TestClient) -> None:
    assert api.get("/.well-known/jwks.json").status_code == 404
    assert api.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code == 404


def test_kid_rotation_new_key_is_fetched_old_removed_key_is_rejected(api: TestClient, keycloak: FakeKeycloak) -> None:
    old = keycloak.keys[0]
    assert api.get(READ_ROUTE, headers=bearer(keycloak.token(old))).status_code == 200
    assert keycloak.fetches == 1
    new = rsa_key()
    keycloak.keys = [old, new]  # Keycloak publishes the new active key next to the passive old one
    assert api.get(READ_ROUTE, headers=bearer(keycloak.token(new))).status_code == 200
    assert keycloak.fetches == 2  # unknown kid → one re-fetch
    assert api.get(READ_ROUTE, headers=bearer(keycloak.token(old))).status_code == 200
    assert keycloak.fetches == 2  # both now cached
    keycloak.keys = [new]  # the old key is deleted from the realm
    response = api.get(READ_ROUTE, headers=bearer(keycloak.token(old, kid_hint="ignored")))
    assert response.status_code == 200  # still cached until the TTL runs out...
    external_cache_expires(api)
    response = api.get(READ_ROUTE, headers=bearer(keycloak.token(old)))
    assert response.status_code == 401  # ...then tokens signed with the removed key fail
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def external_cache_expires(api: TestClient) -> None:
    runtime = api.app.state.auth  # type: ignore[attr-defined]
    runtime.verifier._keys._fetched_at -= 10_000


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"aud": "account"}, "Keycloak without the Audience mapper"),
        ({"aud": None}, "no audience at all"),
        ({"iss": "https://keycloak.test/realms/other"}, "another realm"),
        ({"client_id": None, "azp": None}, "no client identity"),
        ({"agency": None}, "agency role without agency"),
    ],
)
def test_misconfigured_keycloak_tokens_are_rejected(
    api: TestClient, keycloak: FakeKeycloak, overrides: dict[str, Any], why: str
) -> None:
    response = api.get(READ_ROUTE, headers=bearer(keycloak.token(keycloak.keys[0], **overrides)))
    assert response.status_code == 401, why


def test_keycloak_id_token_is_not_an_access_token(api: TestClient, keycloak: FakeKeycloak) -> None:
    key = keycloak.keys[0]
    claims = jwt.get_unverified_claims(keycloak.token(key))
    id_token = jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid, "typ": "ID"})
    assert api.get(READ_ROUTE, headers=bearer(id_token)).status_code == 401


def test_azp_alone_identifies_the_client(api: TestClient, keycloak: FakeKeycloak) -> None:
    token = keycloak.token(keycloak.keys[0], client_id=None)
    assert api.get(READ_ROUTE, headers=bearer(token)).status_code == 200


def test_mixed_key_types_select_by_kid(api: TestClient, keycloak: FakeKeycloak) -> None:
    """python-jose alone fails valid ES256 tokens when an RSA key comes first in the JWKS."""
    es = ec_key()
    keycloak.keys = [rsa_key(), es]
    assert api.get(READ_ROUTE, headers=bearer(keycloak.token(es))).status_code == 200


def test_alg_that_does_not_fit_the_key_is_rejected(api: TestClient, keycloak: FakeKeycloak) -> None:
    key = keycloak.keys[0]  # published with alg RS256: a PS256 signature by the same RSA key must not pass
    claims = jwt.get_unverified_claims(keycloak.token(key))
    token = pss_sign(claims, key.private_pem, {"alg": "PS256", "kid": key.kid})
    assert api.get(READ_ROUTE, headers=bearer(token)).status_code == 401


def test_ps256_with_a_bad_signature_is_rejected(api: TestClient, keycloak: FakeKeycloak) -> None:
    keycloak.keys = [rsa_key("PS256")]
    token = keycloak.token(keycloak.keys[0])
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    assert api.get(READ_ROUTE, headers=bearer(forged)).status_code == 401


def test_symmetric_and_weak_keys_in_the_jwks_are_never_used(api: TestClient, keycloak: FakeKeycloak) -> None:
    weak = rsa_key(bits=1024)
    keycloak.extra_jwks = [{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"}, weak.public_jwk]
    claims = jwt.get_unverified_claims(keycloak.token(keycloak.keys[0]))
    hs = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": "hmac"})
    assert api.get(READ_ROUTE, headers=bearer(hs)).status_code == 401
    assert api.get(READ_ROUTE, headers=bearer(keycloak.token(weak))).status_code == 401


def test_issuer_down_at_first_use_is_503(api: TestClient, keycloak: FakeKeycloak) -> None:
    keycloak.down = True
    response = api.get(READ_ROUTE, headers=bearer(keycloak.token(keycloak.keys[0])))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


def test_issuer_down_later_keeps_the_last_good_keys(api: TestClient, keycloak: FakeKeycloak) -> None:
    token = keycloak.token(keycloak.keys[0])
    assert api.get(READ_ROUTE, headers=bearer(token)).status_code == 200
    keycloak.down = True
    external_cache_expires(api)
    assert api.get(READ_ROUTE, headers=bearer(token)).status_code == 200


def test_jwks_from_a_file(settings: Settings, tmp_path: Path, keycloak: FakeKeycloak) -> None:
    jwks_file = tmp_path / "realm-certs.json"
    jwks_file.write_text(json.dumps({"keys": [keycloak.keys[0].public_jwk]}))
    application = create_app(settings.model_copy(update={"auth_issuer": REALM, "auth_jwks_file": jwks_file}))
    with TestClient(application) as api:
        assert api.get(READ_ROUTE, headers=bearer(keycloak.token(keycloak.keys[0]))).status_code == 200
    application.state.engine.dispose()


class TestJWKSCache:
    """Refresh policy, with a controllable clock."""

    def setup_method(self) -> None:
        self.now = 0.0
        self.key = ec_key()
        self.served: list[dict[str, Any]] = [self.key.public_jwk]
        self.fetches = 0

    def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": list(self.served)}

    def cache(self) -> JWKSCache:
        return JWKSCache(self.fetch, ttl_seconds=300, min_refetch_seconds=30, clock=lambda: self.now)

    def test_keys_are_cached_for_the_ttl(self) -> None:
        cache = self.cache()
        cache.key_for(self.key.kid, "ES256")
        self.now = 299
        cache.key_for(self.key.kid, "ES256")
        assert self.fetches == 1
        self.now = 300
        cache.key_for(self.key.kid, "ES256")
        assert self.fetches == 2

    def test_unknown_kids_refetch_at_most_once_per_interval(self) -> None:
        cache = self.cache()
        cache.key_for(self.key.kid, "ES256")
        for _ in range(5):
            with pytest.raises(UnknownKey):
                cache.key_for("sprayed-kid", "ES256")
        assert self.fetches == 1  # the initial fetch was less than 30 s ago
        self.now = 31
        with pytest.raises(UnknownKey):
            cache.key_for("sprayed-kid", "ES256")
        assert self.fetches == 2

    def test_wrong_algorithm_for_the_key_is_unknown(self) -> None:
        with pytest.raises(UnknownKey):
            self.cache().key_for(self.key.kid, "RS256")

    def test_no_keys_ever_is_unavailable(self) -> None:
        def broken() -> dict[str, Any]:
            raise httpx.ConnectError("refused")

        with pytest.raises(KeysUnavailable):
            JWKSCache(broken, ttl_seconds=300, min_refetch_seconds=0).key_for("any", "ES256")


def keycloak_dpop_token(keycloak: FakeKeycloak, bound_to: ClientKey) -> str:
    """A DPoP-bound Keycloak token (claim ``typ`` DPoP, ``cnf.jkt``), signed with joserfc by the realm key."""
    key = keycloak.keys[0]
    claims = jwt.get_unverified_claims(keycloak.token(key, typ="DPoP", cnf={"jkt": bound_to.thumbprint}))
    realm_key = ClientKey(key=RSAKey.import_key(key.private_pem), algorithm="RS256", kid=key.kid)
    return realm_key.sign({"typ": "JWT", "kid": key.kid}, claims)


def test_keycloak_dpop_bound_token_is_accepted_with_its_proof(api: TestClient, keycloak: FakeKeycloak) -> None:
    client_key = ClientKey()
    token = keycloak_dpop_token(keycloak, client_key)
    proof = client_key.dpop_proof("GET", "http://testserver" + READ_ROUTE, access_token=token)
    assert api.get(READ_ROUTE, headers={"Authorization": f"DPoP {token}", "DPoP": proof}).status_code == 200
    replayed = api.get(READ_ROUTE, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert replayed.status_code == 401
    assert 'DPoP realm="sbt", error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]
    assert api.get(READ_ROUTE, headers=bearer(token)).status_code == 401  # bound: never as a bearer token
