"""How many SQL statements one authenticated case create costs (issue 14: fewer round trips per write)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload

TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "COMMIT", "ROLLBACK")
STATEMENTS_PER_CREATE = 8
"""The request's own transaction: case and record inserts (the case number computed by the INSERT on PostgreSQL,
one counter upsert on SQLite), the outbox row and the pending ledger record (the sequencer's round, shared by
every write it integrates, is another transaction). No reference-code SELECT, no ping, no reconciliation: those
moved to the process cache, the pool's error handling and the outbox worker."""


@contextmanager
def counted_statements(app: FastAPI) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_case_create_is_one_transaction_of_few_statements(
    undrained_client: TestClient, app: FastAPI, auth_headers: AuthHeaders
) -> None:
    headers = auth_headers("BAWASLU")
    first = undrained_client.post("/api/v1/cases", json=case_payload(), headers=headers)  # reference cache filled
    assert first.status_code == 201, first.text
    with counted_statements(app) as statements:
        response = undrained_client.post("/api/v1/cases", json=case_payload(), headers=headers)
    assert response.status_code == 201, response.text
    transactions: list[list[str]] = []
    for statement in statements:
        if statement.startswith(("BEGIN", "SAVEPOINT")) or not transactions:
            transactions.append([])
        if not statement.startswith(TRANSACTION_CONTROL):
            transactions[-1].append(statement)
    [write] = [t for t in transactions if any(s.startswith('INSERT INTO "case" ') for s in t)]
    work = write
    assert any(s.startswith("INSERT INTO ledger_pending") for s in work), "the ledger record is in the same transaction"
    assert len(work) <= STATEMENTS_PER_CREATE, "\n".join(work)
    assert not [s for s in work if " FROM province" in s or " FROM instansi" in s or " FROM agency " in s]
    assert response.json()["case_number"].startswith("SBT-")
