"""The ``ledger.key_rotated`` entry: the log introduces its next checkpoint signing key (decision 0036).

Pure module (stdlib + ``cryptography``), shared by the service and the offline verifier. The entry names the new
key (name, key ID, public key, and all three as a C2SP verifier key) and the key it replaces. It is authorised by
that previous key: the round that sequences it ends the log with it and signs that checkpoint, of size
``seq + 1``, with the previous key. The new key signs the checkpoints after it; the previous key none.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.ledger.note import NoteError, NoteVerifier

KEY_ROTATION = "ledger.key_rotated"


def rotation_payload(new: NoteVerifier, previous: NoteVerifier) -> dict[str, str]:
    return {
        "name": new.name,
        "key_id": new.key_id.hex(),
        "public_key": base64.b64encode(new.public_key).decode(),
        "verifier_key": new.text(),
        "previous_verifier_key": previous.text(),
    }


@dataclass(frozen=True)
class KeyRotation:
    new: NoteVerifier
    previous: NoteVerifier


def parse_rotation(payload: Mapping[str, Any]) -> KeyRotation:
    """The keys a rotation entry's payload names; ``NoteError`` unless they are well-formed and consistent."""
    try:
        new = NoteVerifier.parse(str(payload["verifier_key"]))
        previous = NoteVerifier.parse(str(payload["previous_verifier_key"]))
    except KeyError as exc:
        raise NoteError(f"key rotation entry has no {exc.args[0]}") from exc
    if rotation_payload(new, previous) != dict(payload):
        raise NoteError("key rotation entry's name, key ID or public key differ from its verifier key")
    if new.name != previous.name:
        raise NoteError(f"key rotation renames the log's key from {previous.name!r} to {new.name!r}")
    if new.key_id == previous.key_id:
        raise NoteError("key rotation introduces the key it replaces")
    return KeyRotation(new, previous)
