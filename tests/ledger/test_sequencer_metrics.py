"""The sequencer seen by operators: ``/metrics`` shows the writes waiting for their positions, the age of the
oldest, and each round's duration and batch size; ``/ready`` is degraded once the oldest has waited too long."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.db import transaction
from app.ledger import sequencer
from app.ledger.schemas import LedgerChange
from tests.auth_helpers import AuthHeaders
from tests.core.test_metrics import TOKEN, moved, scrape, value
from tests.factories import case_payload
from tests.ledger.factories import write_context


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_enabled": True, "metrics_token": TOKEN})


def _leave_pending(app: FastAPI, count: int) -> None:
    """Committed writes no round has integrated yet (nobody waits for them: no round runs)."""
    for number in range(count):
        with transaction(app.state.sessionmaker) as session:
            change = LedgerChange("case.created", {"number": number})
            assert sequencer.record_changes(session, app.state.settings, write_context(), [change]) is not None


def test_the_backlog_shows_in_metrics_and_degrades_ready_until_a_round_integrates_it(app: FastAPI) -> None:
    client = TestClient(app)  # not started: no integrator thread drains the backlog meanwhile
    idle = scrape(client)
    assert value(idle, "sbt_ledger_pending_writes") == 0
    assert value(idle, "sbt_ledger_pending_oldest_seconds") == 0
    assert client.get("/ready").json() == {"status": "ready"}

    _leave_pending(app, 3)
    waiting = scrape(client)
    assert value(waiting, "sbt_ledger_pending_writes") == 3
    assert value(waiting, "sbt_ledger_pending_oldest_seconds") > 0
    assert client.get("/ready").json() == {"status": "ready"}, "within SBT_LEDGER_BACKLOG_DEGRADED_SECONDS"
    app.state.settings = app.state.settings.model_copy(update={"ledger_backlog_degraded_seconds": 0.000001})
    ready = client.get("/ready")
    assert ready.status_code == 200, "degraded, still in rotation"
    body = ready.json()
    assert body["status"] == "degraded", body
    assert body["ledger_sequencer"]["pending_writes"] == 3
    assert body["ledger_sequencer"]["oldest_seconds"] > 0

    app.state.sequencer.drain()
    drained = scrape(client)
    assert value(drained, "sbt_ledger_pending_writes") == 0
    assert value(drained, "sbt_ledger_pending_oldest_seconds") == 0
    assert moved(waiting, drained, "sbt_ledger_round_writes_sum") == 3, "one round took the three writes"
    assert moved(waiting, drained, "sbt_ledger_round_writes_count") == 1
    assert moved(waiting, drained, "sbt_ledger_round_entries_sum") == 3
    assert client.get("/ready").json() == {"status": "ready"}


def test_each_round_that_integrates_is_observed_with_its_duration_and_size(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    before = scrape(client)
    items = [case_payload() for _ in range(4)]
    assert client.post("/api/v1/cases:batch", json={"items": items}, headers=auth_headers("BAWASLU")).status_code == 200
    assert client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU")).status_code == 201
    after = scrape(client)
    rounds = moved(before, after, "sbt_ledger_round_duration_seconds_count")
    assert rounds >= 2, "the batch's round and the single write's (the outbox's findings may add rounds)"
    assert moved(before, after, "sbt_ledger_round_writes_count") == rounds
    assert moved(before, after, "sbt_ledger_round_entries_sum") >= 5, "four cases in one write, then one"
    assert 0 < moved(before, after, "sbt_ledger_round_duration_seconds_sum") < 60
    assert moved(before, after, "sbt_ledger_round_writes_bucket", le="+Inf") == rounds
    assert value(after, "sbt_ledger_round_entries_bucket", le="2.0") < value(
        after, "sbt_ledger_round_entries_bucket", le="5.0"
    ), "the batch's round took four entries"
