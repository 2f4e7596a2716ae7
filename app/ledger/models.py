"""Ledger tables. All three are append-only: database triggers (migration 0003) reject UPDATE and DELETE."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import GUID, Base, TZDateTime
from app.ledger.key_rotation import KEY_ROTATION

IS_KEY_ROTATION = text(f"entry_type = '{KEY_ROTATION}'")
"""The partial index's condition, written the same in queries (SQLite uses such an index only for a literal)."""


class LedgerEntry(Base):
    """One leaf of the Merkle tree. ``leaf_data`` holds the exact canonical JSON bytes that were hashed;
    the other columns are copies of fields inside it, kept for querying."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("seq >= 0", name="seq_not_negative"),
        CheckConstraint("length(leaf_hash) = 32", name="leaf_hash_length"),
        # Signing a checkpoint looks up the latest rotation: a partial index holds only those few entries.
        Index("ix_ledger_entry_key_rotation", "seq", sqlite_where=IS_KEY_ROTATION, postgresql_where=IS_KEY_ROTATION),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(TZDateTime)
    entry_type: Mapped[str] = mapped_column(String(64))
    agency: Mapped[str | None] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[uuid.UUID | None] = mapped_column(GUID, index=True)
    request_id: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    leaf_data: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerNode(Base):
    """Hash of a perfect (complete, aligned) subtree of ``2**level`` leaves, level >= 1.

    Level 0 (the leaf hashes) lives in ``ledger_entry``. Perfect nodes never change, so proofs read at most
    O(log n) of these rows and never rehash the log.
    """

    __tablename__ = "ledger_node"
    __table_args__ = (
        CheckConstraint("level >= 1", name="level_positive"),
        CheckConstraint("length(hash) = 32", name="hash_length"),
    )

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerCheckpoint(Base):
    """A signed C2SP checkpoint (signed note) of the tree at ``tree_size``."""

    __tablename__ = "ledger_checkpoint"
    __table_args__ = (CheckConstraint("length(root_hash) = 32", name="root_hash_length"),)

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime)


class LedgerPending(Base):
    """A write's ledger changes, committed with the write but not yet in the log (decision 0028).

    The request's transaction inserts one row and takes no lock; the sequencer (``app.ledger.sequencer``) turns
    pending rows into entries in arrival order and deletes them in the same transaction. Pending rows are not
    entries: nothing that reads the log reads this table. ``changes`` holds the canonical JSON list of the write's
    leaves without what depends on their position (``seq``, ``recorded_at``, ``prev_root``, the case link) and
    ``changes_hash`` its SHA-256, checked before the rows become entries.
    """

    __tablename__ = "ledger_pending"
    __table_args__ = (
        CheckConstraint("entry_count >= 1", name="entry_count_positive"),
        CheckConstraint("length(changes_hash) = 32", name="changes_hash_length"),
        {"sqlite_autoincrement": True},  # ids are never reused: ledger_write names them for good
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime)
    entry_count: Mapped[int] = mapped_column(Integer)
    changes: Mapped[bytes] = mapped_column(LargeBinary)
    changes_hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerWrite(Base):
    """Where a pending write landed: its entries are ``first_seq .. first_seq + entry_count - 1``, in order.

    Written by the sequencer with the entries; read by a request waiting for its receipt in another process and
    by an Idempotency-Key replay, which fills the stored reply's ledger positions from it.
    """

    __tablename__ = "ledger_write"

    pending_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    entry_count: Mapped[int] = mapped_column(Integer)


class LedgerCosignature(Base):
    """A witness's cosignature line (C2SP tlog-cosignature) of the checkpoint at ``tree_size``, verified against the
    configured witness key before it was stored. Appended to the checkpoint's note when it is published."""

    __tablename__ = "ledger_cosignature"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(255), primary_key=True)
    """The witness's key name."""
    line: Mapped[str] = mapped_column(Text)
    cosigned_at: Mapped[dt.datetime] = mapped_column(TZDateTime)
    """The timestamp inside the cosignature (the witness's clock)."""


class LedgerWitness(Base):
    """What the log knows of one configured witness: the size of the latest checkpoint it cosigned (the ``old``
    size of the next submission) and the outcome of the latest submission."""

    __tablename__ = "ledger_witness"

    witness: Mapped[str] = mapped_column(String(255), primary_key=True)
    known_size: Mapped[int] = mapped_column(BigInteger)
    problem: Mapped[str | None] = mapped_column(Text)
    """Why the latest submission got no cosignature (unreachable, refused), or None when it got one."""
    checked_at: Mapped[dt.datetime] = mapped_column(TZDateTime)
