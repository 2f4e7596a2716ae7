"""C2SP signed notes (signed-note.md) carrying C2SP checkpoints (tlog-checkpoint.md), Ed25519 only.

Pure module (stdlib + ``cryptography``) shared by the service and the offline verifier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.ledger.merkle import HASH_SIZE

ED25519_TYPE = 0x01
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, then a space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or checkpoint is malformed or its signature does not verify."""


def valid_key_name(name: str) -> bool:
    return bool(name) and all(ch.isprintable() and not ch.isspace() and ch != "+" for ch in name)


def key_id(name: str, public_key: bytes, key_type: int = ED25519_TYPE) -> bytes:
    """First four bytes of SHA-256(name || 0x0A || type || public key)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteSigner:
    name: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        return _raw_public(self.private_key.public_key())

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key_id, self.public_key)

    def private_key_text(self) -> str:
        """Go ``golang.org/x/mod/sumdb/note`` encoding: PRIVATE+KEY+<name>+<hex id>+<base64(type||seed)>."""
        seed = self.private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ED25519_TYPE]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_private_key_text(cls, text: str) -> NoteSigner:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not valid_key_name(parts[2]):
            raise NoteError("malformed private key")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error as exc:
            raise NoteError("malformed private key encoding") from exc
        if len(raw) != 33 or raw[0] != ED25519_TYPE:
            raise NoteError("not an Ed25519 private key")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != parts[3]:
            raise NoteError("private key ID does not match the key")
        return signer

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        if not valid_key_name(name):
            raise NoteError(f"invalid key name {name!r}")
        return cls(name, Ed25519PrivateKey.generate())

    def sign(self, text: str) -> str:
        """Return the signed note: ``text`` (must end in a newline), a blank line, one signature line."""
        _check_text(text)
        return f"{text}\n{signature_line(self.name, self.key_id + self.private_key.sign(text.encode()))}"


@dataclass(frozen=True)
class NoteVerifier:
    name: str
    key_id: bytes
    public_key: bytes

    def text(self) -> str:
        """Verifier key: <name>+<hex key ID>+<base64(type || public key)>."""
        encoded = base64.b64encode(bytes([ED25519_TYPE]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not valid_key_name(parts[0]) or len(parts[1]) != 8:
            raise NoteError("malformed verifier key")
        try:
            declared_id = bytes.fromhex(parts[1])
            raw = base64.b64decode(parts[2], validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("malformed verifier key encoding") from exc
        if len(raw) != 33 or raw[0] != ED25519_TYPE:
            raise NoteError("not an Ed25519 verifier key")
        if key_id(parts[0], raw[1:]) != declared_id:
            raise NoteError("verifier key ID does not match the key")
        return cls(parts[0], declared_id, raw[1:])

    def verify(self, text: str, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text.encode())
        except InvalidSignature:
            return False
        return True


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any((ord(ch) < 0x20 and ch != "\n") or ord(ch) == 0x7F for ch in text):
        raise NoteError("note text contains control characters")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key name and the decoded bytes (key ID, then the signature of its type)."""

    name: str
    raw: bytes

    @property
    def key_id(self) -> bytes:
        return self.raw[:4]

    @property
    def signature(self) -> bytes:
        return self.raw[4:]


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """A note's text (with its final newline) and its signature lines, parsed but not verified."""
    text, sep, signature_block = note.rpartition("\n\n")
    if not sep:
        raise NoteError("note has no signature block")
    text += "\n"
    _check_text(text)
    lines = signature_block.split("\n")
    if lines[-1] != "":
        raise NoteError("note must end with a newline")
    lines = lines[:-1]
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError("note has no or too many signatures")
    return text, [parse_signature_line(line) for line in lines]


def parse_signature_line(line: str) -> NoteSignature:
    """``— <name> <base64(key ID || signature)>`` (without its newline)."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"malformed signature line {line!r}")
    name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    if not valid_key_name(name):
        raise NoteError(f"malformed signature line {line!r}")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise NoteError("malformed signature encoding") from exc
    if len(raw) < 5:
        raise NoteError("signature too short")
    return NoteSignature(name, raw)


def signature_line(name: str, raw: bytes) -> str:
    """The signature line (with its newline) for ``raw`` = key ID || signature."""
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode()}\n"


def open_note(note: str, verifier: NoteVerifier) -> str:
    """Return the note's text if ``verifier`` signed it; signatures by unknown keys are ignored.

    Follows C2SP signed-note: reject when no known key verified, or when a known key's signature fails.
    """
    text, signatures = split_note(note)
    verified = False
    for signature in signatures:
        if signature.name != verifier.name or signature.key_id != verifier.key_id:
            continue
        if not verifier.verify(text, signature.signature):
            raise NoteError(f"signature by {signature.name} does not verify")
        verified = True
    if not verified:
        raise NoteError(f"note is not signed by {verifier.name}+{verifier.key_id.hex()}")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("checkpoint needs origin, tree size and root hash lines")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not origin or not size_text.isascii() or not size_text.isdigit():
            raise NoteError("malformed checkpoint origin or tree size")
        if size_text != str(int(size_text)):
            raise NoteError("tree size has leading zeros")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error as exc:
            raise NoteError("malformed checkpoint root hash") from exc
        if len(root) != HASH_SIZE:
            raise NoteError("checkpoint root hash is not 32 bytes")
        return cls(origin, int(size_text), root)


def open_checkpoint(note: str, verifier: NoteVerifier, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note and parse it; ``origin`` pins the expected log."""
    checkpoint = Checkpoint.parse_body(open_note(note, verifier))
    expected = origin if origin is not None else verifier.name
    if checkpoint.origin != expected:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {expected!r}")
    return checkpoint
