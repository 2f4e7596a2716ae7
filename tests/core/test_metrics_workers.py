"""``sbt serve --workers 2``: a scrape answered by either worker reports the sum over both (prometheus-client's
multi-process mode, set up by ``sbt serve`` itself)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.core.db import make_engine
from tests.servers import free_port, wait_until_ready

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
REQUESTS = 40
TOKEN = "workers-test-metrics-token"


def _sample(text: str, prefix: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.rsplit(" ", 1)[1])


def _wait_for_every_worker(client: httpx.Client, pool_of_all_workers: int, deadline: float) -> None:
    while _sample(_scrape(client), "sbt_db_pool_size ") != pool_of_all_workers:
        assert time.monotonic() < deadline, "not every worker started"
        time.sleep(0.2)


def _scrape(client: httpx.Client) -> str:
    return client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text


def test_a_scrape_of_any_worker_sums_every_worker(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'sbt.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBT_", "PROMETHEUS_"))} | {
        "SBT_DATABASE_URL": database_url,
        "SBT_DATA_DIR": str(tmp_path / "data"),
        "SBT_METRICS_ENABLED": "true",
        "SBT_METRICS_TOKEN": TOKEN,
        "SBT_LOG_LEVEL": "WARNING",
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(WORKERS)],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    single_pool = make_engine(database_url).pool.size()  # type: ignore[attr-defined]
    try:
        wait_until_ready(url, process, time.monotonic() + 120)
        with httpx.Client(base_url=url, timeout=10) as client:
            # /ready is answered by whichever worker is up first; each worker sets its pool gauge as it starts
            _wait_for_every_worker(client, WORKERS * single_pool, time.monotonic() + 120)
            for _ in range(REQUESTS):
                assert client.get("/health").status_code == 200
            scrapes = [_scrape(client) for _ in range(2 * WORKERS)]
    finally:
        process.terminate()
        process.wait(timeout=60)
    health = 'sbt_http_requests_total{method="GET",route="/health",status="200"}'
    for text in scrapes:
        assert _sample(text, health) == REQUESTS
        assert _sample(text, "sbt_db_pool_size ") == WORKERS * single_pool
