"""Queries of the change feed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from app.ledger.models import LedgerEntry


def visible_entries(
    session: Session, type_prefixes: Sequence[str], *, after_seq: int, limit: int
) -> tuple[Sequence[LedgerEntry], int]:
    """Entries after ``after_seq`` whose type starts with one of the prefixes, and the log position they were read
    up to (a caller who may see few types still advances past the entries it may not see).

    The position is read first and bounds the query: entries commit in position order, so everything up to it is
    already visible, and anything committed meanwhile lies beyond it and comes with the next call.
    """
    last_committed = session.scalar(select(func.max(LedgerEntry.seq)))
    upto = -1 if last_committed is None else int(last_committed)
    visible = or_(false(), *(LedgerEntry.entry_type.startswith(prefix, autoescape=True) for prefix in type_prefixes))
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.seq > after_seq, LedgerEntry.seq <= upto, visible)
        .order_by(LedgerEntry.seq)
        .limit(limit)
    ).all()
    return entries, upto
