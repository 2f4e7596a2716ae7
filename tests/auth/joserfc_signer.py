"""DPoP proofs, client assertions and access tokens made with joserfc: another JOSE library than python-jose, which
SBT verifies with, so a shared misreading of the RFCs cannot make a test pass."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

_ALGORITHMS = ["ES256", "PS256", "RS256"]


def _new_ec_key() -> ECKey:
    return ECKey.generate_key("P-256")


@dataclass
class ClientKey:
    """A key pair a client holds: its public half is registered (``private_key_jwt``) or sent in DPoP proofs."""

    key: ECKey | RSAKey = field(default_factory=_new_ec_key)
    algorithm: str = "ES256"
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def rsa(cls, algorithm: str = "PS256") -> ClientKey:
        return cls(key=RSAKey.generate_key(2048), algorithm=algorithm)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": self.algorithm}

    @property
    def thumbprint(self) -> str:
        """RFC 7638, as joserfc computes it."""
        return self.key.thumbprint()

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": self.algorithm, **header}, claims, self.key, algorithms=_ALGORITHMS)

    def dpop_proof(self, method: str, url: str, *, access_token: str | None = None, **overrides: Any) -> str:
        """A fresh proof for ``method`` ``url`` (with ``ath`` when ``access_token`` is given); ``None`` in
        ``overrides`` removes a claim, ``typ``/``jwk`` keys override the header."""
        header = {"typ": overrides.pop("typ", "dpop+jwt"), "jwk": overrides.pop("jwk", self.key.as_dict(private=False))}
        claims: dict[str, Any] = {"htm": method, "htu": url, "iat": int(time.time()), "jti": str(uuid.uuid4())}
        if access_token is not None:
            claims["ath"] = (
                base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
            )
        claims.update(overrides)
        return self.sign(header, {name: value for name, value in claims.items() if value is not None})

    def client_assertion(self, client_id: str, audience: str, **overrides: Any) -> str:
        """RFC 7523 client authentication JWT; ``None`` in ``overrides`` removes a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
            **overrides,
        }
        return self.sign({"kid": self.kid}, {name: value for name, value in claims.items() if value is not None})
