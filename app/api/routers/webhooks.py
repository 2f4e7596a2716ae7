"""Webhook subscriptions of the calling client and their delivery log.

A client manages only its own subscriptions; another client's are 404, as if absent. The secret is shown once,
when the subscription is created. Events are sent as Standard Webhooks requests (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``); see the README's "Webhooks" section for how to verify them.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.dependencies.auth import require
from app.api.dependencies.context import SessionDep, SettingsDep
from app.api.parameters import IfMatchHeader
from app.api.problems import problem_responses
from app.api.responses import declared_headers
from app.core.actor import Principal, Scope
from app.core.db import utcnow
from app.core.etag import check_if_match, etag_of
from app.webhooks import repository, service
from app.webhooks.models import DeliveryState
from app.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
    SubscriptionUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=problem_responses(400, 401, 403, 422))
deliveries_router = APIRouter(
    prefix="/webhook-deliveries", tags=["webhooks"], responses=problem_responses(400, 401, 403, 422)
)

Manager = Annotated[Principal, require(Scope.WEBHOOKS_MANAGE)]


@router.post(
    "",
    summary="Subscribe to events (the signing secret is returned once)",
    status_code=status.HTTP_201_CREATED,
    responses=declared_headers(201, "Location", "ETag"),
)
def create_webhook(
    body: SubscriptionCreate, session: SessionDep, settings: SettingsDep, principal: Manager, response: Response
) -> SubscriptionCreated:
    subscription = service.create_subscription(session, settings, principal, body)
    response.headers["Location"] = f"/api/v1/webhooks/{subscription.id}"
    response.headers["ETag"] = etag_of(subscription.version)
    response.headers["Cache-Control"] = "no-store"
    return SubscriptionCreated(**SubscriptionRead.of(subscription).model_dump(), secret=subscription.secret)


@router.get("", summary="List the calling client's webhook subscriptions")
def list_webhooks(session: SessionDep, principal: Manager) -> list[SubscriptionRead]:
    return [SubscriptionRead.of(s) for s in repository.subscriptions_of(session, principal.client_id)]


@router.get(
    "/{subscription_id}",
    summary="Get one webhook subscription (with its ETag)",
    responses=problem_responses(404) | declared_headers(200, "ETag"),
)
def get_webhook(
    subscription_id: uuid.UUID, session: SessionDep, principal: Manager, response: Response
) -> SubscriptionRead:
    subscription = service.own_subscription(session, principal, subscription_id)
    response.headers["ETag"] = etag_of(subscription.version)
    return SubscriptionRead.of(subscription)


@router.patch(
    "/{subscription_id}",
    summary="Change a webhook subscription (URL, events, filters, paused or active)",
    responses=problem_responses(404, 412, 428) | declared_headers(200, "ETag"),
)
def update_webhook(
    subscription_id: uuid.UUID,
    body: SubscriptionUpdate,
    session: SessionDep,
    settings: SettingsDep,
    principal: Manager,
    response: Response,
    if_match: IfMatchHeader = None,
) -> SubscriptionRead:
    check_if_match(if_match, service.own_subscription(session, principal, subscription_id).version)
    subscription = service.update_subscription(session, settings, principal, subscription_id, body)
    response.headers["ETag"] = etag_of(subscription.version)
    return SubscriptionRead.of(subscription)


@router.delete(
    "/{subscription_id}",
    summary="Delete a webhook subscription and its delivery log",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404),
)
def delete_webhook(subscription_id: uuid.UUID, session: SessionDep, principal: Manager) -> Response:
    service.delete_subscription(session, principal, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{subscription_id}/deliveries",
    summary="The delivery log of a subscription, newest first",
    responses=problem_responses(404),
)
def list_webhook_deliveries(
    subscription_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    principal: Manager,
    state: Annotated[DeliveryState | None, Query(description="Only deliveries in this state")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500, description="Most deliveries returned (default 50)")] = None,
) -> DeliveryPage:
    service.own_subscription(session, principal, subscription_id)
    rows = repository.deliveries_of(session, subscription_id, state, limit or settings.page_size_default)
    return DeliveryPage(items=[DeliveryRead.of(delivery, event_type) for delivery, event_type in rows])


@deliveries_router.post(
    "/{delivery_id}/redeliver",
    summary="Send a delivery again now, with the same event id (delivered or failed)",
    responses=problem_responses(404),
)
def redeliver_webhook(delivery_id: uuid.UUID, session: SessionDep, principal: Manager) -> DeliveryRead:
    delivery, event = service.redeliver(session, principal, delivery_id, utcnow())
    return DeliveryRead.of(delivery, event.event_type)
