"""Webhooks: subscriptions, turning ledger entries and passed deadlines into events for the subscriptions that
may see them, and one signed delivery attempt.

Delivery is at least once: an event keeps its id (the ``webhook-id`` header) on every attempt and redelivery,
so a receiver processes each event once by remembering the ids it has handled (Standard Webhooks).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from app.auth.models import OAuthClient
from app.cases.models import Case
from app.core.actor import Principal, Scope
from app.core.config import Environment, Settings
from app.core.db import utcnow
from app.core.problems import Forbidden, InvalidParam, NotFound, ValidationProblem
from app.ledger.models import LedgerEntry
from app.ledger.schemas import LedgerEntryRead, b64
from app.ledger.witnessing import Witnesses, latest_witnessed
from app.webhooks import repository
from app.webhooks.models import (
    DeadlineNotice,
    DeliveryState,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from app.webhooks.schemas import EventMessage, SubscriptionCreate, SubscriptionUpdate

EVENT_SCOPES: dict[EventType, Scope] = {
    EventType.CASE_CHANGED: Scope.CASES_READ,
    EventType.DEADLINE_PASSED: Scope.CASES_READ,
    EventType.FINDING_OPENED: Scope.RECONCILIATION_READ,
    EventType.CHECKPOINT_WITNESSED: Scope.LEDGER_READ,
}
"""The scope a client needs to be sent each event type (what it could read through the API anyway)."""
EVENT_NAMESPACE = uuid.UUID("8f7e4b4e-5c1a-4a39-9a57-2f3d0c8b6a10")
"""Event ids are UUIDv5 of what caused them: making an event twice (a retried round) names the same event."""
USER_AGENT = "SBT-Webhooks/1"


def event_type_of(entry: LedgerEntry) -> EventType | None:
    if entry.entry_type.startswith(("case.", "agency_record.")):
        return EventType.CASE_CHANGED
    if entry.entry_type in ("finding.opened", "finding.reopened"):
        return EventType.FINDING_OPENED
    return None


def _check_url(settings: Settings, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    try:
        loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        loopback = False
    if settings.environment is Environment.PRODUCTION or not loopback:
        reason = "must use https:// (plain http:// only to a loopback address outside production)"
        raise ValidationProblem(
            f"A webhook URL {reason}.", invalid_params=[InvalidParam(name="body.url", reason=reason)]
        )


def _check_scopes(principal: Principal, event_types: Iterable[EventType]) -> None:
    for event_type in event_types:
        needed = EVENT_SCOPES[event_type]
        if needed not in principal.scopes:
            raise Forbidden(f"Subscribing to {event_type.value} needs the {needed.value} scope.")


def create_subscription(
    session: Session, settings: Settings, principal: Principal, body: SubscriptionCreate
) -> WebhookSubscription:
    _check_url(settings, body.url)
    _check_scopes(principal, body.event_types)
    now = utcnow()
    subscription = WebhookSubscription(
        id=uuid.uuid4(),
        client_id=principal.client_id,
        url=body.url,
        secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        event_types=sorted(set(body.event_types)),
        agencies=None if body.agencies is None else sorted(set(body.agencies)),
        instansi_codes=None if body.instansi_codes is None else sorted(set(body.instansi_codes)),
        active=True,
        from_seq=repository.ledger_size(session),
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    session.flush()
    return subscription


def own_subscription(session: Session, principal: Principal, subscription_id: uuid.UUID) -> WebhookSubscription:
    """A subscription of the calling client: another client's is as absent as a missing one."""
    subscription = repository.get_subscription(session, subscription_id)
    if subscription is None or subscription.client_id != principal.client_id:
        raise NotFound(f"No webhook subscription {subscription_id} for this client.")
    return subscription


def update_subscription(
    session: Session, settings: Settings, principal: Principal, subscription_id: uuid.UUID, body: SubscriptionUpdate
) -> WebhookSubscription:
    subscription = own_subscription(session, principal, subscription_id)
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes:
        _check_url(settings, changes["url"])
    if "event_types" in changes:
        _check_scopes(principal, body.event_types or ())
        changes["event_types"] = sorted(set(changes["event_types"]))
    for field in ("agencies", "instansi_codes"):
        if changes.get(field) is not None:
            changes[field] = sorted(set(changes[field]))
    for field, value in changes.items():
        setattr(subscription, field, value)
    subscription.version += 1
    subscription.updated_at = utcnow()
    session.flush()
    return subscription


def delete_subscription(session: Session, principal: Principal, subscription_id: uuid.UUID) -> None:
    session.delete(own_subscription(session, principal, subscription_id))
    session.flush()


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Something that may become an event: what, when, about which case, caused by whom, and its data."""

    source_key: str
    event_type: EventType
    occurred_at: dt.datetime
    case_id: uuid.UUID | None
    agency: str | None
    instansi_code: str | None
    data: dict[str, Any]


def _wants(subscription: WebhookSubscription, client: OAuthClient, occurrence: Occurrence) -> bool:
    """The event types and scope always; the filters where the event has what they filter on (a deadline has no
    causing agency, a checkpoint no case)."""
    event_type = occurrence.event_type
    if event_type.value not in subscription.event_types or EVENT_SCOPES[event_type] not in client.scopes:
        return False
    if subscription.agencies is not None and occurrence.agency not in (None, *subscription.agencies):
        return False
    if subscription.instansi_codes is not None and occurrence.case_id is not None:
        return occurrence.instansi_code in subscription.instansi_codes
    return True


def fan_out(
    session: Session,
    occurrences: Sequence[Occurrence],
    subscriptions: Sequence[tuple[WebhookSubscription, OAuthClient]],
    now: dt.datetime,
    *,
    from_seq: int | None = None,
    keep_unwanted: bool = False,
) -> int:
    """Make the events the subscriptions want (and, with ``keep_unwanted``, also those nobody wants now) with one
    pending delivery per subscription; the number of deliveries made."""
    made = 0
    for occurrence in occurrences:
        wanted = [
            subscription
            for subscription, client in subscriptions
            if (from_seq is None or from_seq >= subscription.from_seq) and _wants(subscription, client, occurrence)
        ]
        if not wanted and not keep_unwanted:
            continue
        event = WebhookEvent(
            id=uuid.uuid5(EVENT_NAMESPACE, occurrence.source_key),
            event_type=occurrence.event_type.value,
            source_key=occurrence.source_key,
            case_id=occurrence.case_id,
            occurred_at=occurrence.occurred_at,
            data=occurrence.data,
            created_at=now,
        )
        session.add(event)
        session.flush()  # the event before its deliveries: no ORM relationship orders the two inserts
        session.add_all(
            WebhookDelivery(
                id=uuid.uuid4(),
                event_id=event.id,
                subscription_id=subscription.id,
                state=DeliveryState.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            for subscription in wanted
        )
        made += len(wanted)
    session.flush()
    return made


def events_from_ledger(session: Session, batch_size: int, now: dt.datetime) -> int:
    """Advance the ledger cursor over the next entries, making the events subscriptions want; deliveries made.

    One transaction: the cursor moves together with the events it made, so every entry becomes its events once.
    """
    cursor = repository.cursor(session)
    subscriptions = repository.live_subscriptions(session)
    if not subscriptions:  # nobody to tell: the cursor passes the entries without reading them
        cursor.last_seq = repository.last_seq_after(session, cursor.last_seq, batch_size) or cursor.last_seq
        return 0
    entries = repository.entries_after(session, cursor.last_seq, batch_size)
    if not entries:
        return 0
    made = 0
    instansi = repository.instansi_of_cases(session, {e.case_id for e in entries if e.case_id is not None})
    for entry in entries:
        event_type = event_type_of(entry)
        if event_type is None:
            continue
        occurrence = Occurrence(
            source_key=f"ledger:{entry.seq}",
            event_type=event_type,
            occurred_at=entry.recorded_at,
            case_id=entry.case_id,
            agency=entry.agency,
            instansi_code=instansi.get(entry.case_id) if entry.case_id is not None else None,
            data=LedgerEntryRead.of(entry).model_dump(mode="json"),
        )
        made += fan_out(session, [occurrence], subscriptions, now, from_seq=entry.seq)
    cursor.last_seq = entries[-1].seq
    return made


def announce_deadlines(session: Session, today: dt.date, batch_size: int, now: dt.datetime) -> int:
    """Announce each open case's passed stage deadline once (``deadline.passed``); deliveries made."""
    cases: Sequence[Case] = repository.newly_overdue(session, today, batch_size)
    if not cases:
        return 0
    subscriptions = repository.live_subscriptions(session)
    made = 0
    for case in cases:
        assert case.deadline_date is not None  # newly_overdue selects cases with a deadline
        key = f"deadline:{case.id}:{case.stage}:{case.deadline_date.isoformat()}"
        occurrence = Occurrence(
            source_key=key,
            event_type=EventType.DEADLINE_PASSED,
            occurred_at=now,
            case_id=case.id,
            agency=None,
            instansi_code=case.instansi_code,
            data={
                "case_id": str(case.id),
                "case_number": case.case_number,
                "stage": case.stage,
                "deadline_date": case.deadline_date.isoformat(),
                "instansi_code": case.instansi_code,
            },
        )
        made += fan_out(session, [occurrence], subscriptions, now, keep_unwanted=True)
        session.add(
            DeadlineNotice(
                case_id=case.id,
                stage=case.stage,
                deadline_date=case.deadline_date,
                event_id=uuid.uuid5(EVENT_NAMESPACE, key),
            )
        )
    session.flush()
    return made


def announce_witnessed(session: Session, witnesses: Witnesses, now: dt.datetime) -> int:
    """Announce the latest witnessed checkpoint once it is larger than the last one announced; deliveries made."""
    latest = latest_witnessed(session, witnesses)
    cursor = repository.witnessed_cursor(session)
    if latest is None or latest[0].tree_size <= cursor.last_seq:
        return 0
    checkpoint, note = latest
    cursor.last_seq = checkpoint.tree_size
    occurrence = Occurrence(
        source_key=f"witnessed:{checkpoint.tree_size}",
        event_type=EventType.CHECKPOINT_WITNESSED,
        occurred_at=now,
        case_id=None,
        agency=None,
        instansi_code=None,
        data={"tree_size": checkpoint.tree_size, "root_hash": b64(checkpoint.root_hash), "note": note},
    )
    return fan_out(session, [occurrence], repository.live_subscriptions(session), now)


def claim(session: Session, settings: Settings, now: dt.datetime) -> list[tuple[WebhookDelivery, WebhookEvent]]:
    """Take due deliveries for one attempt each: counted as attempted now, and due again when the claim lapses
    (a replica killed mid-attempt leaves it to another after ``SBT_WEBHOOK_CLAIM_SECONDS``)."""
    claimed = list(repository.claim_due(session, now, settings.webhook_batch_size))
    for delivery, _event in claimed:
        delivery.attempts += 1
        delivery.next_attempt_at = now + dt.timedelta(seconds=settings.webhook_claim_seconds)
    session.flush()
    return claimed


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    delivery_id: uuid.UUID
    attempted_at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def message_of(event: WebhookEvent) -> bytes:
    message = EventMessage(type=EventType(event.event_type), timestamp=event.occurred_at, data=event.data)
    return message.model_dump_json().encode()


def attempt(http: httpx.Client, url: str, secret: str, delivery_id: uuid.UUID, event: WebhookEvent) -> AttemptOutcome:
    """POST one event, signed with the subscription's secret (Standard Webhooks headers)."""
    body = message_of(event)
    attempted_at = utcnow()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": str(event.id),
        "webhook-timestamp": str(int(attempted_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(str(event.id), attempted_at, body.decode()),
    }
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        response = http.post(url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    return AttemptOutcome(delivery_id, attempted_at, status_code, error, round((time.perf_counter() - started) * 1000))


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Exponential backoff: the first retry after ``SBT_WEBHOOK_RETRY_BASE_SECONDS``, doubling, capped."""
    return float(min(settings.webhook_retry_base_seconds * 2 ** (attempts - 1), settings.webhook_retry_max_seconds))


def record_attempt(session: Session, settings: Settings, outcome: AttemptOutcome, now: dt.datetime) -> None:
    delivery = session.get(WebhookDelivery, outcome.delivery_id)
    if delivery is None:  # its subscription was deleted meanwhile
        return
    session.add(
        WebhookAttempt(
            id=uuid.uuid4(),
            delivery_id=delivery.id,
            attempted_at=outcome.attempted_at,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.delivered:
        delivery.state = DeliveryState.DELIVERED.value
        delivery.delivered_at = outcome.attempted_at
    elif delivery.attempts >= settings.webhook_max_attempts:
        delivery.state = DeliveryState.FAILED.value
    else:
        delivery.next_attempt_at = now + dt.timedelta(seconds=backoff_seconds(settings, delivery.attempts))
    session.flush()


def redeliver(
    session: Session, principal: Principal, delivery_id: uuid.UUID, now: dt.datetime
) -> tuple[WebhookDelivery, WebhookEvent]:
    """Try a delivery again now (delivered or failed), with a fresh attempt budget and the same event id."""
    found = repository.get_delivery(session, delivery_id)
    if found is None:
        raise NotFound(f"No webhook delivery {delivery_id}.")
    delivery, event = found
    own_subscription(session, principal, delivery.subscription_id)
    delivery.state = DeliveryState.PENDING.value
    delivery.attempts = 0
    delivery.next_attempt_at = now
    session.flush()
    return delivery, event
