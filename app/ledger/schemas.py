"""Ledger API representations. Hashes are base64 (as in C2SP checkpoints and RFC 9162 test vectors)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from app.ledger.models import LedgerEntry
from app.ledger.verify_evidence import CASE_LINK as CASE_LINK
from app.ledger.verify_evidence import EVIDENCE_FORMAT  # the per-case link's payload field, re-exported


@dataclass(frozen=True, slots=True)
class LedgerChange:
    """One change as the domain that made it describes it; the write flow records it (``sequencer.record_changes``)."""

    entry_type: str
    payload: Mapping[str, Any]
    case_id: uuid.UUID | None = None


SEQ_HEADER = "Ledger-Seq"
LEAF_HASH_HEADER = "Ledger-Leaf-Hash"
PROOF_PREFERENCE = "ledger-proof"
"""The ``Prefer`` token (RFC 7240) a write sends to get its receipt with inclusion proofs and their checkpoint."""
PREFERENCE_APPLIED_HEADER = "Preference-Applied"


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _absent(value: object) -> bool:
    return value is None


class ReceiptEntry(BaseModel):
    seq: int = Field(description="0-based position in the log: `GET /api/v1/ledger/entries/{seq}`.")
    entry_type: str = Field(examples=["case.created"])
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), base64: the leaf an inclusion proof proves.")
    inclusion_proof: list[str] | None = Field(
        default=None,
        exclude_if=_absent,
        description="Only with `Prefer: ledger-proof`: the RFC 9162 §2.1.3 inclusion path of this entry in the tree "
        "of the receipt's `checkpoint`, leaf's sibling first, base64.",
    )


class LedgerReceipt(BaseModel):
    """Where a write was recorded: keep it as proof of what was submitted (check it with an inclusion proof)."""

    entries: list[ReceiptEntry] = Field(
        description="Every ledger entry the write appended, in log order: the first records the requested change, "
        "the others what it caused (the acting agency's own record, reconciliation findings). Empty when the write "
        "changed nothing."
    )
    checkpoint: str | None = Field(
        default=None,
        exclude_if=_absent,
        description="Only with `Prefer: ledger-proof` (and at least one entry): the C2SP signed checkpoint, verbatim "
        "(the log's signature, then any witness cosignatures), of the first tree that holds every entry of the "
        "write; each entry's `inclusion_proof` leads to its root. Verify the note with the log's key "
        "(`GET /api/v1/ledger/verifier-key`) and the proofs offline: no further call is needed.",
    )

    @property
    def proven(self) -> bool:
        return self.checkpoint is not None

    @classmethod
    def of(cls, entries: Sequence[LedgerEntry]) -> LedgerReceipt:
        return cls(
            entries=[ReceiptEntry(seq=e.seq, entry_type=e.entry_type, leaf_hash=b64(e.leaf_hash)) for e in entries]
        )

    def headers(self) -> dict[str, str]:
        """The same positions as HTTP list headers (comma-separated, in log order); none when nothing was appended.
        And ``Preference-Applied`` when the receipt carries its proofs."""
        if not self.entries:
            return self.preference_headers()
        return {
            SEQ_HEADER: ", ".join(str(entry.seq) for entry in self.entries),
            LEAF_HASH_HEADER: ", ".join(entry.leaf_hash for entry in self.entries),
        } | self.preference_headers()

    def preference_headers(self) -> dict[str, str]:
        """RFC 7240 §3: say that ``Prefer: ledger-proof`` was honoured (a batch's only receipt header)."""
        return {PREFERENCE_APPLIED_HEADER: PROOF_PREFERENCE} if self.proven else {}

    def attach(self, body: ReceiptedBody) -> ReceiptedBody:
        return body.model_copy(update={"receipt": self})


class Receipted(BaseModel):
    """A representation that, in the response of the write that produced it, carries the write's receipt.

    The field is left out everywhere else (reads, exports, stored payloads): a v1 representation only gains it.
    """

    receipt: LedgerReceipt | None = Field(
        default=None,
        exclude_if=_absent,
        description="Only in the response of a write: the ledger entries it appended (also in the `Ledger-Seq` and "
        "`Ledger-Leaf-Hash` headers).",
    )

    @classmethod
    def state_fields(cls) -> list[str]:
        """The fields describing the resource itself: every field but the receipt."""
        return [name for name in cls.model_fields if name != "receipt"]


ReceiptedBody = TypeVar("ReceiptedBody", bound=Receipted)


class LedgerEntryRead(BaseModel):
    """One ledger entry. The fields are read from the hashed leaf itself, never from side columns."""

    seq: int = Field(description="0-based position in the log (the Merkle leaf index).")
    recorded_at: dt.datetime
    entry_type: str = Field(examples=["case.created"])
    agency: str | None
    client_id: str
    case_id: uuid.UUID | None
    request_id: str
    body_sha256: str = Field(description="SHA-256 (hex) of the HTTP request body that caused the change.")
    payload: dict[str, Any] = Field(description="The recorded change.")
    leaf: str = Field(description="The exact hashed bytes (canonical JSON, RFC 8785 subset), base64.")
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), base64.")

    @classmethod
    def of(cls, entry: LedgerEntry) -> LedgerEntryRead:
        return cls.from_leaf(entry.seq, entry.leaf_data, entry.leaf_hash)

    @classmethod
    def from_leaf(cls, seq: int, leaf_data: bytes, leaf_hash: bytes) -> LedgerEntryRead:
        content = json.loads(leaf_data)
        return cls(
            seq=seq,
            recorded_at=dt.datetime.fromisoformat(content["recorded_at"]),
            entry_type=content["type"],
            agency=content["agency"],
            client_id=content["client_id"],
            case_id=uuid.UUID(content["case_id"]) if content["case_id"] else None,
            request_id=content["request_id"],
            body_sha256=content["body_sha256"],
            payload=content["payload"],
            leaf=b64(leaf_data),
            leaf_hash=b64(leaf_hash),
        )


class CheckpointRead(BaseModel):
    origin: str
    tree_size: int
    root_hash: str = Field(description="RFC 9162 root of the first `tree_size` entries, base64.")
    created_at: dt.datetime
    note: str = Field(
        description="The C2SP signed-note checkpoint, verbatim: the log's signature, then the cosignature lines "
        "(C2SP tlog-cosignature) of the witnesses that cosigned it so far. Save it to check the log later."
    )
    verifier_key: str = Field(
        description="C2SP note verifier key (`<name>+<key id>+<key>`) of the log's key that signed this checkpoint."
    )


class VerifierKeyRead(BaseModel):
    origin: str
    verifier_key: str = Field(
        description="C2SP note verifier key that signs the log's new checkpoints (give it to the witnesses); pin "
        "it, or any earlier key of the log, in `sbt ledger verify --key`."
    )
    first_verifier_key: str = Field(
        description="The log's first key, where the chain of `ledger.key_rotated` entries starts (the same as "
        "`verifier_key` until the first rotation)."
    )
    algorithm: str = "Ed25519"


class InclusionProofRead(BaseModel):
    seq: int
    tree_size: int
    leaf_hash: str
    hashes: list[str] = Field(description="RFC 9162 §2.1.3 inclusion path, leaf's sibling first, base64.")
    root_hash: str = Field(description="Root the path leads to; compare with a signed checkpoint.")
    checkpoint: str | None = Field(description="Signed checkpoint of exactly `tree_size`, when one exists.")


class ConsistencyProofRead(BaseModel):
    first: int
    second: int
    hashes: list[str] = Field(description="RFC 9162 §2.1.4 consistency proof, base64.")
    first_root_hash: str
    second_root_hash: str


class EvidenceEntryRead(BaseModel):
    seq: int = Field(description="0-based position in the log (the Merkle leaf index).")
    leaf: str = Field(description="The exact hashed bytes (canonical JSON), base64; personal data inside.")
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), base64.")
    inclusion_proof: list[str] = Field(
        description="RFC 9162 §2.1.3 inclusion path in the checkpointed tree, leaf's sibling first, base64."
    )


class CaseEvidenceRead(BaseModel):
    """One case's ledger history as offline evidence; check it with `sbt ledger verify-evidence FILE --key KEY`."""

    format: str = Field(examples=[EVIDENCE_FORMAT])
    case_id: str = Field(description="The case (UUID); every entry's leaf names it.")
    key_name: str = Field(description="Name of the log's signing key (its origin).")
    verifier_key: str = Field(description="C2SP note verifier key of the log; pin your own copy with `--key`.")
    checkpoint: str = Field(description="C2SP signed checkpoint every inclusion proof leads to, verbatim.")
    case_head: str = Field(
        description="Signed note by the log's key: how many entries about the case the checkpointed tree holds "
        "and which is the last (so that a bundle leaving out the newest entry fails)."
    )
    entries: list[EvidenceEntryRead] = Field(
        description="Every entry about the case in the checkpointed tree, in log order; each names the previous "
        "one in `payload.previous` (seq and leaf hash; null in the first)."
    )
