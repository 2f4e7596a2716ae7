"""Witness cosignatures and the witness protocol's wire formats (C2SP tlog-cosignature, tlog-witness).

Pure module (stdlib + ``cryptography``), shared by the witness (``app.witness``), the log's submitter
(``app.ledger.witnessing``) and the offline verifiers.

* A cosignature (tlog-cosignature, Ed25519 ``cosignature/v1``) is a note signature line whose key ID is
  ``SHA-256(name || "\\n" || 0x04 || public key)[:4]`` and whose bytes are ``key ID || u64 timestamp || Ed25519
  signature`` over ``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint body``.
* The witness's key files follow the Go ``golang.org/x/mod/sumdb/note`` convention, as transparency-dev's witness
  does: the private key is an ordinary Ed25519 note key (``PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>``); its
  published verifier key is the cosignature vkey ``<name>+<id>+<base64(0x04 || public key)>`` (a 0x01 vkey of
  the same key is accepted and read as the cosignature key, as ``NewVerifierForCosignatureV1`` does).
* The ``add-checkpoint`` request body (tlog-witness): ``old <size>\\n``, at most 63 base64 consistency-proof
  lines, an empty line, the signed checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.ledger.merkle import HASH_SIZE
from app.ledger.note import (
    ED25519_TYPE,
    NoteError,
    NoteSignature,
    NoteSigner,
    key_id,
    parse_signature_line,
    signature_line,
    split_note,
    valid_key_name,
)

COSIGNATURE_TYPE = 0x04
COSIGNATURE_HEADER = "cosignature/v1"
COSIGNATURE_SIZE = 4 + 8 + 64
MAX_PROOF_LINES = 63
MAX_TIMESTAMP = 2**63 - 1
SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""Content type of a 409 answer: the witness's latest cosigned tree size, in decimal, and a newline."""
_TIMESTAMP = struct.Struct(">Q")


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What an Ed25519 cosignature signs: the header line, the time line, the checkpoint body (its final newline
    included, no signature lines)."""
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class Cosigner:
    """A witness's signing key: its name (a schema-less URL, by convention) and its Ed25519 private key."""

    name: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls.of(NoteSigner.generate(name))

    @classmethod
    def of(cls, signer: NoteSigner) -> Cosigner:
        return cls(signer.name, signer.private_key)

    @classmethod
    def from_private_key_text(cls, text: str) -> Cosigner:
        return cls.of(NoteSigner.from_private_key_text(text))

    def private_key_text(self) -> str:
        return NoteSigner(self.name, self.private_key).private_key_text()

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.private_key.public_key().public_bytes_raw())

    def cosign(self, body: str, timestamp: int) -> str:
        """The cosignature line (with its newline) over a checkpoint body at ``timestamp`` (POSIX seconds)."""
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise NoteError("a cosignature's timestamp must be positive and below 2**63")
        signature = self.private_key.sign(cosigned_message(body, timestamp))
        return signature_line(self.name, self.verifier().key_id + _TIMESTAMP.pack(timestamp) + signature)


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's public key, as a policy names it."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key, COSIGNATURE_TYPE)

    def text(self) -> str:
        """The cosignature vkey: ``<name>+<hex key ID>+<base64(0x04 || public key)>``."""
        encoded = base64.b64encode(bytes([COSIGNATURE_TYPE]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> CosignatureVerifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not parts[0] or len(parts[1]) != 8:
            raise NoteError(f"malformed witness key {text.strip()!r}")
        try:
            declared = bytes.fromhex(parts[1])
            raw = base64.b64decode(parts[2], validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError(f"malformed witness key encoding {text.strip()!r}") from exc
        if len(raw) != 33 or raw[0] not in (COSIGNATURE_TYPE, ED25519_TYPE):
            raise NoteError(f"witness key {parts[0]} is not an Ed25519 cosignature key (type 0x04)")
        if key_id(parts[0], raw[1:], raw[0]) != declared:
            raise NoteError(f"witness key {parts[0]}: the key ID does not match the key")
        if not valid_key_name(parts[0]):
            raise NoteError(f"invalid witness key name {parts[0]!r}")
        return cls(parts[0], raw[1:])

    def timestamp(self, body: str, signature: NoteSignature) -> int | None:
        """The time of this witness's valid cosignature in ``signature``, or None if it is not one."""
        if signature.name != self.name or signature.key_id != self.key_id or len(signature.raw) != COSIGNATURE_SIZE:
            return None
        (timestamp,) = _TIMESTAMP.unpack_from(signature.raw, 4)
        if not 0 < timestamp <= MAX_TIMESTAMP:
            return None
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                signature.raw[12:], cosigned_message(body, timestamp)
            )
        except InvalidSignature:
            return None
        return int(timestamp)


def add_cosignatures(note: str, lines: Iterable[str]) -> str:
    """The note with these signature lines appended, each once (a witness answering twice adds nothing)."""
    held = {(s.name, s.raw) for s in split_note(note)[1]}
    added = note
    for line in lines:
        signature = _one_line(line)
        if (signature.name, signature.raw) not in held:
            held.add((signature.name, signature.raw))
            added += line if line.endswith("\n") else line + "\n"
    return added


def _one_line(line: str) -> NoteSignature:
    return parse_signature_line(line.rstrip("\n"))


def cosignatures_in(note: str, verifiers: Sequence[CosignatureVerifier]) -> dict[str, int]:
    """``witness name -> timestamp`` of every valid cosignature in the note by one of these witnesses."""
    text, signatures = split_note(note)
    found: dict[str, int] = {}
    for signature in signatures:
        for verifier in verifiers:
            timestamp = verifier.timestamp(text, signature)
            if timestamp is not None:
                found[verifier.name] = max(timestamp, found.get(verifier.name, 0))
    return found


def parse_cosignature_lines(body: str, checkpoint_body: str, verifier: CosignatureVerifier) -> list[str]:
    """The lines of a witness's 200 answer that are valid cosignatures by ``verifier`` of this checkpoint.

    Lines by other keys are ignored (tlog-witness: the client MUST ignore cosignatures from unknown keys).
    """
    if not body.endswith("\n"):
        raise NoteError("a cosignature answer must end with a newline")
    valid = []
    for line in body.split("\n")[:-1]:
        if verifier.timestamp(checkpoint_body, _one_line(line)) is not None:
            valid.append(line + "\n")
    return valid


# --- add-checkpoint ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: list[bytes]
    checkpoint: str
    """The signed checkpoint note, as sent (all its signatures)."""

    def encode(self) -> bytes:
        proof = "".join(base64.b64encode(node).decode() + "\n" for node in self.proof)
        return f"old {self.old_size}\n{proof}\n{self.checkpoint}".encode()

    @classmethod
    def parse(cls, data: bytes) -> AddCheckpoint:
        """Read a request body; ``NoteError`` for a malformed one (the witness answers 400)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("the request body is not UTF-8") from exc
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise NoteError("the request has no empty line before the checkpoint")
        lines = head.split("\n")
        old = lines[0].removeprefix("old ")
        if not lines[0].startswith("old ") or not _decimal(old):
            raise NoteError("the first line must be `old <size>` in decimal, without leading zeros")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise NoteError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        proof = []
        for line in lines[1:]:
            try:
                node = base64.b64decode(line, validate=True)
            except binascii.Error as exc:
                raise NoteError("a consistency proof line is not base64") from exc
            if len(node) != HASH_SIZE:
                raise NoteError("a consistency proof line is not a 32-byte hash")
            proof.append(node)
        return cls(int(old), proof, checkpoint)


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit() and text == str(int(text)) and int(text) <= MAX_TIMESTAMP


def parse_size_answer(body: str) -> int:
    """The tree size a witness answers a 409 with (``text/x.tlog.size``)."""
    if not body.endswith("\n") or not _decimal(body[:-1]):
        raise NoteError(f"a 409 answer must be a decimal tree size and a newline, not {body[:40]!r}")
    return int(body[:-1])
