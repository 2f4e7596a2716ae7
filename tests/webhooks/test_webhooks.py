"""Webhooks over HTTP: subscriptions of one's own, events signed by the Standard Webhooks scheme, retried with
backoff, logged, redelivered with the same id, filtered, and deadlines announced once."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from app.api.scheduler import BackgroundScheduler
from app.core.actor import Scope
from app.core.config import Settings
from app.flows import scheduler as jobs
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload
from tests.problems import assert_problem
from tests.webhooks.receiver import Receiver, ReceiverServer

WEBHOOKS = "/api/v1/webhooks"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Retries come quickly so a test can wait for them; a delivery has three attempts.
    return settings.model_copy(
        update={"webhook_retry_base_seconds": 0.05, "webhook_retry_max_seconds": 0.2, "webhook_max_attempts": 3}
    )


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    found = Receiver()
    with ReceiverServer(found) as server:
        yield found, server.url


def scheduler(app: FastAPI) -> BackgroundScheduler:
    found: BackgroundScheduler = app.state.scheduler
    return found


def rounds_until(app: FastAPI, done: Any, limit: float = 10.0) -> None:
    """Run scheduler rounds until ``done()`` holds (retries wait their backoff in real time)."""
    deadline = time.monotonic() + limit
    while not done():
        assert time.monotonic() < deadline, "the scheduler did not get there"
        scheduler(app).run_once()
        time.sleep(0.02)


def subscribe(client: TestClient, headers: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
    response = client.post(WEBHOOKS, json={"url": url, "event_types": ["case.changed"], **fields}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliveries(client: TestClient, headers: dict[str, str], subscription_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{WEBHOOKS}/{subscription_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_subscription_belongs_to_its_client(client: TestClient, auth_headers: AuthHeaders) -> None:
    bkn = auth_headers("BKN")
    created = client.post(
        WEBHOOKS, json={"url": "https://bkn.example.id/hooks", "event_types": ["case.changed"]}, headers=bkn
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert created.headers["Location"] == f"{WEBHOOKS}/{subscription['id']}"
    assert created.headers["ETag"] == '"1"'
    assert subscription["secret"].startswith("whsec_")
    assert subscription["client_id"] == "test-bkn"

    listed = client.get(WEBHOOKS, headers=bkn).json()
    assert [s["id"] for s in listed] == [subscription["id"]]
    assert "secret" not in listed[0]
    path = f"{WEBHOOKS}/{subscription['id']}"
    assert_problem(client.get(path, headers=auth_headers("KEMENDAGRI")), 404)
    assert client.get(WEBHOOKS, headers=auth_headers("KEMENDAGRI")).json() == []

    assert_problem(client.patch(path, json={"active": False}, headers=bkn), 428)
    assert_problem(client.patch(path, json={"active": False}, headers=bkn | {"If-Match": '"7"'}), 412)
    paused = client.patch(path, json={"active": False, "instansi_codes": ["73.06"]}, headers=bkn | {"If-Match": '"1"'})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["active"], paused.json()["instansi_codes"], paused.headers["ETag"]) == (
        False,
        ["73.06"],
        '"2"',
    )

    assert client.delete(path, headers=bkn).status_code == 204
    assert_problem(client.get(path, headers=bkn), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://bkn.example.id/hooks", "event_types": ["case.changed"]}, "body.url"),
        ({"url": "https://bkn.example.id/hooks", "event_types": []}, "body.event_types"),
        ({"url": "https://bkn.example.id/hooks", "event_types": ["case.deleted"]}, "body.event_types.0"),
        ({"url": "https://bkn.example.id/hooks", "event_types": ["case.changed"], "secret": "mine"}, "body.secret"),
    ],
)
def test_bad_subscriptions_are_422_naming_the_field(
    client: TestClient, auth_headers: AuthHeaders, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(client.post(WEBHOOKS, json=body, headers=auth_headers("BKN")), 422)
    assert field in [param["name"] for param in problem["invalid_params"]]


def test_an_event_type_needs_the_scope_to_read_it(client: TestClient, auth_headers: AuthHeaders) -> None:
    narrow = auth_headers("BKN", scopes=[Scope.WEBHOOKS_MANAGE, Scope.CASES_READ])
    body = {"url": "https://bkn.example.id/hooks", "event_types": ["finding.opened"]}
    problem = assert_problem(client.post(WEBHOOKS, json=body, headers=narrow), 403)
    assert "reconciliation:read" in problem["detail"]


def test_a_change_is_delivered_signed_retried_and_logged(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    got.fail_first = 2
    bkn = auth_headers("BKN")
    subscription = subscribe(client, bkn, url)
    created = client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU"))
    assert created.status_code == 201, created.text
    case = created.json()

    rounds_until(app, lambda: len(got.processed) == 1)

    assert len(got.requests) == 3, "two failures, then the delivery"
    assert {r.event_id for r in got.requests} == set(got.processed), "every attempt carries the same webhook-id"
    [delivered] = got.processed.values()
    verified = Webhook(subscription["secret"]).verify(delivered.body, delivered.headers)
    assert verified["type"] == "case.changed"
    assert verified["data"]["entry_type"] == "case.created"
    assert verified["data"]["case_id"] == case["id"]
    assert verified["data"]["seq"] == case["receipt"]["entries"][0]["seq"]
    assert verified["data"]["payload"]["case"]["nip"] == case["nip"]
    assert delivered.headers["content-type"] == "application/json"

    [logged] = deliveries(client, bkn, subscription["id"])
    assert logged["event_id"] == delivered.event_id
    assert (logged["event_type"], logged["state"], logged["attempts"], logged["last_status_code"]) == (
        "case.changed",
        "DELIVERED",
        3,
        204,
    )
    assert logged["next_attempt_at"] is None

    # The receiver was given a NIP: the read log says so, as for a read of the change feed.
    trail = client.get("/api/v1/audit/read-log", params={"nip": case["nip"]}, headers=auth_headers("auditor"))
    operations = [(e["client_id"], e["operation"]) for e in trail.json()["items"]]
    assert ("test-bkn", "webhook:case.changed") in operations


def test_a_failed_delivery_is_redelivered_with_the_same_id(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    got.failing = True
    kemendagri = auth_headers("KEMENDAGRI")
    subscription = subscribe(client, kemendagri, url)
    assert client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU")).status_code == 201

    def states() -> list[str]:
        return [d["state"] for d in deliveries(client, kemendagri, subscription["id"])]

    rounds_until(app, lambda: states() == ["FAILED"])
    [failed] = deliveries(client, kemendagri, subscription["id"])
    assert (failed["attempts"], failed["last_status_code"], failed["last_error"]) == (3, 500, "HTTP 500")
    assert len(got.requests) == 3
    scheduler(app).run_once()
    assert len(got.requests) == 3, "a failed delivery is not retried by itself"

    got.failing = False
    assert_problem(
        client.post(f"/api/v1/webhook-deliveries/{failed['id']}/redeliver", headers=auth_headers("BKN")), 404
    )
    again = client.post(f"/api/v1/webhook-deliveries/{failed['id']}/redeliver", headers=kemendagri)
    assert again.status_code == 200, again.text
    assert (again.json()["state"], again.json()["attempts"]) == ("PENDING", 0)
    rounds_until(app, lambda: len(got.processed) == 1)
    assert list(got.processed) == [failed["event_id"]]
    assert deliveries(client, kemendagri, subscription["id"])[0]["state"] == "DELIVERED"


def test_filters_and_history(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    bawaslu = auth_headers("BAWASLU")
    before = client.post("/api/v1/cases", json=case_payload(instansi_code="73.06"), headers=bawaslu).json()
    gowa = subscribe(client, auth_headers("KEMENDAGRI"), url, instansi_codes=["73.06"])
    jakarta = subscribe(client, auth_headers("BKN"), url, instansi_codes=["31.71"])
    by_bkn = subscribe(client, auth_headers("auditor"), url, agencies=["BKN"])
    after = client.post("/api/v1/cases", json=case_payload(instansi_code="73.06"), headers=bawaslu).json()

    rounds_until(app, lambda: len(got.processed) == 1)
    scheduler(app).run_once()
    [only] = got.processed.values()
    assert only.message["data"]["case_id"] == after["id"], "the case created before subscribing is history"
    assert before["id"] != after["id"]
    assert len(deliveries(client, auth_headers("KEMENDAGRI"), gowa["id"])) == 1
    assert deliveries(client, auth_headers("BKN"), jakarta["id"]) == []
    assert deliveries(client, auth_headers("auditor"), by_bkn["id"]) == []


def test_a_passed_deadline_is_announced_once(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    subscription = subscribe(client, auth_headers("BAWASLU"), url, event_types=["deadline.passed"])
    case = client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU")).json()
    deadline = dt.date.fromisoformat(case["deadline_date"])
    factory = app.state.sessionmaker

    assert jobs.sweep_deadlines(factory, settings, today=deadline) == 0, "not passed on its last day"
    assert jobs.sweep_deadlines(factory, settings, today=deadline + dt.timedelta(days=1)) == 1
    assert jobs.sweep_deadlines(factory, settings, today=deadline + dt.timedelta(days=2)) == 0, "announced once"
    rounds_until(app, lambda: len(got.processed) == 1)
    [announced] = got.processed.values()
    assert announced.message["type"] == "deadline.passed"
    assert announced.message["data"] == {
        "case_id": case["id"],
        "case_number": case["case_number"],
        "stage": case["stage"],
        "deadline_date": case["deadline_date"],
        "instansi_code": case["instansi_code"],
    }
    assert Webhook(subscription["secret"]).verify(announced.body, announced.headers)


def test_an_opened_finding_is_an_event(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, receiver: tuple[Receiver, str]
) -> None:
    got, url = receiver
    subscribe(client, auth_headers("auditor"), url, event_types=["finding.opened"])
    case = client.post("/api/v1/cases", json=case_payload(name="Budi Santoso"), headers=auth_headers("BAWASLU"))
    record = {"nip": case.json()["nip"], "name": "Budi Susanto", "stage": "DITERIMA"}
    assert (
        client.post(f"/api/v1/cases/{case.json()['id']}/records", json=record, headers=auth_headers("BKN")).status_code
        == 201
    )

    rounds_until(app, lambda: len(got.processed) >= 1)
    scheduler(app).run_once()
    opened = [r.message["data"] for r in got.processed.values()]
    assert {(d["entry_type"], d["case_id"]) for d in opened} == {("finding.opened", case.json()["id"])}
    assert "NAME_MISMATCH" in {d["payload"]["rule"] for d in opened}


def test_the_scheduler_starts_the_periodic_reconciliation_when_due(app: FastAPI, settings: Settings) -> None:
    due = settings.model_copy(update={"reconciliation_interval_seconds": 3600})
    factory = app.state.sessionmaker
    first = jobs.queue_periodic_reconciliation(factory, due)
    assert first is not None
    assert jobs.queue_periodic_reconciliation(factory, due) is None, "asked for less than an interval ago"
    assert jobs.queue_periodic_reconciliation(factory, settings) is None, "0: the scheduler starts none"
