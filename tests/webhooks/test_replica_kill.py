"""Webhooks survive a replica killed mid-delivery: every event reaches the receiver, at least once, each with its
stable ``webhook-id``, so a receiver that remembers the ids it handled processes each event exactly once.

Real ``sbt serve`` processes (two replicas on PostgreSQL, one restarted on SQLite, which one process serves) with
their schedulers on; the receiver is slow on its first request, the replica sending it is killed with SIGKILL, and
the receiver also fails some requests with 500 so retries happen.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from app.webhooks.service import EVENT_NAMESPACE
from tests.conftest import TEST_DATABASE
from tests.factories import case_payload
from tests.servers import free_port, wait_until_ready
from tests.webhooks.receiver import Received, Receiver, ReceiverServer

pytestmark = [pytest.mark.slow, pytest.mark.real_commits]

REPO_ROOT = Path(__file__).resolve().parents[2]
CASES = 6


@dataclass
class SlowFirstReceiver(Receiver):
    """Holds the first request for a while (so its sender can be killed mid-attempt), fails every third one."""

    first_arrived: threading.Event = field(default_factory=threading.Event)

    def answer(self, received: Received) -> int:
        if not self.first_arrived.is_set():
            self.first_arrived.set()
            time.sleep(8)  # longer than the claim (3 s): the attempt is sent again whatever happens to its sender
        elif len(self.requests) % 3 == 2:
            with self._lock:
                self.requests.append(received)
            return 500
        return super().answer(received)


def _serve(database_url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBT_", "PROMETHEUS_", "OTEL_"))} | {
        "SBT_DATABASE_URL": database_url,
        "SBT_DATA_DIR": str(data_dir),
        "SBT_LOG_LEVEL": "WARNING",
        "SBT_STATE_AUDIT_INTERVAL_SECONDS": "0",
        "SBT_RECONCILIATION_INTERVAL_SECONDS": "0",
        "SBT_SCHEDULER_INTERVAL_SECONDS": "0.2",
        "SBT_WEBHOOK_CLAIM_SECONDS": "3",
        "SBT_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "SBT_WEBHOOK_RETRY_MAX_SECONDS": "1",
        "PYTHONPATH": str(REPO_ROOT),
    }
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=data_dir.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def _token(url: str, data_dir: Path, agency: str) -> dict[str, str]:
    clients = json.loads((data_dir / "demo-clients.json").read_text())["clients"]
    [demo] = [c for c in clients if c.get("agency") == agency]
    response = httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(demo["client_id"], demo["client_secret"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_every_event_arrives_with_a_stable_id_despite_a_killed_replica(
    database_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    replicas = 2 if TEST_DATABASE == "postgresql" else 1  # SQLite: one process serves the file
    processes.append(_serve(database_url, data_dir, ports[0]))
    wait_until_ready(urls[0], processes[0], time.monotonic() + 120)
    if replicas == 2:
        processes.append(_serve(database_url, data_dir, ports[1]))
        wait_until_ready(urls[1], processes[1], time.monotonic() + 120)

    receiver = SlowFirstReceiver()
    with ReceiverServer(receiver) as server:
        bkn = _token(urls[0], data_dir, "BKN")
        subscribed = httpx.post(
            f"{urls[0]}/api/v1/webhooks", json={"url": server.url, "event_types": ["case.changed"]}, headers=bkn
        )
        assert subscribed.status_code == 201, subscribed.text
        secret = subscribed.json()["secret"]
        bawaslu = _token(urls[0], data_dir, "BAWASLU")
        expected: set[str] = set()
        for number in range(CASES):
            created = httpx.post(
                f"{urls[number % replicas]}/api/v1/cases", json=case_payload(), headers=bawaslu, timeout=30
            )
            assert created.status_code == 201, created.text
            expected |= {
                str(uuid.uuid5(EVENT_NAMESPACE, f"ledger:{entry['seq']}"))
                for entry in created.json()["receipt"]["entries"]
                if entry["entry_type"].startswith(("case.", "agency_record."))
            }

        # Kill whichever replica is holding the receiver's first request.
        assert receiver.first_arrived.wait(60), "no delivery was attempted"
        time.sleep(0.5)  # the slow first request is in flight: nothing has recorded its answer
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        processes.append(_serve(database_url, data_dir, ports[0]))
        wait_until_ready(urls[0], processes[-1], time.monotonic() + 120)

        deadline = time.monotonic() + 120
        while set(receiver.processed) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(receiver.processed) == expected, "every event processed once"
        for received in receiver.processed.values():
            assert Webhook(secret).verify(received.body, received.headers)
        # The killed replica's attempt is sent again when its claim lapses, with its id: a duplicate the receiver
        # only acknowledges (none when the killed attempt's answer had already been recorded).
        assert len(receiver.requests) >= len(expected)

        log = httpx.get(f"{urls[0]}/api/v1/webhooks/{subscribed.json()['id']}/deliveries", headers=bkn, timeout=30)
        assert log.status_code == 200, log.text
        assert sorted(d["event_id"] for d in log.json()["items"]) == sorted(expected)
        assert {d["state"] for d in log.json()["items"]} == {"DELIVERED"}
