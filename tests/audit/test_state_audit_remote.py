"""``sbt ledger audit-state --url``: an auditor audits a live service from what it serves, against its verified log.

The service runs in this process on a loopback port (uvicorn in a thread); the administrator edits its tables
directly; the command, given only the URL and an auditor token, names the table, row, column and entry of each
change and exits 1, exactly as the local audit prints it. Untampered, it prints one ``OK:`` line and exits 0.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from app.audit.models import ReadAuditEntry
from app.cli import cli
from app.core.config import Settings
from app.ledger.models import LedgerEntry
from app.main import create_app
from tests.audit.test_state_audit import TAMPERS, demo  # noqa: F401 - the demo fixture
from tests.auth_helpers import make_auth_headers
from tests.servers import free_port

pytestmark = pytest.mark.real_commits  # the service and the command open connections of their own

SERVED_TAMPERS = ["case_field", "record_field", "transition", "deleted_case", "case_without_entry"]
"""The tampers of tables an auditor is served whole (findings and clients: the local audit)."""


class LiveService:
    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings.model_copy(update={"state_audit_interval_seconds": 0}))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveService:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive(), "the service stopped while starting"
            assert time.monotonic() < deadline, "the service did not start in time"
            time.sleep(0.05)
        self.token = make_auth_headers(self.app)("auditor")["Authorization"].removeprefix("Bearer ")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.app.state.engine.dispose()

    def audit_state(self, *args: str) -> tuple[int, list[str]]:
        result = CliRunner().invoke(cli, ["ledger", "audit-state", "--url", self.url, "--token", self.token, *args])
        return result.exit_code, result.stdout.splitlines()


@pytest.fixture
def live(demo: Settings) -> Iterator[LiveService]:  # noqa: F811 - the imported fixture
    with LiveService(demo) as service:
        yield service


def test_an_untampered_service_audits_clean_remotely_for_everything_a_case_and_a_range(live: LiveService) -> None:
    code, lines = live.audit_state()
    assert code == 0, lines
    assert len(lines) == 1
    assert re.fullmatch(r"OK: \d+ rows match the state the ledger implies \(everything\)", lines[0])
    with live.app.state.sessionmaker() as session:
        first = session.scalars(select(LedgerEntry).where(LedgerEntry.entry_type == "case.created").limit(1)).one()
        last = session.scalar(select(func.max(LedgerEntry.seq)))
        reads_before = session.scalar(select(func.count()).select_from(ReadAuditEntry))
    code, lines = live.audit_state("--case", str(first.case_id))
    assert (code, lines[-1][:3]) == (0, "OK:"), lines
    assert lines[-1].endswith(f"(case {first.case_id})")
    code, lines = live.audit_state("--from-seq", "0", "--to-seq", str(last))
    assert code == 0, lines
    assert lines[-1].endswith(f"(entries 0..{last})")
    with live.app.state.sessionmaker() as session:  # the auditor's reads of NIPs are in the read audit
        assert session.scalar(select(func.count()).select_from(ReadAuditEntry)) > reads_before


@pytest.mark.parametrize("name", SERVED_TAMPERS)
def test_the_remote_audit_names_each_change_as_the_local_one_does(
    name: str, live: LiveService, cli_env: Settings
) -> None:
    tamper = TAMPERS[name]
    with live.app.state.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # past every trigger
        row_id = tamper.change(conn)

    code, lines = live.audit_state()
    assert code == 1, lines
    assert any(re.fullmatch(tamper.expected(row_id), line) for line in lines), lines
    assert re.fullmatch(r"DIFFERENT: \d+ difference\(s\) between the tables and the ledger \(everything, .*", lines[-1])
    local = CliRunner().invoke(cli, ["ledger", "audit-state"]).stdout.splitlines()
    assert [line for line in local if line.startswith(f"{tamper.table} {row_id}")] == [
        line for line in lines if line.startswith(f"{tamper.table} {row_id}")
    ]


def test_a_wrong_token_is_one_line_and_exit_2(live: LiveService) -> None:
    result = CliRunner().invoke(cli, ["ledger", "audit-state", "--url", live.url, "--token", "not-a-token"])
    assert result.exit_code == 2
    assert result.output.startswith("error: export failed: HTTP 401")
    assert "Traceback" not in result.output
