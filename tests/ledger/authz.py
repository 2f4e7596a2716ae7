"""Authorization matrix rows: the ledger read API (scope ``ledger:read``).

Every agency and the auditor read the whole shared log (that is its point); the admin manages clients only. A
case's evidence bundle is the exception: like the case itself, only for the agencies holding a record of it.
Each row reads objects that exist: entries appended by two case reports, and a checkpoint signed over them.
Unknown objects (404 for every reader, 401/403 before the lookup) are covered in tests/ledger/test_api.py.
"""

from __future__ import annotations

from typing import Any

from tests.authz import READERS, Call, CallFactory, MatrixContext, Row, statuses
from tests.factories import case_payload

LEDGER = "/api/v1/ledger"
HOLDERS = statuses(anonymous=401, agencies=404, auditor=200, admin=403, BAWASLU=200)
"""A case's evidence: the auditor, and the agencies holding a record of the case (here Bawaslu, who reported it)."""


def _reported_cases(context: MatrixContext) -> list[dict[str, Any]]:
    """Two cases reported by Bawaslu: ledger entries 0 and 1 (``case.created``)."""

    def report() -> list[dict[str, Any]]:
        cases = []
        bawaslu = context.auth_headers("BAWASLU")
        for _ in range(2):
            response = context.client.post("/api/v1/cases", json=case_payload(), headers=bawaslu)
            assert response.status_code == 201, response.text
            cases.append(response.json())
        return cases

    cases: list[dict[str, Any]] = context.remember("ledger-cases", report)
    return cases


def _after_reports(path: str) -> CallFactory:
    def call(context: MatrixContext, who: str) -> Call:
        del who
        _reported_cases(context)
        return Call(path)

    return call


def _case_entries(context: MatrixContext, who: str) -> Call:
    del who
    return Call(f"{LEDGER}/cases/{_reported_cases(context)[0]['id']}/entries")


def _case_evidence(context: MatrixContext, who: str) -> Call:
    del who
    return Call(f"{LEDGER}/cases/{_reported_cases(context)[0]['id']}/evidence")


def _signed_checkpoint(context: MatrixContext, who: str) -> Call:
    del who

    def sign() -> int:
        _reported_cases(context)
        response = context.client.get(
            f"{LEDGER}/checkpoint", params={"fresh": True}, headers=context.auth_headers("auditor")
        )
        assert response.status_code == 200, response.text
        size: int = response.json()["tree_size"]
        return size

    return Call(f"{LEDGER}/checkpoints/{context.remember('ledger-checkpoint', sign)}")


ROWS = [
    Row("GET", f"{LEDGER}/entries", READERS, _after_reports(f"{LEDGER}/entries")),
    Row("GET", f"{LEDGER}/entries/{{seq}}", READERS, _after_reports(f"{LEDGER}/entries/1")),
    Row("GET", f"{LEDGER}/cases/{{case_id}}/entries", READERS, _case_entries),
    Row("GET", f"{LEDGER}/cases/{{case_id}}/evidence", HOLDERS, _case_evidence),
    Row("GET", f"{LEDGER}/checkpoint", READERS, _after_reports(f"{LEDGER}/checkpoint")),
    Row("GET", f"{LEDGER}/checkpoints/{{tree_size}}", READERS, _signed_checkpoint),
    Row("GET", f"{LEDGER}/verifier-key", READERS),
    Row(
        "GET",
        f"{LEDGER}/proofs/inclusion",
        READERS,
        _after_reports(f"{LEDGER}/proofs/inclusion?seq=0&tree_size=2"),
    ),
    Row(
        "GET",
        f"{LEDGER}/proofs/consistency",
        READERS,
        _after_reports(f"{LEDGER}/proofs/consistency?first=1&second=2"),
    ),
    Row("GET", f"{LEDGER}/export", READERS, _after_reports(f"{LEDGER}/export")),
    Row("GET", f"{LEDGER}/export.bin", READERS, _after_reports(f"{LEDGER}/export.bin")),
]
