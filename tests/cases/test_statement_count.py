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
STATEMENTS_PER_CREATE = 9
"""Case and record inserts (the case number computed by the INSERT on PostgreSQL, one counter upsert on SQLite
instead of the advisory lock), the outbox row, and the ledger append's five (lock or counter, frontier, previous
entry of the case, the entry and its node) plus its checkpoint check. No reference-code SELECT, no ping, no
reconciliation: those moved to the process cache, the pool's error handling and the outbox worker."""


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
    begins = [s for s in statements if s.startswith(("BEGIN", "SAVEPOINT"))]
    work = [s for s in statements if not s.startswith(TRANSACTION_CONTROL)]
    assert len(begins) == 1, statements
    assert len(work) <= STATEMENTS_PER_CREATE, "\n".join(work)
    assert not [s for s in work if " FROM province" in s or " FROM instansi" in s or " FROM agency " in s]
    assert response.json()["case_number"].startswith("SBT-")
