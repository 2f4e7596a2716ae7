"""Authorization matrix rows: the auditor surface (audit:read only, the state audit included) and the change feed
(cases:read)."""

from __future__ import annotations

from typing import Any

from tests.authz import READERS, Call, MatrixContext, Row, statuses
from tests.factories import case_payload

AUDITOR_ONLY = statuses(anonymous=401, agencies=403, auditor=200, admin=403)


def _case_history(context: MatrixContext, who: str) -> Call:
    del who

    def create() -> dict[str, Any]:
        response = context.client.post("/api/v1/cases", json=case_payload(), headers=context.auth_headers("BKN"))
        assert response.status_code == 201, response.text
        case: dict[str, Any] = response.json()
        return case

    case = context.remember("audit-case", create)
    return Call(f"/api/v1/audit/cases/{case['id']}/history")


def _count_bridge(context: MatrixContext, who: str) -> Call:
    del context, who
    return Call("/api/v1/audit/count-bridge?from=2024-01-01&to=2024-12-31&unit=reports")


ROWS = [
    Row("GET", "/api/v1/audit/cases/{case_id}/history", AUDITOR_ONLY, _case_history),
    Row("GET", "/api/v1/audit/statistics", AUDITOR_ONLY),
    Row("GET", "/api/v1/audit/count-bridge", AUDITOR_ONLY, _count_bridge),
    Row("GET", "/api/v1/audit/overdue", AUDITOR_ONLY),
    Row("GET", "/api/v1/audit/exports/cases.csv", AUDITOR_ONLY),
    Row("GET", "/api/v1/audit/exports/cases.ndjson", AUDITOR_ONLY),
    Row("GET", "/api/v1/audit/exports/cases.xlsx", AUDITOR_ONLY),
    Row("GET", "/api/v1/audit/read-log", AUDITOR_ONLY),
    Row("GET", "/api/v1/changes", READERS),
    Row("GET", "/api/v1/ledger/state-audit", AUDITOR_ONLY),
]
