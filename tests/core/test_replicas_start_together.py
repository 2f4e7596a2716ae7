"""Three production replicas started at once against one empty PostgreSQL database: the advisory lock around the
upgrade lets exactly one migrate, the others wait and find the schema at head, and all serve with the same keys."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.api.routers.auth import JWKS_PATH
from tests.servers import free_port, wait_until_ready

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

REPLICAS = 3
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_three_replicas_starting_at_once_migrate_once(empty_database_url: str, tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"  # the shared volume of a real deployment
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBT_")} | {
        "SBT_ENVIRONMENT": "production",
        "SBT_DATABASE_URL": empty_database_url,
        "SBT_SECRET_KEY": "replica-test-secret-of-at-least-32-chars",
        "SBT_AUTH_ISSUER": "https://sbt.example.go.id",
        "SBT_KEY_DIR": str(key_dir),
        "SBT_DATA_DIR": str(tmp_path / "data"),
        "SBT_LOG_LEVEL": "WARNING",
    }
    ports = [free_port() for _ in range(REPLICAS)]
    logs = [tmp_path / f"replica-{port}.log" for port in ports]
    processes = [
        subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            text=True,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 120
        for url, process in zip(urls, processes, strict=True):
            wait_until_ready(url, process, deadline)
        replies = [httpx.get(f"{url}{JWKS_PATH}", timeout=5) for url in urls]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    outcomes = [line for log in logs for line in log.read_text().splitlines() if line.startswith("database ")]
    migrated = [line for line in outcomes if line.startswith("database migrated from empty to ")]
    assert len(migrated) == 1, outcomes
    head = migrated[0].rsplit(" ", 1)[1]
    assert sorted(outcomes) == sorted([migrated[0]] + [f"database already at head {head}"] * (REPLICAS - 1))
    assert {reply.status_code for reply in replies} == {200}
    assert len({reply.text for reply in replies}) == 1, "every replica publishes the same issuer key"
    assert sorted(path.name for path in key_dir.iterdir()) == ["ledger-signing.key", "oauth-signing-key.pem"]
