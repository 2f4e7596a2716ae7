"""Helpers shared by the benchmarks: a throw-away database, a live uvicorn server, tokens, latency stats."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("SBT_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """An empty SQLite file or PostgreSQL database, removed afterwards; yields its URL."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"sbt_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ready(
    base_url: str, process: subprocess.Popen[str] | subprocess.Popen[bytes], seconds: float = 60
) -> None:
    """Poll ``/ready`` until the server answers 200; ``RuntimeError`` when it exits or stays silent too long."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/ready", timeout=1).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the SBT server did not start")
        time.sleep(0.2)


@dataclass
class Server:
    base_url: str
    data_dir: Path
    pid: int
    """The server's process (``--workers 1``: uvicorn serves in it; with more workers it is their supervisor)."""

    def token(self, client_id: str) -> str:
        clients = json.loads((self.data_dir / "demo-clients.json").read_text())["clients"]
        secret = next(c["client_secret"] for c in clients if c["client_id"] == client_id)
        response = httpx.post(
            f"{self.base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
            timeout=30,
        )
        response.raise_for_status()
        access_token: str = response.json()["access_token"]
        return access_token


@contextlib.contextmanager
def live_server(
    database_url: str, *, workers: int = 1, extra_env: dict[str, str] | None = None, asgi_app: str | None = None
) -> Iterator[Server]:
    """`sbt serve` in a subprocess (development mode, so demo clients exist), stopped afterwards.

    ``asgi_app`` (``module:attribute``) serves another ASGI app instead, after ``sbt migrate`` prepared the data.
    """
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        env = os.environ | {
            "SBT_DATABASE_URL": database_url,
            "SBT_DATA_DIR": data_dir,
            "SBT_ENVIRONMENT": "development",
            "SBT_LOG_LEVEL": "WARNING",
        }
        env |= extra_env or {}
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)]
        if asgi_app is not None:
            subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env, check=True)
            command = [sys.executable, "-m", "uvicorn", asgi_app, "--port", str(port), "--workers", str(workers)]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base_url, process)
            yield Server(base_url=base_url, data_dir=Path(data_dir), pid=process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a background task (a count bridge replay) outlasted the grace
                process.kill()
                process.wait()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the shared machine was while a figure was measured."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe_latencies(label: str, latencies: list[float], elapsed: float) -> str:
    return (
        f"{label}: {len(latencies) / elapsed:8.1f} req/s  p50 {percentile(latencies, 0.5) * 1000:7.1f} ms  "
        f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms  mean {statistics.fmean(latencies) * 1000:7.1f} ms  "
        f"(n={len(latencies)})"
    )
