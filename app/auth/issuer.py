"""The embedded issuer: mints RFC 9068 access tokens for registered clients (client-credentials grant)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jose import jwt

from app.auth.keys import KeyRing, SigningKey
from app.auth.verifier import AGENCY_CLAIM, P256_ORDER, ROLE_CLAIM
from app.core.actor import Agency, Role, Scope

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 media type, not a secret


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: frozenset[Scope]
    bound_to: str | None
    """RFC 7638 thumbprint of the client's DPoP key the token is bound to (``cnf.jkt``), or None (Bearer)."""


def low_s(token: str) -> str:
    """The ES256 token with its signature in low-S form (s <= n/2): cryptography signs with either half."""
    signing_input, _, encoded = token.rpartition(".")
    signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    if s <= P256_ORDER // 2:
        return token
    canonical = r + (P256_ORDER - s).to_bytes(32, "big")
    return f"{signing_input}.{base64.urlsafe_b64encode(canonical).rstrip(b'=').decode('ascii')}"


class TokenIssuer:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: KeyRing,
        lifetime_seconds: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.lifetime_seconds = lifetime_seconds
        self._now = now

    @property
    def key(self) -> SigningKey:
        """The ring's key that signs now."""
        return self.keys.signing_key()

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.key
        token: str = jwt.encode(
            claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
        )
        return low_s(token) if key.algorithm == "ES256" else token

    def mint(
        self,
        *,
        client_id: str,
        role: Role,
        agency: Agency | None,
        scopes: Iterable[Scope],
        dpop_thumbprint: str | None = None,
    ) -> IssuedToken:
        granted = frozenset(scopes)
        issued_at = int(self._now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": client_id,
            "client_id": client_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self.lifetime_seconds,
            "jti": str(uuid.uuid4()),
            "scope": " ".join(sorted(granted)),
            ROLE_CLAIM: role.value,
        }
        if agency is not None:
            claims[AGENCY_CLAIM] = agency.value
        if dpop_thumbprint is not None:
            claims["cnf"] = {"jkt": dpop_thumbprint}
        return IssuedToken(
            access_token=self.sign(claims),
            expires_in=self.lifetime_seconds,
            scopes=granted,
            bound_to=dpop_thumbprint,
        )
