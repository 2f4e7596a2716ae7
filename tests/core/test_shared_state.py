"""Two SBT processes on one database (two apps here): with ``SBT_REDIS_URL`` they share one rate limit and the
client-disable signal; without it each keeps its own; with Redis unreachable they degrade to per-process limits and
read client status from the database on every request (decision 0026)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.auth import service
from app.auth.registry import registry_session
from app.core import shared_state
from app.core.config import Settings
from app.main import create_app
from tests import auth_helpers
from tests.auth_helpers import make_auth_headers
from tests.servers import free_port

pytestmark = pytest.mark.real_commits  # two apps, each with its own engine

AGENCY_CLIENT = auth_helpers.test_client_id("KEMENDAGRI")
DISABLE = f"/api/v1/clients/{AGENCY_CLIENT}/disable"
READ = "/api/v1/reference/agencies"
LIMIT = 3


@contextlib.contextmanager
def two_processes(settings: Settings) -> Iterator[tuple[TestClient, TestClient, dict[str, str], dict[str, str]]]:
    """Two apps on one database and key directory (and Redis prefix, when ``settings`` names one): their clients,
    and the headers of an agency client and an admin."""
    limited = settings.model_copy(update={"rate_limit_requests": LIMIT, "rate_limit_window_seconds": 300})
    first, second = create_app(limited), create_app(limited)
    headers = make_auth_headers(first)
    try:
        with TestClient(first) as one, TestClient(second) as other:
            yield one, other, headers("KEMENDAGRI"), headers("admin")
    finally:
        first.state.engine.dispose()
        second.state.engine.dispose()


def test_processes_sharing_redis_share_one_rate_limit(redis_settings: Settings) -> None:
    with two_processes(redis_settings) as (one, other, agency, _):
        spent = [one.get(READ, headers=agency), other.get(READ, headers=agency), one.get(READ, headers=agency)]
        assert [answer.status_code for answer in spent] == [200] * LIMIT
        assert [answer.headers["RateLimit"].split(";")[1] for answer in spent] == ["r=2", "r=1", "r=0"]
        assert other.get(READ, headers=agency).status_code == 429
        assert one.get(READ, headers=agency).status_code == 429
        assert one.get("/ready").json() == {"status": "ready"}


def test_without_redis_each_process_counts_its_own(settings: Settings) -> None:
    with two_processes(settings) as (one, other, agency, _):
        assert [one.get(READ, headers=agency).status_code for _ in range(LIMIT + 1)] == [200] * LIMIT + [429]
        assert other.get(READ, headers=agency).status_code == 200


def test_a_client_disabled_through_one_process_is_refused_by_the_other_at_once(
    redis_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_state, "SIGNAL_POLL_SECONDS", 0.0)  # the other replica reads the signal every time
    with two_processes(redis_settings) as (one, other, agency, admin):
        assert other.get(READ, headers=agency).status_code == 200  # remembered as active for 30 s
        disabled = one.post(DISABLE, headers=admin)
        assert disabled.status_code == 200, disabled.text
        refused = other.get(READ, headers=agency)
        assert refused.status_code == 401
        assert "disabled" in refused.json()["detail"]


def test_without_redis_another_process_notices_a_disable_only_after_its_cache_time(settings: Settings) -> None:
    with two_processes(settings) as (one, other, agency, admin):
        assert other.get(READ, headers=agency).status_code == 200
        assert one.post(DISABLE, headers=admin).status_code == 200
        assert one.get(READ, headers=agency).status_code == 401  # the process that disabled it knows at once
        assert other.get(READ, headers=agency).status_code == 200  # the other within SBT_AUTH_CLIENT_STATUS_CACHE


def test_an_unreachable_redis_degrades_to_per_process_limits_and_database_status_reads(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger=shared_state.__name__)
    unreachable = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with two_processes(unreachable) as (one, other, agency, _):
        assert [one.get(READ, headers=agency).status_code for _ in range(LIMIT + 1)] == [200] * LIMIT + [429]
        assert other.get(READ, headers=agency).status_code == 200  # its own count, as without Redis
        with registry_session(unreachable) as session:  # disabled elsewhere (the CLI), no signal reaches anyone
            service.disable_client(session, unreachable, service.operator_context("test", {}), AGENCY_CLIENT)
        assert other.get(READ, headers=agency).status_code == 401  # read from the database, not remembered
        ready = one.get("/ready")
        assert ready.status_code == 200  # still in rotation: SBT serves without Redis
        assert ready.json() == {"status": "degraded", "shared_state": {"redis": "unreachable"}}
    outages = [record.getMessage() for record in caplog.records if "unreachable" in record.getMessage()]
    assert len(outages) == 2, outages  # once per process, when the outage starts
    assert "rate limits and the token-endpoint throttle count per process" in outages[0]
