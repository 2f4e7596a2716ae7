"""The embedded issuer's signing key: ES256 (P-256), generated on first start and kept in ``key_dir``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk
from jose.backends.base import Key

SIGNING_ALGORITHM = "ES256"
KEY_FILE_NAME = "oauth-signing-key.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(public_jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of an EC or RSA public JWK (used as ``kid``)."""
    members = ("crv", "kty", "x", "y") if public_jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: public_jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Key = field(repr=False)
    public_jwk: dict[str, str]
    algorithm: str = SIGNING_ALGORITHM

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}


def _write_new_key(path: Path) -> None:
    """Create the key file atomically (mode 0600); a concurrent starter that wins the race keeps its key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_or_create_signing_key(key_dir: Path) -> SigningKey:
    path = key_dir / KEY_FILE_NAME
    if not path.exists():
        _write_new_key(path)
    pem = path.read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
        raise ValueError(f"{path} is not a P-256 private key; remove it to generate a new one")
    numbers = private.public_key().public_numbers()
    public = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }
    kid = jwk_thumbprint(public)
    return SigningKey(
        kid=kid,
        private_key=jwk.construct(pem.decode("ascii"), SIGNING_ALGORITHM),
        public_jwk={**public, "kid": kid, "use": "sig", "alg": SIGNING_ALGORITHM},
    )
