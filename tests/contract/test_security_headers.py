"""Every response carries the security headers; the content security policy fits the kind of response."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.auth_helpers import AuthHeaders
from tests.servers import sbt_serve

REPO_ROOT = Path(__file__).resolve().parents[2]
ALWAYS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


@pytest.mark.parametrize("path", ["/health", "/api/v1/cases", "/openapi.json", "/docs", "/no-such-path"])
def test_every_response_has_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert {name: response.headers.get(name) for name in ALWAYS} == ALWAYS
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers


def test_json_may_run_nothing_and_the_docs_only_their_own_assets(client: TestClient, auth_headers: AuthHeaders) -> None:
    api = client.get("/api/v1/reference/agencies", headers=auth_headers("auditor"))
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    docs = client.get("/docs").headers["content-security-policy"]
    assert "default-src 'self'" in docs
    assert "http" not in docs


def test_hsts_only_when_served_over_tls(settings: Settings) -> None:
    behind_tls = create_app(settings.model_copy(update={"hsts_max_age_seconds": 31_536_000}))
    try:
        with TestClient(behind_tls) as tls_client:
            assert tls_client.get("/health").headers["strict-transport-security"] == "max-age=31536000"
    finally:
        behind_tls.state.engine.dispose()


@pytest.mark.slow  # starts `sbt serve`
@pytest.mark.real_commits  # the server opens its own engine on the test database
def test_sbt_serve_sends_no_server_banner(settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBT_")} | {
        "SBT_DATABASE_URL": settings.sqlalchemy_url,
        "SBT_DATA_DIR": str(tmp_path / "data"),
        "SBT_SECRET_KEY": settings.secret_key,
        "SBT_LOG_LEVEL": "WARNING",
    }
    with sbt_serve(env, REPO_ROOT) as url:
        replies = [httpx.get(f"{url}{path}", timeout=10) for path in ("/health", "/api/v1/cases", "/docs")]
    for reply in replies:
        assert "server" not in reply.headers, reply.url
        assert {name: reply.headers.get(name) for name in ALWAYS} == ALWAYS
