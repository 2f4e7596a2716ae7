"""Hand-made tokens for attack tests: valid by default, each test breaks one thing."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from fastapi import FastAPI
from jose import jwt

from app.api.dependencies.auth import auth_runtime
from app.auth.issuer import low_s
from app.auth.verifier import P256_ORDER


def claims_for(app: FastAPI, client_id: str, /, **overrides: Any) -> dict[str, Any]:
    """Claims of a valid admin token of the embedded issuer; ``None`` values remove a claim."""
    settings = app.state.settings
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": client_id,
        "client_id": client_id,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "scope": "admin:clients",
        "role": "admin",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(app: FastAPI, claims: dict[str, Any], **headers: Any) -> str:
    """Sign with the embedded issuer's own key (``kid``/``typ`` overridable through ``headers``)."""
    issuer = auth_runtime(app).issuer
    assert issuer is not None
    token: str = jwt.encode(
        claims,
        issuer.key.private_key,
        algorithm="ES256",
        headers={"kid": issuer.key.kid, "typ": "at+jwt", **headers},
    )
    return low_s(token)


def high_s(token: str) -> str:
    """The malleable twin of a valid low-S ES256 token: same r, s replaced by n - s (still verifies mathematically)."""
    signing_input, _, encoded = token.rpartition(".")
    signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    s = int.from_bytes(signature[32:], "big")
    assert s <= P256_ORDER // 2, "start from a low-S token"
    return f"{signing_input}.{b64url(signature[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS put together by hand (for ``alg: none`` and tampering)."""
    parts = [json.dumps(header).encode(), json.dumps(claims).encode()]
    return ".".join([*(b64url(part) for part in parts), b64url(signature)])


BARE_CHALLENGE = 'Bearer realm="sbt", DPoP realm="sbt", algs="ES256 PS256 RS256"'
"""What a request without credentials is answered: both schemes, no error."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
