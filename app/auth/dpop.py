"""DPoP proofs (RFC 9449): a JWT the client signs per request with the key its access token is bound to.

The proof names the request (``htm``, ``htu``), is fresh (``iat`` within the window), is used once (``jti``) and,
at a resource server, covers the access token (``ath``). Its key is carried in its own header (``jwk``); the
RFC 7638 thumbprint of that key is what the token's ``cnf.jkt`` must name.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.auth.jwks import public_key_for
from app.auth.jws import BadSignature, unverified_parts, verify_signature
from app.auth.keys import b64url, jwk_thumbprint
from app.auth.replay_cache import ReplayCache

PROOF_TYPE = "dpop+jwt"
PROOF_ALGORITHMS = ("ES256", "PS256", "RS256")
"""Asymmetric only (RFC 9449 §4.2); the same families the access-token verifier accepts."""
MAX_PROOF_LENGTH = 8192
_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidProof(Exception):
    """The DPoP proof is not acceptable (``invalid_dpop_proof``). The message is safe to return to the caller."""


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url SHA-256 of the access token's ASCII (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def normalised_uri(uri: str) -> str:
    """Scheme and host in lower case, default port dropped, no query or fragment (RFC 9449 §4.3, RFC 3986 §6)."""
    parts = urlsplit(uri)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidProof("The DPoP proof's htu is not a URL") from exc
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


class DPoPVerifier:
    def __init__(
        self,
        *,
        replay_cache: ReplayCache,
        max_age_seconds: int,
        clock_skew_seconds: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._replays = replay_cache
        self._max_age = max_age_seconds
        self._skew = clock_skew_seconds
        self._now = now

    def verify(self, proof: str, *, method: str, uris: set[str], access_token: str | None) -> str:
        """The thumbprint of the proof's key, if the proof is valid for this request (``htu`` one of ``uris``)
        and, when ``access_token`` is given, for that token. Marks the proof used."""
        header, claims = self._signed_parts(proof)
        self._check_request(claims, method, uris)
        issued_at = self._check_fresh(claims)
        if access_token is not None and claims.get("ath") != access_token_hash(access_token):
            raise InvalidProof("The DPoP proof's ath does not match the access token")
        if access_token is None and "ath" in claims:
            raise InvalidProof("The DPoP proof has an ath claim but no access token was sent")
        thumbprint = jwk_thumbprint(header["jwk"])
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
            raise InvalidProof("The DPoP proof needs a jti of 8 to 256 characters")
        if not self._replays.first_use(f"dpop:{thumbprint}:{jti}", issued_at + self._max_age + 2 * self._skew):
            raise InvalidProof("The DPoP proof was already used")
        return thumbprint

    def _signed_parts(self, proof: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        if len(proof) > MAX_PROOF_LENGTH:
            raise InvalidProof("The DPoP proof is too long")
        try:
            header, claims = unverified_parts(proof)
        except ValueError as exc:
            raise InvalidProof("The DPoP proof is not a signed JWT") from exc
        if header.get("typ") != PROOF_TYPE:
            raise InvalidProof("The DPoP proof's typ must be dpop+jwt")
        algorithm = header.get("alg")
        if algorithm not in PROOF_ALGORITHMS:
            raise InvalidProof(f"The DPoP proof's alg must be one of {' '.join(PROOF_ALGORITHMS)}")
        if "crit" in header:
            raise InvalidProof("The DPoP proof uses critical header extensions")
        key = public_key_for(header.get("jwk"), str(algorithm))
        if key is None:
            raise InvalidProof("The DPoP proof's jwk is not a public key (EC P-256 or RSA 2048+) for its alg")
        try:
            verify_signature(proof, key, str(algorithm))
        except BadSignature as exc:
            raise InvalidProof("The DPoP proof's signature does not verify with its jwk") from exc
        return header, claims

    @staticmethod
    def _check_request(claims: Mapping[str, Any], method: str, uris: set[str]) -> None:
        if claims.get("htm") != method:
            raise InvalidProof(f"The DPoP proof is for another HTTP method (htm must be {method})")
        target = claims.get("htu")
        if not isinstance(target, str) or normalised_uri(target) not in {normalised_uri(uri) for uri in uris}:
            raise InvalidProof("The DPoP proof is for another URL (htu)")

    def _check_fresh(self, claims: Mapping[str, Any]) -> float:
        issued_at = claims.get("iat")
        if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
            raise InvalidProof("The DPoP proof's iat must be a number")
        now = self._now()
        if issued_at > now + self._skew:
            raise InvalidProof("The DPoP proof was issued in the future (iat)")
        if issued_at < now - self._max_age - self._skew:
            raise InvalidProof(f"The DPoP proof is older than {self._max_age} s (iat)")
        return float(issued_at)
