"""Ledger queries. Every read of tree structure fetches a bounded set of perfect nodes (O(log n) rows)."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple, cast

import orjson
from sqlalchemy import (
    BigInteger,
    LargeBinary,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from app.core.db import insert_rows, utcnow
from app.core.problems import LedgerIntegrityFailure
from app.ledger.merkle import NodeId
from app.ledger.models import (
    IS_KEY_ROTATION,
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerEntry,
    LedgerNode,
    LedgerPending,
    LedgerWrite,
)

# Advisory lock key of the log's one writer across every process sharing the database ("SBTLEDGR"): the
# sequencer's round holds it (pg_try_advisory_xact_lock), signing a checkpoint on request waits for it.
ADVISORY_LOCK_KEY = int.from_bytes(b"SBTLEDGR", "big") & 0x7FFF_FFFF_FFFF_FFFF


class MissingNodes(LedgerIntegrityFailure):
    """Stored tree structure is incomplete: rows were removed behind the service's back."""


def lock_log(session: Session) -> None:
    """Wait for the log's round lock and hold it until the transaction ends (signing a checkpoint on request).

    PostgreSQL: a transaction-scoped advisory lock (READ COMMITTED then lets the next statement see the
    previous holder's committed rows). SQLite: the engine opens every transaction with BEGIN IMMEDIATE, so
    running any statement already holds the database write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


_PENDING = cast(Table, LedgerPending.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)
_NODES = cast(Table, LedgerNode.__table__)
_WRITES = cast(Table, LedgerWrite.__table__)
_INSERT_PENDING = insert(_PENDING).returning(_PENDING.c.id)
_DELETE_PENDING_ANY = text("DELETE FROM ledger_pending WHERE id = ANY(CAST(:ids AS bigint[]))")
_DELETE_PENDING_JSON = text("DELETE FROM ledger_pending WHERE id IN (SELECT value FROM json_each(:ids))")
"""SQLite: the ids as one JSON array, bound as text (SQLite 3.45+ reads a BLOB as JSONB): an expanded IN list of a
round's writes cost more to render than to run."""
_PENDING_BATCH: Select[int, bytes, bytes] = (
    select(_PENDING.c.id, _PENDING.c.changes, _PENDING.c.changes_hash).order_by(_PENDING.c.id).limit(bindparam("limit"))
)
PendingRow = Row[int, bytes, bytes]
"""``(id, changes, changes hash)`` of a pending write."""


def insert_pending(session: Session, entry_count: int, changes: bytes, changes_hash: bytes) -> int:
    row = {"created_at": utcnow(), "entry_count": entry_count, "changes": changes, "changes_hash": changes_hash}
    return int(session.execute(_INSERT_PENDING, row).scalar_one())


def pending_batch(session: Session, limit: int) -> Sequence[PendingRow]:
    """The oldest pending writes, in arrival order (committed ones only: each round reads after the last).

    Core's rows of the table's columns: the ORM's result handling of the same query cost more than running it
    (1000 rows on SQLite: 1.24 against 0.59 ms)."""
    return session.connection().execute(_PENDING_BATCH, {"limit": limit}).all()


def pending_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LedgerPending)) or 0


def pending_changes(session: Session) -> Sequence[bytes]:
    return session.scalars(select(LedgerPending.changes)).all()


def insert_integrated(
    session: Session,
    entries: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    writes: list[dict[str, Any]],
) -> None:
    """One round's rows without the ORM's unit of work, and its pending rows (the writes') deleted.

    Every table's rows go through ``insert_rows`` (on SQLite one executemany the driver runs as it stands; on
    PostgreSQL one ``INSERT ... SELECT FROM unnest(arrays)`` for nodes and writes: a pipelined statement per row
    cost half a round), but PostgreSQL's entries, a Core multi-row insert: unnesting their ten arrays took about
    32 µs of client CPU per row against 20 (each element through its column type) and saved little wall time.
    """
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        session.execute(insert(_ENTRIES), entries)
    else:
        insert_rows(session, _ENTRIES, entries)
    if nodes:
        insert_rows(session, _NODES, nodes)
    insert_rows(session, _WRITES, writes)
    pending_ids = [write["pending_id"] for write in writes]
    if postgresql:
        session.execute(_DELETE_PENDING_ANY, {"ids": pending_ids})
    else:
        session.execute(_DELETE_PENDING_JSON, {"ids": orjson.dumps(pending_ids).decode()})


def last_integrated_pending_id(session: Session) -> int:
    return session.scalar(select(func.max(LedgerWrite.pending_id))) or 0


_WRITTEN_ENTRIES = (
    select(LedgerWrite.pending_id, LedgerEntry.seq, LedgerEntry.entry_type, LedgerEntry.leaf_hash)
    .join(
        LedgerEntry,
        and_(
            LedgerEntry.seq >= LedgerWrite.first_seq,
            LedgerEntry.seq < LedgerWrite.first_seq + LedgerWrite.entry_count,
        ),
    )
    .where(LedgerWrite.pending_id.in_(bindparam("pending_ids", expanding=True)))
    .order_by(LedgerEntry.seq)
)


def written_entries(session: Session, pending_ids: Collection[int]) -> dict[int, list[tuple[int, str, bytes]]]:
    """``(seq, entry type, leaf hash)`` of each sequenced write's entries in log order, by pending id; writes
    still pending are absent."""
    written: dict[int, list[tuple[int, str, bytes]]] = {}
    for pending_id, seq, entry_type, leaf in session.execute(_WRITTEN_ENTRIES, {"pending_ids": list(pending_ids)}):
        written.setdefault(pending_id, []).append((seq, entry_type, leaf))
    return written


def tree_size(session: Session) -> int:
    last = session.scalar(select(func.max(LedgerEntry.seq)))
    return 0 if last is None else last + 1


_LAST_LEAF = select(LedgerEntry.seq, LedgerEntry.leaf_hash).order_by(LedgerEntry.seq.desc()).limit(1)
_LEAVES = select(LedgerEntry.seq, LedgerEntry.leaf_hash).where(LedgerEntry.seq.in_(bindparam("seqs", expanding=True)))


def last_leaf(session: Session) -> tuple[int, bytes] | None:
    """``(seq, leaf hash)`` of the newest entry: the tree size and, when it is odd, the last frontier node."""
    row = session.execute(_LAST_LEAF).first()
    return None if row is None else (row.seq, row.leaf_hash)


@functools.cache
def _nodes_query(levels: int) -> Select[int, int, bytes]:
    """Nodes at ``levels`` distinct levels, built once per shape (composing it cost more than running it).

    One indexed term per level: SQLite does not use the primary key for row-value IN lists.
    """
    return select(LedgerNode.level, LedgerNode.position, LedgerNode.hash).where(
        or_(
            *(
                and_(
                    LedgerNode.level == bindparam(f"level_{term}"),
                    LedgerNode.position.in_(bindparam(f"positions_{term}", expanding=True)),
                )
                for term in range(levels)
            )
        )
    )


def fetch_nodes(session: Session, wanted: Collection[NodeId]) -> dict[NodeId, bytes]:
    leaves = sorted(position for level, position in wanted if level == 0)
    by_level: dict[int, list[int]] = {}
    for level, position in wanted:
        if level > 0:
            by_level.setdefault(level, []).append(position)
    found: dict[NodeId, bytes] = {}
    if leaves:
        found.update(((0, seq), leaf_hash) for seq, leaf_hash in session.execute(_LEAVES, {"seqs": leaves}))
    if by_level:
        parameters: dict[str, object] = {}
        for term, (level, positions) in enumerate(by_level.items()):
            parameters[f"level_{term}"] = level
            parameters[f"positions_{term}"] = positions
        node_rows = session.execute(_nodes_query(len(by_level)), parameters)
        found.update(((level, position), node) for level, position, node in node_rows)
    missing = set(wanted) - found.keys()
    if missing:
        raise MissingNodes(f"ledger tree nodes missing from storage: {sorted(missing)[:5]}")
    return found


def get_entry(session: Session, seq: int) -> LedgerEntry | None:
    return session.get(LedgerEntry, seq)


def case_is_recorded(session: Session, case_id: uuid.UUID) -> bool:
    return bool(session.scalar(select(exists().where(LedgerEntry.case_id == case_id))))


CASES_PER_QUERY = 5000
"""Bound parameters per query stay far below SQLite's and PostgreSQL's limits (32,766 and 65,535)."""


_LATEST_OF_CASES_SQLITE = text(
    "SELECT case_id, max(seq) AS seq, leaf_hash FROM ledger_entry "
    "WHERE case_id IN (SELECT value FROM json_each(:case_ids)) GROUP BY case_id"
).columns(case_id=String, seq=BigInteger, leaf_hash=LargeBinary)
"""SQLite: one pass over the case index, the ids as one JSON array (as ``_DELETE_PENDING_JSON``); SQLite takes a
bare column from the row whose ``max()`` it returns. The ids stay text, as stored (``GUID``)."""


def latest_case_entries(session: Session, case_ids: Collection[str]) -> dict[str, tuple[int, bytes]]:
    """``case id -> (seq, leaf hash)`` of the newest entry about each of these cases that has one, the ids as the
    leaves write them (``str()`` of the UUID): a round's cases are parsed only where PostgreSQL binds them."""
    wanted = list(case_ids)
    if not wanted:
        return {}
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(_LATEST_OF_CASES_SQLITE, {"case_ids": orjson.dumps(wanted).decode()})
        return {case_id: (seq, leaf_hash) for case_id, seq, leaf_hash in rows}
    latest: dict[str, tuple[int, bytes]] = {}
    for start in range(0, len(wanted), CASES_PER_QUERY):  # a round of batch imports can name very many cases
        by_case = LedgerEntry.case_id.in_(wanted[start : start + CASES_PER_QUERY])
        newest = select(func.max(LedgerEntry.seq)).where(by_case).group_by(LedgerEntry.case_id)
        rows = session.execute(
            select(LedgerEntry.case_id, LedgerEntry.seq, LedgerEntry.leaf_hash).where(LedgerEntry.seq.in_(newest))
        )
        latest.update((str(case_id), (seq, leaf_hash)) for case_id, seq, leaf_hash in rows if case_id is not None)
    return latest


def case_entries(session: Session, case_id: uuid.UUID, tree_size: int) -> Sequence[LedgerEntry]:
    """Every entry about the case among the first ``tree_size``, in log order."""
    query = select(LedgerEntry).where(LedgerEntry.case_id == case_id, LedgerEntry.seq < tree_size)
    return session.scalars(query.order_by(LedgerEntry.seq)).all()


def list_entries(
    session: Session, *, after_seq: int, limit: int, case_id: uuid.UUID | None = None
) -> Sequence[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.seq > after_seq)
    if case_id is not None:
        query = query.where(LedgerEntry.case_id == case_id)
    return session.scalars(query.order_by(LedgerEntry.seq).limit(limit)).all()


def key_rotation_before(session: Session, seq: int) -> bytes | None:
    """The leaf of the latest ``ledger.key_rotated`` entry before position ``seq`` (the partial index)."""
    query = select(LedgerEntry.leaf_data).where(IS_KEY_ROTATION, LedgerEntry.seq < seq)
    return session.scalars(query.order_by(LedgerEntry.seq.desc()).limit(1)).first()


def first_key_rotation(session: Session) -> bytes | None:
    query = select(LedgerEntry.leaf_data).where(IS_KEY_ROTATION)
    return session.scalars(query.order_by(LedgerEntry.seq).limit(1)).first()


def latest_checkpoint(session: Session) -> LedgerCheckpoint | None:
    query = select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)
    return session.scalars(query).first()


def first_checkpoint_covering(session: Session, size: int) -> LedgerCheckpoint | None:
    """The smallest signed checkpoint of at least ``size`` entries."""
    query = select(LedgerCheckpoint).where(LedgerCheckpoint.tree_size >= size)
    return session.scalars(query.order_by(LedgerCheckpoint.tree_size).limit(1)).first()


class PendingBacklog(NamedTuple):
    """The committed writes still waiting for their ledger positions (``/metrics``, ``/ready``)."""

    writes: int
    oldest_at: dt.datetime | None

    def age_seconds(self, now: dt.datetime) -> float:
        """How long the oldest waiting write has gone without its positions (0 with nothing waiting)."""
        return 0.0 if self.oldest_at is None else max(0.0, (now - self.oldest_at).total_seconds())


def pending_backlog(session: Session) -> PendingBacklog:
    count, oldest = session.execute(select(func.count(), func.min(LedgerPending.created_at))).one()
    return PendingBacklog(int(count), oldest)


def get_checkpoint(session: Session, tree_size: int) -> LedgerCheckpoint | None:
    return session.get(LedgerCheckpoint, tree_size)


def list_checkpoints(session: Session, *, after_size: int, limit: int) -> Sequence[LedgerCheckpoint]:
    query = select(LedgerCheckpoint).where(LedgerCheckpoint.tree_size > after_size)
    return session.scalars(query.order_by(LedgerCheckpoint.tree_size).limit(limit)).all()


def cosignature_lines(session: Session, tree_sizes: Collection[int]) -> dict[int, list[str]]:
    """``tree size -> stored witness cosignature lines`` (by witness name) of these checkpoints."""
    if not tree_sizes:
        return {}
    rows = session.execute(
        select(LedgerCosignature.tree_size, LedgerCosignature.line)
        .where(LedgerCosignature.tree_size.in_(list(tree_sizes)))
        .order_by(LedgerCosignature.tree_size, LedgerCosignature.witness)
    )
    lines: dict[int, list[str]] = {}
    for size, line in rows:
        lines.setdefault(size, []).append(line)
    return lines
