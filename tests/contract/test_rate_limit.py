"""Per-client rate limiting (429 problem + Retry-After, RateLimit fields) and no-store caching of /api/v1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.auth_helpers import AuthHeaders, make_auth_headers

READ = "/api/v1/reference/provinces"


@pytest.fixture
def limited_app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings.model_copy(update={"rate_limit_requests": 3, "rate_limit_window_seconds": 60}))
    yield application
    application.state.engine.dispose()


@pytest.mark.real_commits  # a second app, with its own engine
def test_a_client_over_its_quota_gets_429_with_retry_after(limited_app: FastAPI) -> None:
    headers = make_auth_headers(limited_app)
    bkn, other = headers("BKN"), headers("KEMENDAGRI")
    with TestClient(limited_app) as client:
        answers = [client.get(READ, headers=bkn) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["RateLimit"].split(";")[1] for a in answers] == ["r=2", "r=1", "r=0", "r=0"]
        assert answers[0].headers["RateLimit-Policy"] == '"default";q=3;w=60'
        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/rate-limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Another client has its own quota.
        assert client.get(READ, headers=other).status_code == 200


def test_api_responses_are_never_cached(client: TestClient, auth_headers: AuthHeaders) -> None:
    ok = client.get(READ, headers=auth_headers("auditor"))
    denied = client.get(READ)
    assert ok.headers["Cache-Control"] == "no-store"
    assert denied.status_code == 401
    assert denied.headers["Cache-Control"] == "no-store"
