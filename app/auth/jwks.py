"""Verification keys by ``kid``: a JWKS fetched from a URL, a file or the embedded issuer, cached with a TTL.

An unknown ``kid`` causes at most one re-fetch per ``min_refetch_seconds`` (key rotation at the issuer), then the
token is rejected. If a re-fetch fails, the last good key set is kept for ``max_stale_seconds``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk
from jose.backends.base import Key

logger = logging.getLogger("sbt.auth.jwks")

JWKSFetcher = Callable[[], Mapping[str, Any]]
VerificationKey = Key | rsa.RSAPublicKey
"""A python-jose key, or for PS256 (which python-jose does not implement) a ``cryptography`` RSA key."""
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_MODULUS_BYTES = 256  # 2048 bits (RFC 8725 §3.5, FAPI 2.0)
PRIVATE_KEY_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
"""JWK members of private or symmetric keys (RFC 7518 §6): a public key set never carries them."""

_KEY_TYPE_OF_ALGORITHM = {"ES256": ("EC", "P-256"), "PS256": ("RSA", None), "RS256": ("RSA", None)}


class UnknownKey(Exception):
    """No usable verification key for the token's ``kid`` and ``alg``."""


class KeysUnavailable(Exception):
    """The key set could never be fetched, so no token can be verified."""


def url_fetcher(url: str, *, transport: httpx.BaseTransport | None = None, timeout: float = 5.0) -> JWKSFetcher:
    def fetch() -> Mapping[str, Any]:
        with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError("JWKS document too large")
            document: Mapping[str, Any] = response.json()
            return document

    return fetch


def file_fetcher(path: Path) -> JWKSFetcher:
    def fetch() -> Mapping[str, Any]:
        document: Mapping[str, Any] = json.loads(path.read_bytes()[:MAX_JWKS_BYTES])
        return document

    return fetch


def _usable(candidate: Mapping[str, Any]) -> bool:
    """Signature keys of the allowed families only, named by ``kid``."""
    return isinstance(candidate.get("kid"), str) and _strong_signature_key(candidate)


def _strong_signature_key(candidate: Mapping[str, Any]) -> bool:
    """EC P-256 or RSA of 2048+ bits for signatures; symmetric (``oct``) keys are never trusted."""
    if candidate.get("use", "sig") != "sig":
        return False
    if candidate.get("kty") == "RSA":
        modulus = candidate.get("n")
        if not isinstance(modulus, str):
            return False
        try:
            modulus_bytes = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
        except ValueError:
            return False
        return len(modulus_bytes) >= MIN_RSA_MODULUS_BYTES
    return candidate.get("kty") == "EC" and candidate.get("crv") == "P-256"


def _b64_integer(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def _construct(candidate: Mapping[str, Any], algorithm: str) -> VerificationKey:
    if algorithm == "PS256":
        return rsa.RSAPublicNumbers(_b64_integer(candidate["e"]), _b64_integer(candidate["n"])).public_key()
    return jwk.construct(dict(candidate), algorithm)


def _matches(candidate: Mapping[str, Any], algorithm: str) -> bool:
    kty, crv = _KEY_TYPE_OF_ALGORITHM[algorithm]
    if candidate.get("kty") != kty or (crv is not None and candidate.get("crv") != crv):
        return False
    return bool(candidate.get("alg", algorithm) == algorithm)


def public_key_for(candidate: object, algorithm: str) -> VerificationKey | None:
    """The verification key a JWK that the signer supplies itself (a DPoP proof's header, a client's registered
    key set) gives for ``algorithm``, or None unless it is a strong public signature key fitting that algorithm."""
    if not isinstance(candidate, Mapping) or PRIVATE_KEY_MEMBERS & candidate.keys():
        return None
    if algorithm not in _KEY_TYPE_OF_ALGORITHM or not _strong_signature_key(candidate):
        return None
    if not _matches(candidate, algorithm):
        return None
    try:
        return _construct(candidate, algorithm)
    except Exception:  # python-jose and cryptography raise several types for malformed coordinates
        return None


class JWKSCache:
    def __init__(
        self,
        fetch: JWKSFetcher,
        *,
        ttl_seconds: float,
        min_refetch_seconds: float,
        max_stale_seconds: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._min_refetch = min_refetch_seconds
        self._max_stale = max_stale_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._by_kid: dict[str, list[Mapping[str, Any]]] | None = None
        self._constructed: dict[tuple[str, str], VerificationKey] = {}
        self._fetched_at = 0.0
        self._attempted_at: float | None = None

    def key_for(self, kid: str, algorithm: str) -> VerificationKey:
        """The verification key for ``kid`` usable with ``algorithm`` (an allow-listed JWS alg)."""
        with self._lock:
            now = self._clock()
            if self._by_kid is None or now - self._fetched_at >= self._ttl:
                self._refresh(now)
            key = self._select(kid, algorithm)
            if key is None and self._may_refetch(now):
                self._refresh(now)
                key = self._select(kid, algorithm)
            if key is None:
                raise UnknownKey(kid)
            return key

    def _may_refetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_refetch

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        try:
            document = self._fetch()
            keys = document.get("keys")
            if not isinstance(keys, list):
                raise ValueError("JWKS has no 'keys' list")
        except Exception as exc:
            if self._by_kid is not None and now - self._fetched_at < self._max_stale:
                logger.warning("JWKS refresh failed, keeping the previous key set: %s", exc)
                return
            logger.error("JWKS unavailable: %s", exc)
            raise KeysUnavailable(str(exc)) from exc
        by_kid: dict[str, list[Mapping[str, Any]]] = {}
        for candidate in keys:
            if isinstance(candidate, Mapping) and _usable(candidate):
                by_kid.setdefault(candidate["kid"], []).append(candidate)
        if by_kid != self._by_kid:
            self._constructed = {}
            logger.info("JWKS loaded: %s", json.dumps(sorted(by_kid)))
        self._by_kid = by_kid
        self._fetched_at = now

    def _select(self, kid: str, algorithm: str) -> VerificationKey | None:
        cached = self._constructed.get((kid, algorithm))
        if cached is not None:
            return cached
        for candidate in (self._by_kid or {}).get(kid, []):
            if _matches(candidate, algorithm):
                key = _construct(candidate, algorithm)
                self._constructed[(kid, algorithm)] = key
                return key
        return None
