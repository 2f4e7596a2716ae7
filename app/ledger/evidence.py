"""Offline evidence: a case's bundle (its entries, their inclusion proofs against one signed checkpoint, and the
log's signed statement of the case's last entry; format and offline check in ``app.ledger.verify_evidence``), and a
write's receipt with the inclusion proofs of its entries (``Prefer: ledger-proof``)."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.problems import NotFound
from app.ledger import repository, service
from app.ledger.merkle import hash_range, inclusion_proof_ranges, nodes_for_ranges
from app.ledger.models import LedgerCheckpoint
from app.ledger.schemas import CaseEvidenceRead, EvidenceEntryRead, LedgerEntryRead, LedgerReceipt, b64
from app.ledger.verify_evidence import EVIDENCE_FORMAT, case_head_text
from app.ledger.witnessing import Witnesses, cosigned_note, latest_witnessed


def case_evidence(
    session: Session, settings: Settings, case_id: uuid.UUID
) -> tuple[CaseEvidenceRead, list[LedgerEntryRead]]:
    """The bundle over the latest witnessed checkpoint holding an entry about the case (with witnesses configured),
    else over a checkpoint covering every entry now; and its entries as read (for the read audit)."""
    checkpoint, note = _checkpoint(session, settings, case_id)
    size = checkpoint.tree_size
    entries = repository.case_entries(session, case_id, size)
    if not entries:
        raise NotFound(f"The ledger holds no entry about case {case_id}.")
    proofs = _inclusion_proofs(session, [entry.seq for entry in entries], size)
    signer = service.signer_at(session, settings, size)  # the checkpoint's key signs the case head too
    last = entries[-1]
    head = case_head_text(settings.ledger_origin, case_id, size, len(entries), last.seq, last.leaf_hash)
    bundle = CaseEvidenceRead(
        format=EVIDENCE_FORMAT,
        case_id=str(case_id),
        key_name=signer.name,
        verifier_key=signer.verifier().text(),
        checkpoint=note,
        case_head=signer.sign(head),
        entries=[
            EvidenceEntryRead(
                seq=entry.seq,
                leaf=b64(entry.leaf_data),
                leaf_hash=b64(entry.leaf_hash),
                inclusion_proof=proofs[entry.seq],
            )
            for entry in entries
        ],
    )
    return bundle, [LedgerEntryRead.of(entry) for entry in entries]


def prove_receipt(session: Session, settings: Settings, receipt: LedgerReceipt) -> LedgerReceipt:
    """The receipt with each entry's inclusion proof against the first checkpoint holding all of them (the one the
    sequencer's round signed for it, or a later one; signed now when there is none yet) and that checkpoint's note.

    The same write is always proved against the same checkpoint: a replay repeats the first answer's proofs."""
    if not receipt.entries:
        return receipt
    checkpoint = service.checkpoint_covering(session, settings, max(entry.seq for entry in receipt.entries) + 1)
    proofs = _inclusion_proofs(session, [entry.seq for entry in receipt.entries], checkpoint.tree_size)
    return LedgerReceipt(
        entries=[entry.model_copy(update={"inclusion_proof": proofs[entry.seq]}) for entry in receipt.entries],
        checkpoint=cosigned_note(session, checkpoint),
    )


def _inclusion_proofs(session: Session, seqs: Collection[int], size: int) -> dict[int, list[str]]:
    """RFC 9162 inclusion paths (base64) of these entries in the tree of ``size``, from one read of stored nodes."""
    ranges = {seq: inclusion_proof_ranges(seq, size) for seq in seqs}
    nodes = repository.fetch_nodes(session, set().union(*(nodes_for_ranges(r) for r in ranges.values())))
    return {seq: [b64(hash_range(start, end, nodes)) for start, end in path] for seq, path in ranges.items()}


def _checkpoint(session: Session, settings: Settings, case_id: uuid.UUID) -> tuple[LedgerCheckpoint, str]:
    """Entries newer than the witnessed checkpoint are left out: the bundle proves what the witnesses vouch for."""
    witnesses = Witnesses.of(settings)
    if witnesses.enabled:
        witnessed = latest_witnessed(session, witnesses)
        if witnessed is not None and repository.case_entries(session, case_id, witnessed[0].tree_size):
            return witnessed
    checkpoint = service.current_checkpoint(session, settings, fresh=True)
    return checkpoint, cosigned_note(session, checkpoint)
