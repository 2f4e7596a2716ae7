"""The production topology on one machine, without Docker: three ``sbt serve`` replicas on different ports against
one PostgreSQL database and one Redis (as deploy/compose.yaml runs them behind Caddy). Writes go through all of
them; the ledger stays one gap-free log, a client over its rate limit is refused by every replica, and a client
disabled through one replica is refused by all of them within a second."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.core.config import Environment, Settings
from app.main import create_app
from tests import auth_helpers
from tests.auth_helpers import make_auth_headers
from tests.factories import case_payload
from tests.servers import sbt_servers

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only, pytest.mark.real_commits]

REPLICAS = 3
RATE_LIMIT = 30
ISSUER = "https://sbt.example.go.id"
REPO_ROOT = Path(__file__).resolve().parents[2]
DISABLE = f"/api/v1/clients/{auth_helpers.test_client_id('KEMENDAGRI')}/disable"
READ = "/api/v1/reference/provinces"
DISABLE_DEADLINE_SECONDS = 1.0


@pytest.fixture
def shared_settings(redis_settings: Settings, tmp_path: Path) -> Settings:
    """What every replica is configured with (one database, one Redis key prefix, one key directory)."""
    return redis_settings.model_copy(
        update={
            "auth_issuer": ISSUER,
            "key_dir": tmp_path / "keys",
            "rate_limit_requests": RATE_LIMIT,
            "rate_limit_window_seconds": 300,
        }
    )


@pytest.fixture
def replicas(shared_settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBT_")} | {
        "SBT_ENVIRONMENT": Environment.PRODUCTION.value,
        "SBT_DATABASE_URL": shared_settings.sqlalchemy_url,
        "SBT_SECRET_KEY": "replica-test-secret-of-at-least-32-chars",
        "SBT_AUTH_ISSUER": ISSUER,
        "SBT_KEY_DIR": str(shared_settings.keys_path),
        "SBT_DATA_DIR": str(tmp_path / "data"),
        "SBT_REDIS_URL": shared_settings.redis_url,
        "SBT_REDIS_KEY_PREFIX": shared_settings.redis_key_prefix,
        "SBT_RATE_LIMIT_REQUESTS": str(RATE_LIMIT),
        "SBT_RATE_LIMIT_WINDOW_SECONDS": str(shared_settings.rate_limit_window_seconds),
        "SBT_STATE_AUDIT_INTERVAL_SECONDS": "0",
        "SBT_LOG_LEVEL": "WARNING",
    }
    with sbt_servers(env, REPO_ROOT, REPLICAS, log_dir=tmp_path) as urls:
        yield urls


def _ledger_seqs(database_url: str) -> list[int]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        seqs = list(connection.execute(text("SELECT seq FROM ledger_entry ORDER BY seq")).scalars())
    engine.dispose()
    return seqs


def test_three_replicas_share_one_ledger_one_rate_limit_and_the_client_disable_signal(
    shared_settings: Settings, replicas: list[str]
) -> None:
    # The test's own app on the same database and key directory registers the clients and mints their tokens with
    # the key every replica serves.
    minter = create_app(shared_settings)
    headers = make_auth_headers(minter)
    bawaslu, bkn, kemendagri = headers("BAWASLU"), headers("BKN"), headers("KEMENDAGRI")
    admin, auditor = headers("admin"), headers("auditor")
    minter.state.engine.dispose()
    clients = [httpx.Client(base_url=url, timeout=30) for url in replicas]
    try:
        # Writes through every replica at once: each case is created on one replica and verified on the next.
        def write(index: int) -> dict[str, Any]:
            created = clients[index % REPLICAS].post("/api/v1/cases", json=case_payload(), headers=bawaslu)
            assert created.status_code == 201, created.text
            case = created.json()
            verified = clients[(index + 1) % REPLICAS].post(
                f"/api/v1/cases/{case['id']}/transitions",
                json={"action": "verify"},
                headers=bawaslu | {"If-Match": f'"{case["version"]}"'},
            )
            assert verified.status_code == 200, verified.text
            body: dict[str, Any] = verified.json()
            return body

        with ThreadPoolExecutor(REPLICAS * 2) as pool:
            cases = list(pool.map(write, range(REPLICAS * 4)))
        assert {case["stage"] for case in cases} == {"TERVERIFIKASI"}
        seqs = _ledger_seqs(shared_settings.sqlalchemy_url)
        assert seqs == list(range(len(seqs)))
        assert len(seqs) >= 2 * len(cases)
        verify = subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "app.cli", "ledger", "verify", replicas[2], "--token", _token(auditor)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # The replicas' reconciliation workers may append findings meanwhile: the verified log holds at least what
        # was read before, and what is stored after it is still one gap-free log.
        verified = re.search(r"^entries:\s+(\d+)$", verify.stdout, re.MULTILINE)
        assert verified, verify.stdout
        after = _ledger_seqs(shared_settings.sqlalchemy_url)
        assert len(seqs) <= int(verified.group(1)) <= len(after)
        assert after == list(range(len(after)))
        assert "OK: every leaf hash and root recomputed" in verify.stdout

        # One rate limit over the three replicas: the quota is spent round robin, then every replica refuses.
        spent = [client.get(READ, headers=bkn) for client, _ in zip(itertools.cycle(clients), range(RATE_LIMIT))]
        assert {answer.status_code for answer in spent} == {200}
        assert spent[-1].headers["RateLimit"].split(";")[1] == "r=0"
        refused = [client.get(READ, headers=bkn) for client in clients]
        assert [answer.status_code for answer in refused] == [429] * REPLICAS
        assert all(answer.headers["Retry-After"] for answer in refused)
        assert [client.get(READ, headers=kemendagri).status_code for client in clients] == [200] * REPLICAS

        # Disabled through the first replica: refused by every replica within a second (each one has just
        # remembered the client as active, for SBT_AUTH_CLIENT_STATUS_CACHE_SECONDS=30).
        disabled = clients[0].post(DISABLE, headers=admin)
        assert disabled.status_code == 200, disabled.text
        started = time.monotonic()
        refused_after = [_seconds_until_refused(client, kemendagri, started) for client in clients]
        assert max(refused_after) < DISABLE_DEADLINE_SECONDS, refused_after
    finally:
        for client in clients:
            client.close()


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _seconds_until_refused(client: httpx.Client, headers: dict[str, str], started: float) -> float:
    """Poll until the replica answers 401 for the disabled client; give up (and return the time) after 5 s."""
    while True:
        answer = client.get(READ, headers=headers)
        elapsed = time.monotonic() - started
        if answer.status_code == 401 or elapsed > 5:
            assert answer.status_code == 401, f"{client.base_url} still answers {answer.status_code} after {elapsed} s"
            assert "disabled" in answer.json()["detail"]
            return elapsed
