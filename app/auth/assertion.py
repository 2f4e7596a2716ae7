"""``private_key_jwt`` client authentication (RFC 7523 §2.2, RFC 7521 §4.2; OpenID Connect Core §9).

The client signs a short-lived JWT with a key it registered: ``iss`` = ``sub`` = its client id, ``aud`` naming
this token endpoint (or the issuer), ``exp`` at most ``MAX_ASSERTION_LIFETIME_SECONDS`` ahead, a ``jti`` that is
refused a second time while the assertion lives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from jose import jwt
from jose.exceptions import ExpiredSignatureError

from app.auth.jwks import VerificationKey, public_key_for
from app.auth.jws import BadSignature, unverified_parts, verify_signature
from app.auth.replay_cache import ReplayCache

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("ES256", "PS256", "RS256")
MAX_ASSERTION_LIFETIME_SECONDS = 300
MAX_ASSERTION_LENGTH = 8192
MAX_CLIENT_KEYS = 5
_ACCEPTED_TYPES = {None, "jwt", "client-authentication+jwt"}
"""No ``typ``, plain JWT, or the explicit type of draft-ietf-oauth-rfc7523bis."""


class InvalidAssertion(Exception):
    """The client assertion is not acceptable. The message is safe to return to the caller."""


def assertion_issuer(assertion: str) -> str:
    """The client id the assertion claims (``iss``, equal to ``sub``), before any verification."""
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise InvalidAssertion("The client assertion is too long")
    try:
        _, claims = unverified_parts(assertion)
    except ValueError as exc:
        raise InvalidAssertion("The client assertion is not a signed JWT") from exc
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not issuer or issuer != subject:
        raise InvalidAssertion("The client assertion's iss and sub must both be the client_id")
    return issuer


def registered_key_set_problem(key_set: object) -> str | None:
    """Why ``key_set`` cannot be a client's registered JWKS (public ES256/PS256/RS256 keys), or None."""
    keys = key_set.get("keys") if isinstance(key_set, Mapping) else None
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_CLIENT_KEYS:
        return f"jwks must be a JWK set with 1 to {MAX_CLIENT_KEYS} keys"
    kids = [key.get("kid") if isinstance(key, Mapping) else None for key in keys]
    if len(keys) > 1 and (None in kids or len(set(kids)) != len(kids)):
        return "each key of a multi-key jwks needs its own kid"
    for key in keys:
        if not any(public_key_for(key, algorithm) for algorithm in ASSERTION_ALGORITHMS):
            return "each key must be a public EC P-256 or RSA (2048+ bits) signature key, without private members"
    return None


def _key(key_set: Mapping[str, Any], kid: object, algorithm: str) -> VerificationKey:
    keys: list[Mapping[str, Any]] = list(key_set.get("keys", []))
    candidates = [key for key in keys if key.get("kid") == kid] if kid is not None else keys
    for candidate in candidates:
        key = public_key_for(candidate, algorithm)
        if key is not None:
            return key
    raise InvalidAssertion("The client assertion is not signed by a key the client registered")


class ClientAssertionVerifier:
    def __init__(
        self,
        *,
        audiences: set[str],
        replay_cache: ReplayCache,
        clock_skew_seconds: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``audiences``: the token endpoint URL and the issuer; ``aud`` must name one of them."""
        self._audiences = audiences
        self._replays = replay_cache
        self._skew = clock_skew_seconds
        self._now = now

    def verify(self, assertion: str, *, client_id: str, key_set: Mapping[str, Any]) -> None:
        """Raise ``InvalidAssertion`` unless ``assertion`` authenticates ``client_id`` with one of its keys.
        A valid assertion is marked used."""
        try:
            header, _ = unverified_parts(assertion)
        except ValueError as exc:
            raise InvalidAssertion("The client assertion is not a signed JWT") from exc
        algorithm = header.get("alg")
        if algorithm not in ASSERTION_ALGORITHMS:
            raise InvalidAssertion(f"The client assertion's alg must be one of {' '.join(ASSERTION_ALGORITHMS)}")
        token_type = header.get("typ")
        if (token_type.lower() if isinstance(token_type, str) else token_type) not in _ACCEPTED_TYPES:
            raise InvalidAssertion("The client assertion's typ is not a client-authentication JWT")
        if "crit" in header:
            raise InvalidAssertion("The client assertion uses critical header extensions")
        key = _key(key_set, header.get("kid"), str(algorithm))
        try:
            verify_signature(assertion, key, str(algorithm))
        except BadSignature as exc:
            raise InvalidAssertion("The client assertion's signature does not verify") from exc
        claims = self._claims(assertion, str(algorithm), client_id)
        expires = float(claims["exp"])
        if expires - self._now() > MAX_ASSERTION_LIFETIME_SECONDS + self._skew:
            raise InvalidAssertion(f"The client assertion may live at most {MAX_ASSERTION_LIFETIME_SECONDS} s (exp)")
        audience = claims.get("aud")
        named = {audience} if isinstance(audience, str) else set(audience) if isinstance(audience, list) else set()
        if not named & self._audiences:
            raise InvalidAssertion("The client assertion's aud must name this token endpoint or issuer")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise InvalidAssertion("The client assertion needs a jti")
        if not self._replays.first_use(f"client-assertion:{client_id}:{jti}", expires + self._skew):
            raise InvalidAssertion("The client assertion was already used (jti)")

    def _claims(self, assertion: str, algorithm: str, client_id: str) -> Mapping[str, Any]:
        try:
            claims: Mapping[str, Any] = jwt.decode(
                assertion,
                "",  # the signature was checked above, with the key chosen by kid
                algorithms=[algorithm],
                issuer=client_id,
                subject=client_id,
                options={
                    "verify_signature": False,
                    "verify_aud": False,  # one of two values may be named: checked by the caller
                    "require_exp": True,
                    "require_iss": True,
                    "require_sub": True,
                    "require_jti": True,
                    "leeway": self._skew,
                },
            )
        except ExpiredSignatureError as exc:
            raise InvalidAssertion("The client assertion expired") from exc
        except Exception as exc:  # python-jose raises several types, some not JWTError
            raise InvalidAssertion("The client assertion's claims are invalid (iss, sub, exp, nbf, jti)") from exc
        if isinstance(claims.get("exp"), bool) or not isinstance(claims.get("exp"), int | float):
            raise InvalidAssertion("The client assertion's exp must be a number")
        return claims
