"""On SQLite a GET reads in a read-only transaction and writes its read audit just after it, in a short transaction
of its own; on PostgreSQL a read and its audit are one transaction. On both, a read whose audit fails answers an
error without the data.

On SQLite a writing transaction holds the database's one write lock from its first statement: a read-audited GET
used to hold it for the whole request, so readers of both processes queued behind each other (decision 0038).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import column, event, func, insert, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.api.dependencies.context import SessionDep, writes_when_reading
from app.audit import service as audit_service
from app.audit.models import ReadAuditEntry
from app.core.db import READ_ONLY_OPTION, transaction, utcnow
from tests.auth_helpers import AuthHeaders
from tests.conftest import TEST_DATABASE
from tests.factories import create_case

pytestmark = pytest.mark.real_commits  # the app's own engine (and on SQLite its read-only sessions)
ON_SQLITE = TEST_DATABASE == "sqlite"


@dataclass(frozen=True)
class Statement:
    read_only: bool
    sql: str


@pytest.fixture
def statements(app: FastAPI) -> Iterator[list[Statement | str]]:
    """Every statement the app's engine runs (with whether its connection is read-only), and every commit."""
    seen: list[Statement | str] = []

    def executed(conn: Connection, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(Statement(bool(conn.get_execution_options().get(READ_ONLY_OPTION)), " ".join(sql.split())))

    def committed(_conn: Connection) -> None:
        seen.append("COMMIT")

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", executed)
    event.listen(engine, "commit", committed)
    yield seen
    event.remove(engine, "before_cursor_execute", executed)
    event.remove(engine, "commit", committed)


def _audit_rows(app: FastAPI, request_id: str) -> int:
    with transaction(app.state.sessionmaker) as session:
        return session.scalar(select(func.count()).where(ReadAuditEntry.request_id == request_id)) or 0


def test_a_get_reads_then_audits_what_it_answered_before_the_answer(
    client: TestClient, app: FastAPI, auth_headers: AuthHeaders, statements: list[Statement | str]
) -> None:
    """SQLite: the read in a read-only transaction, the audit in a writing one after it ended. PostgreSQL: both in
    the request's one transaction."""
    case = create_case(client, auth_headers("BAWASLU"))
    statements.clear()

    response = client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("BKN") | {"X-Request-ID": "read-1"})

    assert response.status_code == 200
    assert response.json()["nip"] == case["nip"]
    read = next(i for i, s in enumerate(statements) if isinstance(s, Statement) and 'FROM "case"' in s.sql)
    audit = next(
        i for i, s in enumerate(statements) if isinstance(s, Statement) and s.sql.startswith("INSERT INTO read_audit")
    )
    read_statement, audit_statement = statements[read], statements[audit]
    assert isinstance(read_statement, Statement)
    assert isinstance(audit_statement, Statement)
    assert read_statement.read_only is ON_SQLITE
    assert not audit_statement.read_only, "the read audit is a write"
    assert ("COMMIT" in statements[read:audit]) is ON_SQLITE, "on SQLite the read's transaction ends first"
    assert "COMMIT" in statements[audit + 1 :], "the audit is committed before the answer"
    assert _audit_rows(app, "read-1") == 1


def test_a_page_of_cases_is_audited_in_one_insert_after_its_read(
    client: TestClient, app: FastAPI, auth_headers: AuthHeaders, statements: list[Statement | str]
) -> None:
    for serial in range(3):
        create_case(client, auth_headers("BAWASLU"), nip=f"19800517200503100{serial + 1}")
    statements.clear()

    response = client.get("/api/v1/cases", headers=auth_headers("auditor") | {"X-Request-ID": "page-1"})

    assert response.status_code == 200
    assert len(response.json()["items"]) == 3
    inserts = [s for s in statements if isinstance(s, Statement) and s.sql.startswith("INSERT INTO read_audit")]
    assert len(inserts) == 1
    assert _audit_rows(app, "page-1") == 3


def test_a_get_whose_audit_cannot_be_stored_answers_an_error_without_the_data(
    client: TestClient, app: FastAPI, auth_headers: AuthHeaders, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    monkeypatch.setattr(audit_service, "_INSERT_READ_AUDIT", insert(table("no_such_table", column("request_id"))))
    api = TestClient(app, raise_server_exceptions=False)

    response = api.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("BKN") | {"X-Request-ID": "read-2"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert case["nip"] not in response.text
    assert _audit_rows(app, "read-2") == 0


def _write_one_row(session: Session, request_id: str) -> dict[str, str]:
    session.add(
        ReadAuditEntry(recorded_at=utcnow(), request_id=request_id, client_id="test", role="AUDITOR", operation="test")
    )
    session.flush()
    return {"written": request_id}


@pytest.mark.skipif(not ON_SQLITE, reason="PostgreSQL reads in a writing session: nothing to refuse")
def test_a_get_route_that_writes_must_say_so(app: FastAPI) -> None:
    """Its read-only session refuses the write; marked ``writes_when_reading``, it gets a writing session."""

    @app.get("/test/unmarked")
    def unmarked(session: SessionDep) -> dict[str, str]:
        return _write_one_row(session, "unmarked")

    @app.get("/test/marked")
    @writes_when_reading
    def marked(session: SessionDep) -> dict[str, str]:
        return _write_one_row(session, "marked")

    with TestClient(app) as api:
        with pytest.raises(RuntimeError, match="writes_when_reading"):
            api.get("/test/unmarked")
        assert api.get("/test/marked").json() == {"written": "marked"}
    assert _audit_rows(app, "unmarked") == 0
    assert _audit_rows(app, "marked") == 1
