"""``add-checkpoint`` as C2SP tlog-witness specifies it, without HTTP: a request body in, a status and body out.

The checks run in the order of the specification: a malformed body (400), an unknown origin (404), no valid
signature by a key the witness trusts for that origin (403), an old size above the checkpoint's (400), an old size
other than the witness's latest cosigned size (409, that size in ``text/x.tlog.size``), then, under the state's
write lock, a size-0 checkpoint without the empty root, a proof from size 0, a consistency proof that does not
verify or a same-size checkpoint with another root (422). Only then is the checkpoint stored and cosigned.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.ledger.cosignature import SIZE_CONTENT_TYPE, AddCheckpoint, Cosigner
from app.ledger.merkle import EMPTY_ROOT, ProofError, verify_consistency
from app.ledger.note import Checkpoint, NoteError, NoteVerifier, signature_line, split_note
from app.witness.state import Cosigned, WitnessState

logger = logging.getLogger("sbt.witness")
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = TEXT


class Witness:
    def __init__(
        self,
        cosigner: Cosigner,
        logs: Sequence[NoteVerifier],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.state = state
        self.clock = clock
        self.logs: dict[str, list[NoteVerifier]] = {}
        for log in logs:
            self.logs.setdefault(log.name, []).append(log)  # a log's key name is its origin (tlog-checkpoint)

    def add_checkpoint(self, data: bytes) -> Answer:
        try:
            request = AddCheckpoint.parse(data)
            text, signatures = split_note(request.checkpoint)
        except NoteError as exc:
            return Answer(400, f"malformed request: {exc}\n")
        origin = text.partition("\n")[0]
        trusted = self.logs.get(origin)
        if trusted is None:
            return Answer(404, f"unknown log origin {origin!r}\n")
        verified = []
        for signature in signatures:
            for key in trusted:
                if signature.name == key.name and signature.key_id == key.key_id:
                    if not key.verify(text, signature.signature):
                        return Answer(403, f"a signature by {key.name} does not verify\n")
                    verified.append(signature_line(signature.name, signature.raw))
        if not verified:
            return Answer(403, f"no signature by a key this witness trusts for {origin}\n")
        try:
            checkpoint = Checkpoint.parse_body(text)
        except NoteError as exc:
            return Answer(400, f"malformed checkpoint: {exc}\n")
        if request.old_size > checkpoint.tree_size:
            return Answer(400, f"old size {request.old_size} is larger than the checkpoint's {checkpoint.tree_size}\n")
        with self.state.updating(origin) as (stored, replacement):
            refusal = self._refusal(request, checkpoint, stored)
            if refusal is not None:
                if refusal.status == 422:
                    logger.warning("refused a validly signed checkpoint of %s: %s%s", origin, refusal.body, text)
                return refusal
            timestamp = int(self.clock())
            line = self.cosigner.cosign(text, timestamp)
            note = text + "\n" + "".join(verified) + line
            replacement.append(Cosigned(checkpoint.tree_size, checkpoint.root_hash, note, timestamp))
        return Answer(200, line)

    @staticmethod
    def _refusal(request: AddCheckpoint, checkpoint: Checkpoint, stored: Cosigned | None) -> Answer | None:
        stored_size = 0 if stored is None else stored.tree_size
        if request.old_size != stored_size:
            return Answer(409, f"{stored_size}\n", SIZE_CONTENT_TYPE)
        if checkpoint.tree_size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            return Answer(422, "a checkpoint of size 0 must have the empty tree's root\n")
        if stored_size == 0:
            if request.proof:
                return Answer(422, "a consistency proof from size 0 must be empty\n")
            return None
        assert stored is not None
        try:
            verify_consistency(stored_size, checkpoint.tree_size, request.proof, stored.root_hash, checkpoint.root_hash)
        except ProofError as exc:
            return Answer(422, f"not consistent with the checkpoint of size {stored_size} cosigned before: {exc}\n")
        return None

    def checkpoint_of(self, origin_hash: str) -> Answer:
        """Monitoring: the latest cosigned checkpoint of the log whose origin hashes (SHA-256, hex) to this."""
        for origin in self.logs:
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                stored = self.state.latest(origin)
                if stored is not None:
                    return Answer(200, stored.note)
        return Answer(404, "this witness has cosigned no checkpoint of that log\n")
