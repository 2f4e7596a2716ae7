"""Signature checks of compact JWS (access tokens, DPoP proofs, client assertions) on python-jose, plus PS256.

python-jose implements ES256 and RS256 but not PS256 (RFC 7518 §3.5), which is checked here with ``cryptography``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jose import jws
from jose.exceptions import JOSEError

from app.auth.jwks import VerificationKey


class BadSignature(Exception):
    """The signature does not verify with the key, or the JWS is malformed."""


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_signature(token: str, key: VerificationKey, algorithm: str) -> None:
    """Raise ``BadSignature`` unless ``token`` is signed by ``key`` with ``algorithm`` (chosen by the caller)."""
    if isinstance(key, rsa.RSAPublicKey):
        _verify_pss(token, key)
        return
    try:
        jws.verify(token, key, algorithms=[algorithm])
    except (JOSEError, ValueError, TypeError) as exc:
        raise BadSignature(str(exc)) from exc


def _verify_pss(token: str, key: rsa.RSAPublicKey) -> None:
    """PS256: RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt."""
    signing_input, _, encoded = token.rpartition(".")
    try:
        key.verify(
            b64url_decode(encoded),
            signing_input.encode("ascii"),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("signature does not verify") from exc


def unverified_parts(token: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """Header and claims of a compact JWS, not yet verified; ``ValueError`` unless both are JSON objects."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    try:
        header, claims = (json.loads(b64url_decode(part)) for part in parts[:2])
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError("not a compact JWS") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not a compact JWS")
    return header, claims
