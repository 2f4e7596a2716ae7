"""Authorization matrix rows: webhook subscriptions (webhooks:manage, each client its own) and their deliveries."""

from __future__ import annotations

import uuid

from tests.authz import Call, CallFactory, MatrixContext, Row, statuses

WEBHOOKS = "/api/v1/webhooks"
RECEIVER = "http://127.0.0.1:9/sbt-webhooks"
"""A loopback URL (accepted outside production); nothing listens there, and these rows send nothing."""
MANAGERS = statuses(anonymous=401, agencies=200, auditor=200, admin=403)
NO_SUBSCRIPTION = ("anonymous", "admin", "KASN")
"""Identities refused before any subscription is looked at (KASN: a retired agency's tokens are refused)."""


def subscription_body() -> dict[str, object]:
    return {"url": RECEIVER, "event_types": ["case.changed"]}


def _create(context: MatrixContext, who: str) -> Call:
    del context, who
    return Call(WEBHOOKS, json=subscription_body())


def _own_subscription(suffix: str, purpose: str) -> CallFactory:
    """The caller's own subscription (one per identity and row: a DELETE must not remove the others' target)."""

    def call(context: MatrixContext, who: str) -> Call:
        if who in NO_SUBSCRIPTION:
            return Call(f"{WEBHOOKS}/{uuid.uuid4()}{suffix}")

        def create() -> str:
            created = context.client.post(WEBHOOKS, json=subscription_body(), headers=context.headers(who))
            assert created.status_code == 201, created.text
            subscription_id: str = created.json()["id"]
            return subscription_id

        subscription_id = context.remember(f"webhook-{purpose}-{who}", create)
        return Call(f"{WEBHOOKS}/{subscription_id}{suffix}", json={"active": False}, headers={"If-Match": "*"})

    return call


def _unknown_delivery(context: MatrixContext, who: str) -> Call:
    del context, who
    return Call(f"/api/v1/webhook-deliveries/{uuid.uuid4()}/redeliver")


ROWS = [
    Row("POST", WEBHOOKS, statuses(anonymous=401, agencies=201, auditor=201, admin=403), _create),
    Row("GET", WEBHOOKS, MANAGERS),
    Row("GET", f"{WEBHOOKS}/{{subscription_id}}", MANAGERS, _own_subscription("", "read")),
    Row("PATCH", f"{WEBHOOKS}/{{subscription_id}}", MANAGERS, _own_subscription("", "update")),
    Row(
        "DELETE",
        f"{WEBHOOKS}/{{subscription_id}}",
        statuses(anonymous=401, agencies=204, auditor=204, admin=403),
        _own_subscription("", "delete"),
    ),
    Row(
        "GET",
        f"{WEBHOOKS}/{{subscription_id}}/deliveries",
        MANAGERS,
        _own_subscription("/deliveries", "deliveries"),
    ),
    Row(
        "POST",
        "/api/v1/webhook-deliveries/{delivery_id}/redeliver",
        statuses(anonymous=401, agencies=404, auditor=404, admin=403),
        _unknown_delivery,
    ),
]
