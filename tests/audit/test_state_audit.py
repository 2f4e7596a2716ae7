"""A database administrator edits the tables behind the service's back: the state audit names every change.

Each tamper is a test on both databases: ``sbt ledger audit-state`` prints the table, the row, the column (or the
missing or extra row) and the ledger entry, and exits 1; the background audit of a running service turns
``/ready`` degraded and lists the row at ``GET /api/v1/ledger/state-audit``. A clean demo load audits clean.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, delete, insert, select, text, update
from typer.testing import CliRunner

from app.api.state_audit import BackgroundStateAudit
from app.cases.models import AgencyRecord, Case, CaseTransition
from app.cli import cli
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.flows.demo import load_demo_data
from app.ledger.models import LedgerEntry
from app.main import create_app
from app.reconciliation.models import Finding, FindingEvent
from tests.auth_helpers import make_auth_headers

pytestmark = pytest.mark.real_commits  # the CLI and the background audit open connections of their own

DEMO_CASES = 12
STATE_AUDIT = "/api/v1/ledger/state-audit"


@dataclass(frozen=True)
class Tamper:
    """What the administrator changes, and the line ``audit-state`` must print for it (a regular expression)."""

    change: Callable[[Connection], str]
    """Makes the change and returns the id of the row it changed."""
    expected: Callable[[str], str]
    table: str


def _one(conn: Connection, statement: Any) -> Any:
    return conn.execute(statement.limit(1)).scalar_one()


def _edit_case(conn: Connection) -> str:
    case_id = _one(conn, select(Case.id).order_by(Case.id))
    conn.execute(update(Case).where(Case.id == case_id).values(name="Budi Palsu"))
    return str(case_id)


def _edit_record(conn: Connection) -> str:
    record_id = _one(conn, select(AgencyRecord.id).where(AgencyRecord.nip.is_not(None)).order_by(AgencyRecord.id))
    conn.execute(update(AgencyRecord).where(AgencyRecord.id == record_id).values(nip="199901012020011999"))
    return str(record_id)


def _edit_transition(conn: Connection) -> str:
    transition_id = _one(conn, select(CaseTransition.id).order_by(CaseTransition.id))
    conn.execute(
        update(CaseTransition).where(CaseTransition.id == transition_id).values(effective_date=dt.date(2020, 1, 1))
    )
    return str(transition_id)


def _edit_finding(conn: Connection) -> str:
    finding_id = _one(conn, select(Finding.id).where(Finding.state == "OPEN").order_by(Finding.id))
    conn.execute(update(Finding).where(Finding.id == finding_id).values(state="SUPPRESSED"))
    return str(finding_id)


def _edit_finding_history(conn: Connection) -> str:
    event_id = _one(conn, select(FindingEvent.id).order_by(FindingEvent.id))
    conn.execute(update(FindingEvent).where(FindingEvent.id == event_id).values(actor="dba"))
    return str(event_id)


def _delete_case(conn: Connection) -> str:
    case_id = _one(conn, select(Case.id).order_by(Case.id.desc()))
    conn.execute(delete(AgencyRecord).where(AgencyRecord.case_id == case_id))
    conn.execute(delete(CaseTransition).where(CaseTransition.case_id == case_id))
    conn.execute(delete(Case).where(Case.id == case_id))  # findings and comparison state cascade
    return str(case_id)


def _insert_case(conn: Connection) -> str:
    model = dict(conn.execute(select(Case.__table__).limit(1)).mappings().one())
    new_id = uuid.uuid4()
    conn.execute(insert(Case).values(model | {"id": new_id, "case_number": "SBT-2099-999999"}))
    return str(new_id)


def _field(table: str, field: str, ledger: str, actual: str) -> Callable[[str], str]:
    return lambda row_id: rf"^{table} {row_id} {field}: ledger {ledger} \(entry \d+\), table {actual}$"


TAMPERS = {
    "case_field": Tamper(_edit_case, _field("case", "name", r'"(?!Budi Palsu)[^"]+"', '"Budi Palsu"'), "case"),
    "record_field": Tamper(
        _edit_record, _field("agency_record", "nip", r'"(?!199901012020011999)\d+"', '"199901012020011999"'),
        "agency_record",
    ),
    "transition": Tamper(
        _edit_transition, _field("case_transition", "effective_date", r'"\d{4}-\d\d-\d\d"', '"2020-01-01"'),
        "case_transition",
    ),
    "finding_state": Tamper(
        _edit_finding, _field("reconciliation_finding", "state", '"OPEN"', '"SUPPRESSED"'), "reconciliation_finding"
    ),
    "finding_history": Tamper(
        _edit_finding_history, _field("reconciliation_finding_event", "actor", r'"[^"]+"', '"dba"'),
        "reconciliation_finding_event",
    ),
    "deleted_case": Tamper(
        _delete_case, lambda row_id: rf"^case {row_id}: missing from the table; made by ledger entry \d+$", "case"
    ),
    "case_without_entry": Tamper(
        _insert_case, lambda row_id: rf"^case {row_id}: extra row in the table; no ledger entry made it$", "case"
    ),
}  # fmt: skip


@pytest.fixture
def demo(settings: Settings) -> Settings:
    assert load_demo_data(settings, cases=DEMO_CASES, seed=11).cases == DEMO_CASES
    return settings


@pytest.fixture
def service(demo: Settings) -> Iterator[tuple[FastAPI, TestClient]]:
    """The service with its background audit running (a round every second)."""
    app = create_app(demo.model_copy(update={"state_audit_interval_seconds": 1, "metrics_enabled": True}))
    with TestClient(app) as client:
        yield app, client
    app.state.engine.dispose()


def _audit_state(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["ledger", "audit-state", *args])
    return result.exit_code, result.stdout.splitlines()


def _next_round(app: FastAPI) -> None:
    """Wait for a round that began after now to finish."""
    auditor: BackgroundStateAudit = app.state.state_audit
    started = auditor.cycles
    assert auditor.wait_for_cycle(started + 1, timeout=120), "the background state audit stopped"


def test_a_clean_demo_load_audits_with_zero_differences(cli_env: Settings, demo: Settings) -> None:
    code, lines = _audit_state()
    assert code == 0, lines
    assert len(lines) == 1
    assert re.fullmatch(r"OK: \d+ rows match the state the ledger implies \(everything\)", lines[0])
    engine = make_engine(demo.sqlalchemy_url)
    with make_sessionmaker(engine)() as session:
        case_id = session.scalars(select(Case.id).limit(1)).one()
        last = session.scalar(select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc()).limit(1))
    engine.dispose()
    assert _audit_state("--case", str(case_id))[0] == 0
    code, lines = _audit_state("--from-seq", "0", "--to-seq", str(last))
    assert code == 0
    assert lines[-1].startswith("OK: ")


@pytest.mark.parametrize("name", list(TAMPERS))
def test_the_audit_names_each_change_made_behind_the_services_back(
    name: str, cli_env: Settings, service: tuple[FastAPI, TestClient]
) -> None:
    app, client = service
    tamper = TAMPERS[name]
    _next_round(app)
    baseline = client.get("/ready").json()
    assert baseline == {"status": "ready"}, _audit_state()
    assert "sbt_state_audit_differences 0.0" in client.get("/metrics").text.splitlines()

    with app.state.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # past every trigger
        row_id = tamper.change(conn)

    code, lines = _audit_state()
    assert code == 1, lines
    assert any(re.fullmatch(tamper.expected(row_id), line) for line in lines), lines
    assert re.fullmatch(r"DIFFERENT: \d+ difference\(s\) .*", lines[-1])

    _next_round(app)
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded", (body, lines)
    assert body["state_audit"]["differences"] == len(lines) - 1, (body, lines)
    assert body["state_audit"]["detail"] == STATE_AUDIT
    served = client.get(STATE_AUDIT, headers=make_auth_headers(app)("auditor")).json()
    assert {(item["table"], item["row_id"]) for item in served["differences"]} >= {(tamper.table, row_id)}
    assert "ledger" not in served["differences"][0]  # values (names, NIPs) are never served
    metrics = client.get("/metrics").text
    assert f"sbt_state_audit_differences {float(len(lines) - 1)}" in metrics.splitlines()


def test_an_unreachable_service_is_one_line_not_a_traceback() -> None:
    result = CliRunner().invoke(cli, ["ledger", "audit-state", "--url", "http://127.0.0.1:9", "--token", "x"])
    assert result.exit_code == 2
    assert result.output.startswith("error: export failed:")
    assert "Traceback" not in result.output
