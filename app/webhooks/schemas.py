"""Webhook subscriptions, deliveries and the payload receivers get."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.cases.schemas import InstansiCode
from app.core.actor import Agency
from app.core.schemas import InputSchema, ReadSchema
from app.webhooks.models import DeliveryState, EventType, WebhookDelivery, WebhookSubscription

WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://[^\s/?#]+[^\s]*$"),
    Field(
        description="Where SBT POSTs the events: `https://` (plain `http://` only to a loopback address outside "
        "production). It must answer 2xx within the timeout; anything else is retried with backoff.",
        examples=["https://sipinter.kemendagri.go.id/sbt/webhooks"],
    ),
]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]


class SubscriptionCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "url": "https://sipinter.kemendagri.go.id/sbt/webhooks",
                "event_types": ["case.changed", "deadline.passed"],
                "instansi_codes": ["73.06"],
            }
        }
    )

    url: WebhookUrl
    event_types: EventTypes
    agencies: list[Agency] | None = Field(
        default=None,
        max_length=len(Agency),
        description="Only events caused by these agencies (omit: any); a passed deadline or a witnessed checkpoint, "
        "which no agency causes, is not filtered out.",
    )
    instansi_codes: list[InstansiCode] | None = Field(
        default=None,
        min_length=1,
        max_length=600,
        description="Only events about cases of these instansi (a witnessed checkpoint, about no case, is sent).",
    )


class SubscriptionUpdate(InputSchema):
    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    agencies: list[Agency] | None = Field(default=None, max_length=len(Agency))
    instansi_codes: list[InstansiCode] | None = Field(default=None, min_length=1, max_length=600)
    active: bool | None = Field(default=None, description="False pauses deliveries; events meanwhile are kept.")


class SubscriptionRead(ReadSchema):
    id: uuid.UUID
    client_id: str
    url: str
    event_types: list[EventType]
    agencies: list[Agency] | None
    instansi_codes: list[str] | None
    active: bool
    from_seq: int = Field(description="Ledger entries from this position on become events.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> SubscriptionRead:
        return cls.model_validate(subscription)


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(
        description="The signing secret (Standard Webhooks, `whsec_` + base64), shown only now: verify "
        "`webhook-signature` with it.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class DeliveryRead(ReadSchema):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The `webhook-id` header: the same on every attempt; dedupe on it.")
    event_type: EventType
    subscription_id: uuid.UUID
    state: DeliveryState
    attempts: int
    next_attempt_at: dt.datetime | None = Field(description="When it is tried next (null once delivered or failed).")
    last_status_code: int | None
    last_error: str | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery, event_type: str) -> DeliveryRead:
        pending = delivery.state == DeliveryState.PENDING
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            event_type=EventType(event_type),
            subscription_id=delivery.subscription_id,
            state=DeliveryState(delivery.state),
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]


class EventMessage(BaseModel):
    """The body of every webhook request (Standard Webhooks: ``type``, ``timestamp``, ``data``)."""

    type: EventType
    timestamp: dt.datetime = Field(description="When the event happened (UTC).")
    data: dict[str, Any] = Field(
        description="`case.changed` and `finding.opened`: the ledger entry (as `GET /api/v1/changes` lists it, "
        "provable against a checkpoint). `deadline.passed`: the case id, number, stage and deadline. "
        "`checkpoint.witnessed`: its tree size, root hash and note with the witnesses' cosignature lines."
    )
