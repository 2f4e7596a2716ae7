"""SBT through PgBouncer in transaction pooling: writes and reads from several threads at once, over fewer server
connections than the app opens, so that consecutive transactions of one app connection run on different server
connections. Any session state SBT kept (a prepared statement, a session advisory lock, a ``SET``) would break."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.core.config import Settings
from app.main import create_app
from tests.auth_helpers import make_auth_headers
from tests.factories import create_case, transition
from tests.servers import free_port

pytestmark = [pytest.mark.postgres_only, pytest.mark.real_commits]

SERVER_CONNECTIONS = 2
"""PgBouncer's pool per database: fewer than the threads below, so server connections are shared."""
THREADS = 6
CASES = 12


@pytest.fixture
def pgbouncer_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``database_url`` reached through a PgBouncer (Debian's package) in transaction mode on a free port."""
    binary = shutil.which("pgbouncer")
    if binary is None:
        pytest.fail("pgbouncer is not installed (.ci/run installs Debian's package pgbouncer)")
    directory = tmp_path_factory.mktemp("pgbouncer")
    directory.chmod(0o755)  # run as root, PgBouncer drops to nobody (it refuses to run as root) and reads from here
    port = free_port()
    (directory / "users.txt").write_text('"postgres" ""\n')
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        "* = host=127.0.0.1 port=5432\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {SERVER_CONNECTIONS}\nmax_client_conn = 100\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (directory / name).chmod(0o644)
    as_nobody = ["-u", "nobody"] if os.geteuid() == 0 else []
    log = (directory / "pgbouncer.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [binary, *as_nobody, str(directory / "pgbouncer.ini")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_for_port(port, process)
        yield database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/")
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pgbouncer exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("pgbouncer did not listen within 10 s")


def test_writes_and_reads_work_through_transaction_pooling(
    pgbouncer_url: str, settings: Settings, database_url: str
) -> None:
    assert "@127.0.0.1:5432/" in database_url, "the test reaches PostgreSQL on 127.0.0.1:5432"
    application = create_app(settings.model_copy(update={"database_url": pgbouncer_url}))
    headers = make_auth_headers(application)
    bawaslu, auditor = headers("BAWASLU"), headers("auditor")
    with TestClient(application) as client, ThreadPoolExecutor(THREADS) as pool:

        def write(_: int) -> dict[str, Any]:
            return transition(client, bawaslu, create_case(client, bawaslu), "verify")

        def read(case: dict[str, Any]) -> int:
            answers = [
                client.get(f"/api/v1/cases/{case['id']}", headers=auditor),
                client.get(f"/api/v1/cases/{case['id']}/records", headers=auditor),
                client.get("/api/v1/cases", params={"stage": "TERVERIFIKASI"}, headers=auditor),
            ]
            return max(int(answer.status_code) for answer in answers)

        cases = list(pool.map(write, range(CASES)))
        statuses = list(pool.map(read, cases * 2))
        ready = client.get("/ready")
    application.state.engine.dispose()
    assert {case["stage"] for case in cases} == {"TERVERIFIKASI"}
    assert set(statuses) == {200}
    assert ready.status_code == 200, ready.text  # the stored ledger matches its latest signed checkpoint
    direct = create_engine(database_url)
    with direct.connect() as connection:
        seqs = connection.execute(text("SELECT seq FROM ledger_entry ORDER BY seq")).scalars().all()
    direct.dispose()
    assert seqs == list(range(len(seqs)))
    assert len(seqs) >= 2 * CASES  # a creation and a transition per case, without a gap
