"""Webhook subscriptions, the events to deliver (the outbox), deliveries and their attempts."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import GUID, Base, TZDateTime, utcnow


class EventType(enum.StrEnum):
    CASE_CHANGED = "case.changed"
    """A case or an agency's record of it was created or changed (the ledger entry is the event's data)."""
    FINDING_OPENED = "finding.opened"
    """Reconciliation opened (or reopened) a finding: the agencies disagree about a case."""
    DEADLINE_PASSED = "deadline.passed"
    """An open case passed its stage deadline (the scheduler's deadline sweep, Asia/Jakarta dates)."""
    CHECKPOINT_WITNESSED = "checkpoint.witnessed"
    """A larger checkpoint gathered its witnesses' quorum of cosignatures (the cosigned note is the data)."""


class DeliveryState(enum.StrEnum):
    PENDING = "PENDING"
    """Waiting for its next attempt (``next_attempt_at``), or being attempted."""
    DELIVERED = "DELIVERED"
    """The receiver answered 2xx."""
    FAILED = "FAILED"
    """Every attempt failed; ``POST /webhook-deliveries/{id}/redeliver`` tries again."""


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscription"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_client.client_id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    """``whsec_`` + base64 of 32 random bytes: SBT needs it to sign, so it is stored (never returned again)."""
    event_types: Mapped[list[str]] = mapped_column(JSON)
    agencies: Mapped[list[str] | None] = mapped_column(JSON)
    """Only events caused by these agencies (None: any)."""
    instansi_codes: Mapped[list[str] | None] = mapped_column(JSON)
    """Only events about cases of these instansi (None: any)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    from_seq: Mapped[int] = mapped_column(Integer)
    """Ledger size when subscribed: earlier entries are history (the change feed has them), not events."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class WebhookEvent(Base):
    """The outbox: one row per event, whoever it goes to; its id is the ``webhook-id`` every attempt carries."""

    __tablename__ = "webhook_event"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(40))
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    """What caused it (``ledger:<seq>``, ``deadline:<case>:<stage>:<date>``): an event is made once."""
    case_id: Mapped[uuid.UUID | None] = mapped_column(GUID, index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(TZDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_webhook_delivery_due", "state", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_event.id"))
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(TZDateTime)
    """When it may be attempted next; while an attempt runs, when its claim lapses (a killed replica's claim)."""
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime, default=utcnow)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempt"

    id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True, default=uuid.uuid4)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[dt.datetime] = mapped_column(TZDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)


class WebhookCursor(Base):
    """How far events have been made: into the ledger (``name='ledger'``, the last entry's seq) and into the
    witnessed checkpoints (``name='witnessed'``, the last announced tree size)."""

    __tablename__ = "webhook_cursor"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class DeadlineNotice(Base):
    """A stage deadline already announced: the sweep announces each (case, stage, deadline) once."""

    __tablename__ = "deadline_notice"

    case_id: Mapped[uuid.UUID] = mapped_column(GUID, primary_key=True)
    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    deadline_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_event.id"))
