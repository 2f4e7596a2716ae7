"""Stored outcomes of requests sent with an Idempotency-Key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, TZDateTime, utcnow


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_record"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 over method, path and body: the same key must come with the same request."""
    response_status: Mapped[int | None] = mapped_column(Integer)
    """None while the first request is still in flight."""
    response_body: Mapped[Any] = mapped_column(JSON, nullable=True)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    ledger_pending_id: Mapped[int | None] = mapped_column(BigInteger)
    """The write's pending ledger record: the stored reply lacks its ledger positions, a replay fills them in."""
    ledger_receipt_headers: Mapped[bool | None] = mapped_column(Boolean)
    """Whether the reply carries its receipt in headers too (single writes) or in the body only (batches)."""
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
