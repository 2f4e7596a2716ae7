"""What the scheduler does each round, one orchestration function per job.

Every replica runs the scheduler. Jobs whose work must happen once per database (turning ledger entries into
webhook events, the deadline sweep, starting the periodic reconciliation) take a transaction-scoped advisory lock
for their round (``try_round_lock``): whichever replica gets it does the round, the others skip it, and a dead
replica's lock ends with its connection. Deliveries are shared out instead: each replica claims due deliveries
with ``FOR UPDATE SKIP LOCKED``, so all of them send at once without sending one delivery twice at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import httpx
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import ReadAudit
from app.auth.models import OAuthClient
from app.core.actor import Agency, Principal, Role
from app.core.clock import today_in_jakarta
from app.core.config import Settings
from app.core.db import transaction, try_round_lock, utcnow
from app.ledger.schemas import LedgerEntryRead
from app.ledger.witnessing import Witnesses
from app.reconciliation import repository as reconciliation_repository
from app.reconciliation import runner
from app.reconciliation.models import RunMode
from app.reconciliation.runner import FullRunActive
from app.webhooks import service as webhooks
from app.webhooks.models import EventType, WebhookEvent, WebhookSubscription

logger = logging.getLogger("sbt.scheduler")

WEBHOOK_EVENTS_LOCK_KEY = 0x5B7_0E7E
"""pg_try_advisory_xact_lock key of the round turning ledger entries into webhook events."""
DEADLINE_SWEEP_LOCK_KEY = 0x5B7_DEAD
RECONCILIATION_START_LOCK_KEY = 0x5B7_2EC0
WITNESSED_LOCK_KEY = 0x5B7_C051
SCHEDULER_CLIENT_ID = "sbt-scheduler"
"""Who the scheduler's FULL reconciliation runs name as requester."""


def make_webhook_events(factory: sessionmaker[Session], settings: Settings) -> int:
    """Turn the next ledger entries into webhook events and deliveries (one replica per round)."""
    with transaction(factory) as session:
        if not try_round_lock(session, WEBHOOK_EVENTS_LOCK_KEY):
            return 0
        return webhooks.events_from_ledger(session, settings.webhook_batch_size, utcnow())


def sweep_deadlines(factory: sessionmaker[Session], settings: Settings, today: dt.date | None = None) -> int:
    """Announce the stage deadlines passed since the last sweep (``deadline.passed``)."""
    with transaction(factory) as session:
        if not try_round_lock(session, DEADLINE_SWEEP_LOCK_KEY):
            return 0
        return webhooks.announce_deadlines(session, today or today_in_jakarta(), settings.webhook_batch_size, utcnow())


def announce_witnessed(factory: sessionmaker[Session], witnesses: Witnesses) -> int:
    """Announce a newly witnessed checkpoint (``checkpoint.witnessed``), once per database."""
    with transaction(factory) as session:
        if not try_round_lock(session, WITNESSED_LOCK_KEY):
            return 0
        return webhooks.announce_witnessed(session, witnesses, utcnow())


def queue_periodic_reconciliation(factory: sessionmaker[Session], settings: Settings) -> uuid.UUID | None:
    """Queue a FULL reconciliation when the last one was asked for an interval ago (or never); its id.

    The caller then runs it (``runner.execute_run``: its own transactions, batch by batch, as a run started
    through the API). A FULL run already active (someone asked for one) is left to finish.
    """
    if settings.reconciliation_interval_seconds == 0:
        return None
    with transaction(factory) as session:
        if not try_round_lock(session, RECONCILIATION_START_LOCK_KEY):
            return None
        last = reconciliation_repository.last_full_run_requested_at(session)
        if last is not None and utcnow() - last < dt.timedelta(seconds=settings.reconciliation_interval_seconds):
            return None
        try:
            run = runner.create_run(
                session,
                SCHEDULER_CLIENT_ID,
                RunMode.FULL,
                None,
                None,
                True,
                stale_seconds=settings.reconciliation_run_stale_seconds,
            )
        except FullRunActive:
            return None
        return run.id


def deliver_webhooks(factory: sessionmaker[Session], settings: Settings, http: httpx.Client) -> int:
    """Attempt the due deliveries this replica claims; how many were delivered.

    Claim (commit), send, then record each answer in its own transaction: no transaction stays open while a
    receiver takes its time, and a replica killed after sending leaves the delivery to be sent again when its
    claim lapses, with the same ``webhook-id`` (at least once).
    """
    with transaction(factory) as session:
        claimed = webhooks.claim(session, settings, utcnow())
        targets = {d.subscription_id: session.get(WebhookSubscription, d.subscription_id) for d, _ in claimed}
    delivered = 0
    for delivery, event in claimed:
        subscription = targets[delivery.subscription_id]
        if subscription is None:
            continue
        outcome = webhooks.attempt(http, subscription.url, subscription.secret, delivery.id, event)
        with transaction(factory) as session:
            webhooks.record_attempt(session, settings, outcome, utcnow())
            if outcome.delivered:
                _audit_delivery(session, settings, subscription, event)
                delivered += 1
    return delivered


def _audit_delivery(
    session: Session, settings: Settings, subscription: WebhookSubscription, event: WebhookEvent
) -> None:
    """A delivered event gave its receiver the NIPs and names in it: recorded like a read of the change feed."""
    if event.event_type not in (EventType.CASE_CHANGED, EventType.FINDING_OPENED):
        return  # a deadline (case id, number, stage, date) or a checkpoint: no personal data
    client = session.get(OAuthClient, subscription.client_id)
    if client is None:
        return
    principal = Principal(
        client_id=client.client_id,
        role=Role(client.role),
        scopes=client.scopes,
        agency=Agency(client.agency) if client.agency else None,
    )
    audit = ReadAudit(session, principal, settings.secret_key, str(event.id), None, f"webhook:{event.event_type}")
    audit.entries([LedgerEntryRead.model_validate(event.data)])
