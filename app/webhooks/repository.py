"""Queries of webhooks: subscriptions, the ledger cursor, due deliveries, deadlines not yet announced."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from app.auth.models import OAuthClient
from app.cases.models import Case
from app.ledger.models import LedgerEntry
from app.webhooks.models import (
    DeadlineNotice,
    DeliveryState,
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

LEDGER_CURSOR = "ledger"
WITNESSED_CURSOR = "witnessed"


def subscriptions_of(session: Session, client_id: str) -> Sequence[WebhookSubscription]:
    return session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.client_id == client_id)
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    ).all()


def get_subscription(session: Session, subscription_id: uuid.UUID) -> WebhookSubscription | None:
    return session.get(WebhookSubscription, subscription_id)


def live_subscriptions(session: Session) -> Sequence[tuple[WebhookSubscription, OAuthClient]]:
    """Active subscriptions of active clients, with the client (its scopes decide what it may be sent)."""
    rows = session.execute(
        select(WebhookSubscription, OAuthClient)
        .join(OAuthClient, OAuthClient.client_id == WebhookSubscription.client_id)
        .where(WebhookSubscription.active.is_(True), OAuthClient.active.is_(True))
        .order_by(WebhookSubscription.id)
    ).all()
    return [(subscription, client) for subscription, client in rows]


def ledger_size(session: Session) -> int:
    last = session.scalar(select(func.max(LedgerEntry.seq)))
    return 0 if last is None else int(last) + 1


def cursor(session: Session) -> WebhookCursor:
    """The ledger cursor, locked for this round (PostgreSQL). Created the first time just before the oldest
    subscription's first entry (or at the ledger's end when there is none yet)."""
    row = session.scalars(select(WebhookCursor).where(WebhookCursor.name == LEDGER_CURSOR).with_for_update()).first()
    if row is None:
        oldest = session.scalar(select(func.min(WebhookSubscription.from_seq)))
        row = WebhookCursor(name=LEDGER_CURSOR, last_seq=(ledger_size(session) if oldest is None else oldest) - 1)
        session.add(row)
        session.flush()
    return row


def witnessed_cursor(session: Session) -> WebhookCursor:
    """The tree size of the last announced witnessed checkpoint, locked for this round; 0 the first time."""
    row = session.scalars(select(WebhookCursor).where(WebhookCursor.name == WITNESSED_CURSOR).with_for_update()).first()
    if row is None:
        row = WebhookCursor(name=WITNESSED_CURSOR, last_seq=0)
        session.add(row)
        session.flush()
    return row


def entries_after(session: Session, after_seq: int, limit: int) -> Sequence[LedgerEntry]:
    return session.scalars(
        select(LedgerEntry).where(LedgerEntry.seq > after_seq).order_by(LedgerEntry.seq).limit(limit)
    ).all()


def last_seq_after(session: Session, after_seq: int, limit: int) -> int | None:
    """The seq ``limit`` entries after ``after_seq`` (or the last one, if fewer follow); None if none follows."""
    following = select(LedgerEntry.seq).where(LedgerEntry.seq > after_seq).order_by(LedgerEntry.seq).limit(limit)
    last: int | None = session.scalar(select(func.max(following.subquery().c.seq)))
    return last


def instansi_of_cases(session: Session, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    if not case_ids:
        return {}
    rows = session.execute(select(Case.id, Case.instansi_code).where(Case.id.in_(case_ids)))
    return {case_id: code for case_id, code in rows}  # noqa: C416 (rows are Row objects, typed pairs only so)


def newly_overdue(session: Session, today: dt.date, limit: int) -> Sequence[Case]:
    """Open cases past their stage deadline whose deadline has not been announced yet."""
    announced = exists().where(
        DeadlineNotice.case_id == Case.id,
        DeadlineNotice.stage == Case.stage,
        DeadlineNotice.deadline_date == Case.deadline_date,
    )
    return session.scalars(
        select(Case).where(Case.deadline_date < today, ~announced).order_by(Case.deadline_date, Case.id).limit(limit)
    ).all()


def claim_due(session: Session, now: dt.datetime, limit: int) -> Sequence[tuple[WebhookDelivery, WebhookEvent]]:
    """Pending deliveries due now, oldest first, locked so that another replica skips them (PostgreSQL)."""
    due = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.state == DeliveryState.PENDING.value, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    events = events_by_id(session, {delivery.event_id for delivery in due})
    return [(delivery, events[delivery.event_id]) for delivery in due]


def events_by_id(session: Session, event_ids: set[uuid.UUID]) -> dict[uuid.UUID, WebhookEvent]:
    if not event_ids:
        return {}
    return {event.id: event for event in session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(event_ids)))}


def get_delivery(session: Session, delivery_id: uuid.UUID) -> tuple[WebhookDelivery, WebhookEvent] | None:
    row = session.execute(
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id)
    ).first()
    return None if row is None else (row[0], row[1])


def deliveries_of(
    session: Session, subscription_id: uuid.UUID, state: DeliveryState | None, limit: int
) -> Sequence[tuple[WebhookDelivery, str]]:
    query = (
        select(WebhookDelivery, WebhookEvent.event_type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
    )
    if state is not None:
        query = query.where(WebhookDelivery.state == state.value)
    return [(delivery, event_type) for delivery, event_type in session.execute(query)]


def attempts_of(session: Session, delivery_id: uuid.UUID) -> Sequence[WebhookAttempt]:
    return session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.attempted_at)
    ).all()
