"""Appends, stored subtree hashes, checkpoints and immutability on the real database."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, utcnow
from app.ledger import sequencer, service
from app.ledger.canonical import NotCanonicalizable
from app.ledger.merkle import MemoryTree, verify_consistency, verify_inclusion
from app.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode
from app.ledger.note import open_checkpoint
from app.ledger.schemas import LedgerChange
from tests.ledger.factories import append_committed, record_committed, write_context


def _leaves(session: Session) -> list[bytes]:
    return list(session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.seq)))


def test_appends_form_a_gap_free_sequence_and_proofs_match_a_full_recomputation(app: FastAPI, session: Session) -> None:
    assert append_committed(app, 23) == list(range(23))
    leaves = _leaves(session)
    tree = MemoryTree(leaves)
    for size in (1, 2, 7, 8, 16, 23):
        assert service.root_hash(session, size) == tree.root(size)
        for seq in range(size):
            proof = service.inclusion_proof(session, seq, size)
            verify_inclusion(seq, size, leaves[seq], proof, tree.root(size))
        for old in range(1, size):
            proof = service.consistency_proof(session, old, size)
            verify_consistency(old, size, proof, tree.root(old), tree.root(size))
    # Exactly n - popcount(n) perfect inner nodes exist: one per completed subtree, nothing rehashed.
    assert session.scalar(select(func.count()).select_from(LedgerNode)) == 23 - bin(23).count("1")


def test_entry_records_who_what_and_the_request_inside_the_hashed_leaf(app: FastAPI, session: Session) -> None:
    case_id = uuid.uuid4()
    context = write_context(request_id="req-42")
    (recorded,) = record_committed(
        app, [LedgerChange("case.created", {"nip": "199001012020121001"}, case_id)], context
    ).entries
    entry = session.get_one(LedgerEntry, recorded.seq)
    assert entry.seq == 0
    assert entry.leaf_data.decode() == (
        '{"agency":"BKN","body_sha256":"' + "0" * 64 + '","case_id":"' + str(case_id) + '","client_id":"test-bkn",'
        '"payload":{"nip":"199001012020121001","previous":null},'
        '"prev_root":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",'
        '"recorded_at":"'
        + entry.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        + '","request_id":"req-42","role":"agency","seq":0,"type":"case.created","v":1}'
    )


def test_floats_in_a_payload_are_refused_before_anything_is_written(app: FastAPI, session: Session) -> None:
    with pytest.raises(NotCanonicalizable):
        sequencer.record_changes(
            session, app.state.settings, write_context(), [LedgerChange("case.created", {"score": 0.5})]
        )
    session.rollback()
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_a_rolled_back_transaction_leaves_no_entry_and_no_gap(app: FastAPI, session: Session) -> None:
    sequencer.record_changes(session, app.state.settings, write_context(), [LedgerChange("case.created", {})])
    session.rollback()
    assert append_committed(app, 2) == [0, 1]


def test_checkpoint_every_m_entries_signed_with_the_published_key(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    settings.ledger_checkpoint_max_entries = 5
    append_committed(app, 12)
    assert _checkpoint_sizes(session) == [1, 6, 11]
    verifier = service.signer_for(settings).verifier()
    tree = MemoryTree(_leaves(session))
    for checkpoint in session.scalars(select(LedgerCheckpoint)):
        opened = open_checkpoint(checkpoint.note, verifier)
        assert opened.root_hash == tree.root(opened.tree_size) == checkpoint.root_hash
    assert settings.ledger_key_path.is_file()


def _checkpoint_sizes(session: Session) -> list[int]:
    return list(session.scalars(select(LedgerCheckpoint.tree_size).order_by(LedgerCheckpoint.tree_size)))


@pytest.mark.real_commits  # another process: a second engine
def test_checkpoint_signed_by_another_process_moves_the_next_due_size(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    """Appends skip the checkpoint query while the last one they saw is not due; they must still count from
    the newest checkpoint, wherever it was signed."""
    settings.ledger_checkpoint_max_entries = 5
    append_committed(app, 3)
    other_process = make_engine(settings.database_url)
    with make_sessionmaker(other_process)() as other:
        service.current_checkpoint(other, settings, fresh=True)
        other.commit()
    other_process.dispose()
    append_committed(app, 9)
    assert _checkpoint_sizes(session) == [1, 3, 8]


def test_checkpoint_is_signed_when_the_interval_passes_without_m_entries(
    app: FastAPI, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_committed(app, 3)
    later = utcnow() + dt.timedelta(seconds=settings.ledger_checkpoint_interval_seconds)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    append_committed(app, 2)
    assert _checkpoint_sizes(session) == [1, 4]


def test_stale_checkpoint_is_replaced_on_request_and_fresh_covers_everything(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    append_committed(app, 3)
    latest = service.current_checkpoint(session, settings, fresh=False)
    assert latest.tree_size == 1  # first write signed; the 60 s / 1000 entry policy is not yet due
    fresh = service.current_checkpoint(session, settings, fresh=True)
    session.commit()
    assert fresh.tree_size == 3
    assert service.current_checkpoint(session, settings, fresh=True).tree_size == 3


@pytest.mark.parametrize("model", [LedgerEntry, LedgerNode, LedgerCheckpoint])
def test_database_refuses_updates_and_deletes_of_ledger_rows(
    app: FastAPI, session: Session, model: type[LedgerEntry | LedgerNode | LedgerCheckpoint]
) -> None:
    append_committed(app, 4)
    column = {LedgerEntry: LedgerEntry.entry_type, LedgerNode: LedgerNode.hash, LedgerCheckpoint: LedgerCheckpoint.note}
    new_value: object = b"\x00" * 32 if model is LedgerNode else "forged"
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(update(model).values({column[model]: new_value}))
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete(model))
    session.rollback()
    assert (session.scalar(select(func.count()).select_from(model)) or 0) > 0
