"""Idempotency queries outside the claim/store path (which lives in ``service.py`` with its own transactions)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.idempotency.models import IdempotencyRecord


def in_flight(session: Session, claimed_after: dt.datetime) -> int:
    """Claims without a stored reply yet, made after ``claimed_after`` (older ones count as abandoned)."""
    query = select(func.count()).where(
        IdempotencyRecord.response_status.is_(None), IdempotencyRecord.created_at > claimed_after
    )
    return session.scalar(query) or 0
