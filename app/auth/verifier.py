"""Bearer JWT access-token verification (RFC 9068, RFC 8725) on top of python-jose, with its gaps closed.

python-jose checks ``iss``/``aud``/``exp`` only when told to, ignores ``kid`` and ``typ`` and tries every key of a
JWKS with the token's own ``alg``. Here the algorithm comes from an allow-list, the key is chosen by ``kid`` and
must fit the algorithm, every claim RFC 9068 requires must be present, and the SBT claims are checked for
consistency with the client's role before a ``Principal`` is built.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt
from jose.backends.base import Key
from jose.exceptions import ExpiredSignatureError

from app.auth.dpop import DPoPVerifier, InvalidProof
from app.auth.jwks import JWKSCache, KeysUnavailable, UnknownKey
from app.auth.jws import BadSignature, verify_signature
from app.core.actor import AGENCY_SCOPES, AUDITOR_SCOPES, Agency, Principal, Role, Scope

ALLOWED_ALGORITHMS = frozenset({"ES256", "PS256", "RS256"})
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""n of P-256: an ES256 signature (r, s) and its twin (r, n - s) both verify; only the low-S one is accepted."""
ACCEPTED_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})
"""RFC 9068 ``at+jwt``; plain ``JWT`` too, because Keycloak emits it unless the per-client option is on."""
MAX_TOKEN_LENGTH = 8192
AGENCY_CLAIM = "agency"
ROLE_CLAIM = "role"

GRANTABLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.AGENCY: AGENCY_SCOPES,
    Role.AUDITOR: AUDITOR_SCOPES,
    Role.ADMIN: frozenset({Scope.ADMIN_CLIENTS}),
}
"""The most a client of each role can ever hold, whatever a token says."""


class InvalidToken(Exception):
    """The token is not acceptable. The message is safe to return to the caller."""


class InvalidDPoPProof(InvalidToken):
    """The token may be fine but its DPoP proof is not (RFC 9449 ``invalid_dpop_proof``)."""


@dataclass(frozen=True)
class PresentedProof:
    """A DPoP proof sent with a request (``DPoP`` header), and the request it must name."""

    proof: str
    method: str
    uris: set[str]
    """The request's URL as this service sees it (and its public form): ``htu`` must be one of them."""


class IssuerUnavailable(Exception):
    """The issuer's keys could not be obtained."""


def parse_scopes(raw: object) -> frozenset[Scope]:
    """Space-delimited ``scope`` (RFC 6749 §3.3); runs of whitespace are tolerated, unknown scopes ignored."""
    if not isinstance(raw, str):
        raise InvalidToken("The scope claim must be a string")
    known = {scope.value for scope in Scope}
    return frozenset(Scope(token) for token in raw.split() if token in known)


def _signature_bytes(token: str) -> bytes:
    encoded = token.rpartition(".")[2]
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError as exc:
        raise InvalidToken("The access token is invalid") from exc


def _require_low_s(token: str) -> None:
    """ES256 signatures are malleable; accept only the canonical low-S form (s <= n/2), as the issuer signs."""
    signature = _signature_bytes(token)
    if len(signature) != 64:
        raise InvalidToken("The access token is invalid")
    if int.from_bytes(signature[32:], "big") > P256_ORDER // 2:
        raise InvalidToken("The access token's signature is not in canonical (low-S) form")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"The {name} claim must be a number")
    return float(value)


def _non_empty_string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidToken(f"The {name} claim must be a non-empty string")
    return value


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: JWKSCache,
        clock_skew_seconds: int,
        client_is_active: Callable[[str], bool] | None = None,
        agency_refusal: Callable[[Agency], str | None] | None = None,
        require_low_s: bool = True,
        dpop: DPoPVerifier,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``agency_refusal`` says why an agency may no longer act (it has ceased to exist), or None.

        ``require_low_s`` refuses the malleable high-S twin of an ES256 signature; an operator may turn it off for
        an external issuer whose signer does not normalise (Java-based ones such as Keycloak sign either form).
        """
        self.issuer = issuer
        self.audience = audience
        self._keys = keys
        self._skew = clock_skew_seconds
        self._client_is_active = client_is_active
        self._agency_refusal = agency_refusal
        self._require_low_s = require_low_s
        self._dpop = dpop
        self._now = now

    def verify(self, token: str, proof: PresentedProof | None = None) -> Principal:
        """The principal of a valid token: sent as ``Bearer`` (``proof`` None) if it is not bound to a key, as
        ``DPoP`` with a proof by its key if it is (``cnf.jkt``, RFC 9449 §7)."""
        claims = self._verified_claims(token)
        self._check_binding(token, claims, proof)
        principal = self._principal(claims)
        if self._client_is_active is not None and not self._client_is_active(principal.client_id):
            raise InvalidToken("The client is disabled or unknown")
        if principal.agency is not None and self._agency_refusal is not None:
            refusal = self._agency_refusal(principal.agency)
            if refusal is not None:
                raise InvalidToken(refusal)
        return principal

    def _verified_claims(self, token: str) -> Mapping[str, Any]:
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("The access token is not a signed JWT")
        try:
            header = jwt.get_unverified_header(token)
        except Exception as exc:
            raise InvalidToken("The access token is not a signed JWT") from exc
        algorithm, kid, token_type = header.get("alg"), header.get("kid"), header.get("typ")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise InvalidToken("The token's signing algorithm is not allowed")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("The token names no key (kid)")
        if token_type is not None and (
            not isinstance(token_type, str) or token_type.lower() not in ACCEPTED_TOKEN_TYPES
        ):
            raise InvalidToken("The token is not an access token (typ)")
        if "crit" in header:
            raise InvalidToken("The token uses critical header extensions")
        try:
            key = self._keys.key_for(kid, algorithm)
        except UnknownKey as exc:
            raise InvalidToken("The token was signed with an unknown key") from exc
        except KeysUnavailable as exc:
            raise IssuerUnavailable("The token issuer's keys are unavailable") from exc
        jose_key: Key | str = ""  # python-jose still checks the claims when the signature was checked here
        if isinstance(key, rsa.RSAPublicKey):  # PS256: python-jose cannot check it
            try:
                verify_signature(token, key, algorithm)
            except BadSignature as exc:
                raise InvalidToken("The access token is invalid") from exc
        else:
            if algorithm == "ES256" and self._require_low_s:
                _require_low_s(token)
            jose_key = key
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                jose_key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require_aud": True,
                    "require_iat": True,
                    "require_exp": True,
                    "require_iss": True,
                    "require_sub": True,
                    "require_jti": True,
                    "verify_signature": isinstance(jose_key, Key),
                    "verify_at_hash": False,
                    "leeway": self._skew,
                },
            )
        except ExpiredSignatureError as exc:
            raise InvalidToken("The access token expired") from exc
        except Exception as exc:  # python-jose raises several types, some not JWTError (e.g. TypeError)
            raise InvalidToken("The access token is invalid") from exc
        _numeric_date(claims, "exp")  # python-jose accepts strings such as "1700000000" here
        if "nbf" in claims:
            _numeric_date(claims, "nbf")
        if _numeric_date(claims, "iat") > self._now() + self._skew:
            raise InvalidToken("The access token was issued in the future")
        return claims

    def _check_binding(self, token: str, claims: Mapping[str, Any], proof: PresentedProof | None) -> None:
        confirmation = claims.get("cnf")
        if confirmation is None:
            if proof is not None:
                raise InvalidToken("The access token is not DPoP-bound; send it as Authorization: Bearer")
            return
        bound_to = confirmation.get("jkt") if isinstance(confirmation, Mapping) else None
        if not isinstance(bound_to, str) or set(confirmation) != {"jkt"}:
            raise InvalidToken("The token is bound to a key by a method this service does not support (cnf)")
        if proof is None:
            raise InvalidToken("The access token is DPoP-bound; send it as Authorization: DPoP with a DPoP proof")
        try:
            thumbprint = self._dpop.verify(proof.proof, method=proof.method, uris=proof.uris, access_token=token)
        except InvalidProof as exc:
            raise InvalidDPoPProof(str(exc)) from exc
        if thumbprint != bound_to:
            raise InvalidDPoPProof("The DPoP proof is signed by another key than the token is bound to (cnf.jkt)")

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        subject = _non_empty_string(claims, "sub")
        client_id = _non_empty_string(claims, "client_id")
        authorized_party = _non_empty_string(claims, "azp")
        if client_id is None:
            client_id = authorized_party
        elif authorized_party is not None and authorized_party != client_id:
            raise InvalidToken("The client_id and azp claims disagree")
        if subject is None or client_id is None:
            raise InvalidToken("The token identifies no client (sub, client_id)")
        if "scope" not in claims:
            raise InvalidToken("The token carries no scope claim")
        try:
            role = Role(str(claims.get(ROLE_CLAIM)))
        except ValueError as exc:
            raise InvalidToken("The token's role claim is missing or unknown") from exc
        raw_agency = claims.get(AGENCY_CLAIM)
        if role is Role.AGENCY:
            try:
                agency: Agency | None = Agency(str(raw_agency))
            except ValueError as exc:
                raise InvalidToken("An agency token must name a known agency") from exc
        elif raw_agency is not None:
            raise InvalidToken(f"A {role.value} token must not name an agency")
        else:
            agency = None
        scopes = parse_scopes(claims["scope"]) & GRANTABLE_SCOPES[role]
        return Principal(client_id=client_id, role=role, scopes=scopes, agency=agency)
