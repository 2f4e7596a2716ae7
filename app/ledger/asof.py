"""The log as it stood at a moment: how many entries it held, the signed checkpoint that covers them, and their
payloads in order (the input of every as-of answer: statistics, summaries, the count bridge)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from app.ledger.models import LedgerCheckpoint, LedgerEntry
from app.ledger.schemas import b64

REPLAY_BATCH = 2_000


class LedgerPositionRead(BaseModel):
    """Which prefix of the ledger an as-of answer was computed from, and the checkpoint that proves it."""

    as_of: dt.datetime = Field(description="The moment asked for (now when not given).")
    tree_size: int = Field(
        description="The answer is the state after the first `tree_size` ledger entries (all recorded at or "
        "before `as_of`)."
    )
    checkpoint_tree_size: int | None = Field(
        description="Smallest signed checkpoint covering those entries (GET /api/v1/ledger/checkpoints/{size}); "
        "null until the next one is signed (GET /api/v1/ledger/checkpoint?fresh=true signs one now). Prove the "
        "prefix with a consistency proof from `tree_size` to it."
    )
    checkpoint_root_hash: str | None = Field(description="That checkpoint's RFC 9162 root hash, base64.")


def position_at(session: Session, moment: dt.datetime) -> LedgerPositionRead:
    """Entries commit in position order, one sequencer round at a time, each round stamping its own, so the
    entries recorded at or before ``moment`` are exactly a prefix of the log."""
    last = session.scalar(select(func.max(LedgerEntry.seq)).where(LedgerEntry.recorded_at <= moment))
    size = 0 if last is None else int(last) + 1
    checkpoint = session.scalars(
        select(LedgerCheckpoint).where(LedgerCheckpoint.tree_size >= size).order_by(LedgerCheckpoint.tree_size).limit(1)
    ).first()
    return LedgerPositionRead(
        as_of=moment,
        tree_size=size,
        checkpoint_tree_size=checkpoint.tree_size if checkpoint else None,
        checkpoint_root_hash=b64(checkpoint.root_hash) if checkpoint else None,
    )


def leaves(session: Session, tree_size: int, type_prefixes: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The decoded leaves (envelope and payload) of the first ``tree_size`` entries whose type has one of these
    prefixes, in order: the input of ``app.ledger.replay``."""
    wanted = or_(false(), *(LedgerEntry.entry_type.startswith(prefix, autoescape=True) for prefix in type_prefixes))
    statement = (
        select(LedgerEntry.leaf_data)
        .where(LedgerEntry.seq < tree_size, wanted)
        .order_by(LedgerEntry.seq)
        .execution_options(yield_per=REPLAY_BATCH)
    )
    for leaf in session.scalars(statement):
        yield json.loads(leaf)
