"""The embedded issuer's signing keys: a ring of ES256 (P-256) keys in ``key_dir``, shared by every replica.

The first start creates ``oauth-signing-key.pem``; ``sbt keys rotate --oauth`` (``rotate``) adds a key and writes
the ring's manifest ``oauth-keys.json`` (decision 0035). Each key has three moments, written when it is added or
superseded: it is *published* in the JWKS from the moment it is added, *signs* from ``signs_from`` (the rotation
plus the pre-publication period, so every verifier that caches the JWKS has seen it first) until
``signs_until``, and stays published until ``published_until`` (the last token it signed has expired). Every
replica re-reads the manifest when it changes on disk; the moments are absolute, so the replicas switch together.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk
from jose.backends.base import Key

SIGNING_ALGORITHM = "ES256"
KEY_FILE_NAME = "oauth-signing-key.pem"
RING_FILE_NAME = "oauth-keys.json"
_LOCK_FILE_NAME = ".oauth-keys.lock"


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


def _pem_of(private: ec.EllipticCurvePrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_exclusively(path: Path, pem: bytes) -> None:
    """Create the key file atomically (mode 0600); a concurrent starter that wins the race keeps its key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _signing_key(pem: bytes, path: Path) -> SigningKey:
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


def load_or_create_signing_key(key_dir: Path) -> SigningKey:
    """The first key of the ring (``oauth-signing-key.pem``), created on first start."""
    path = key_dir / KEY_FILE_NAME
    if not path.exists():
        _write_exclusively(path, _pem_of(ec.generate_private_key(ec.SECP256R1())))
    return _signing_key(path.read_bytes(), path)


@dataclass(frozen=True)
class RingEntry:
    """One key of the ring and its moments (None: since ever / until further notice)."""

    file: str
    signs_from: dt.datetime | None = None
    signs_until: dt.datetime | None = None
    published_until: dt.datetime | None = None

    def signs_at(self, moment: dt.datetime) -> bool:
        return (self.signs_from is None or self.signs_from <= moment) and (
            self.signs_until is None or moment < self.signs_until
        )

    def published_at(self, moment: dt.datetime) -> bool:
        return self.published_until is None or moment < self.published_until

    def as_json(self) -> dict[str, str | None]:
        return {
            "file": self.file,
            "signs_from": _text(self.signs_from),
            "signs_until": _text(self.signs_until),
            "published_until": _text(self.published_until),
        }

    @classmethod
    def of(cls, value: dict[str, Any]) -> RingEntry:
        file = value["file"]
        if not isinstance(file, str) or "/" in file or file.startswith("."):
            raise ValueError(f"{RING_FILE_NAME}: {file!r} is not a key file name in the key directory")
        return cls(
            file,
            _moment(value.get("signs_from")),
            _moment(value.get("signs_until")),
            _moment(value.get("published_until")),
        )


def _text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


def _moment(value: object) -> dt.datetime | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"{RING_FILE_NAME}: {value!r} has no time zone")
    return moment


def _read_entries(key_dir: Path) -> list[RingEntry]:
    """The ring's entries; without a manifest, the first key alone (created if missing)."""
    try:
        document = json.loads((key_dir / RING_FILE_NAME).read_bytes())
    except FileNotFoundError:
        load_or_create_signing_key(key_dir)
        return [RingEntry(KEY_FILE_NAME)]
    entries = [RingEntry.of(value) for value in document["keys"]]
    if not entries:
        raise ValueError(f"{key_dir / RING_FILE_NAME} lists no key")
    return entries


def _write_entries(key_dir: Path, entries: list[RingEntry]) -> None:
    """Replace the manifest atomically: a replica reads the old ring or the new one, never half of one."""
    data = json.dumps({"keys": [entry.as_json() for entry in entries]}, indent=2).encode() + b"\n"
    temporary = key_dir / f".{RING_FILE_NAME}.{secrets.token_hex(6)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, key_dir / RING_FILE_NAME)


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class KeyRing:
    """The ring as this process last read it, read again whenever the manifest changed on disk."""

    def __init__(self, key_dir: Path, *, now: Callable[[], float] = time.time) -> None:
        self._dir = key_dir
        self._now = now
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: list[tuple[RingEntry, SigningKey]] = []

    def _current(self) -> list[tuple[RingEntry, SigningKey]]:
        try:
            status = (self._dir / RING_FILE_NAME).stat()
            stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            stamp = (0, 0, 0)
        with self._lock:
            if stamp != self._stamp or not self._entries:
                loaded = {key.kid: key for _, key in self._entries}
                entries = []
                for entry in _read_entries(self._dir):
                    path = self._dir / entry.file
                    key = _signing_key(path.read_bytes(), path)
                    entries.append((entry, loaded.get(key.kid, key)))
                self._entries, self._stamp = entries, stamp
            return self._entries

    def signing_key(self) -> SigningKey:
        """The key that signs now: of those whose signing period holds now, the one that started last."""
        moment = _utc(self._now())
        signing = [(entry, key) for entry, key in self._current() if entry.signs_at(moment)]
        if not signing:
            raise ValueError(f"no key of {self._dir / RING_FILE_NAME} signs at {moment.isoformat()}")
        _, key = max(signing, key=lambda pair: pair[0].signs_from or dt.datetime.min.replace(tzinfo=dt.UTC))
        return key

    def jwks(self) -> dict[str, Any]:
        """Every key published now: the signing one, the next before it signs, retired ones until their tokens
        have expired."""
        moment = _utc(self._now())
        return {"keys": [key.public_jwk for entry, key in self._current() if entry.published_at(moment)]}


@dataclass(frozen=True)
class Rotation:
    new_kid: str
    signs_from: dt.datetime
    retiring: list[tuple[str, dt.datetime]]
    """Each superseded key that still signed or would have: its kid and the moment it leaves the JWKS."""
    dropped: list[str]
    """Key files removed: their last tokens had expired."""


@contextlib.contextmanager
def _ring_lock(key_dir: Path) -> Iterator[None]:
    """One rotation at a time, also across hosts sharing the key directory (an advisory lock on a file in it)."""
    key_dir.mkdir(parents=True, exist_ok=True)
    with (key_dir / _LOCK_FILE_NAME).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def rotate(
    key_dir: Path, *, prepublish_seconds: int, retire_after_seconds: int, now: Callable[[], float] = time.time
) -> Rotation:
    """Add a key that is published now and signs after ``prepublish_seconds``; the keys it supersedes sign until
    then and stay published ``retire_after_seconds`` longer (token lifetime + clock skew). Keys whose last
    tokens have expired leave the ring and their files are deleted."""
    with _ring_lock(key_dir):
        moment = _utc(now())
        switch = moment + dt.timedelta(seconds=prepublish_seconds)
        kept: list[RingEntry] = []
        dropped: list[str] = []
        for entry in _read_entries(key_dir):
            if entry.published_at(moment):
                kept.append(entry)
            else:
                dropped.append(entry.file)
        private = ec.generate_private_key(ec.SECP256R1())
        pem = _pem_of(private)
        new_key = _signing_key(pem, key_dir)
        new_file = f"oauth-signing-key-{new_key.kid}.pem"
        _write_exclusively(key_dir / new_file, pem)
        retiring: list[tuple[str, dt.datetime]] = []
        entries: list[RingEntry] = []
        for entry in kept:
            if entry.signs_until is None or entry.signs_until > switch:
                until = switch + dt.timedelta(seconds=retire_after_seconds)
                entry = replace(entry, signs_until=switch, published_until=until)
                path = key_dir / entry.file
                retiring.append((_signing_key(path.read_bytes(), path).kid, until))
            entries.append(entry)
        entries.append(RingEntry(new_file, signs_from=switch))
        _write_entries(key_dir, entries)
        for file in dropped:
            (key_dir / file).unlink(missing_ok=True)
        return Rotation(new_key.kid, switch, retiring, dropped)
