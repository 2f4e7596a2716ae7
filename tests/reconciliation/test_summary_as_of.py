"""``/reconciliation/summary?as_of=``: the findings as the ledger recorded them at a moment."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from app.core.db import utcnow
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case
from tests.problems import assert_problem

SUMMARY = "/api/v1/reconciliation/summary"


def test_summary_as_of_before_a_fix_shows_the_finding_open(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu, bkn, auditor = auth_headers("BAWASLU"), auth_headers("BKN"), auth_headers("auditor")
    start = utcnow()
    time.sleep(0.01)
    case = create_case(client, bawaslu, name="Budi Santoso")
    record = client.post(f"/api/v1/cases/{case['id']}/records", json={"name": "Eko Prasetyo"}, headers=bkn)
    assert record.status_code == 201, record.text
    disagreeing = utcnow()
    time.sleep(0.01)
    fixed = client.patch(
        f"/api/v1/cases/{case['id']}/records/{record.json()['id']}",
        json={"name": "Budi Santoso"},
        headers=bkn | {"If-Match": f'"{record.json()["version"]}"'},
    )
    assert fixed.status_code == 200, fixed.text

    def at(moment: Any, **filters: str) -> dict[str, Any]:
        response = client.get(SUMMARY, params={"as_of": moment.isoformat(), **filters}, headers=auditor)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert at(start)["by_state"] == {}
    then, now = at(disagreeing), at(utcnow())
    assert then["by_rule"]["NAME_MISMATCH"] == 1
    assert then["by_state"] == {"OPEN": sum(then["by_rule"].values())}
    assert now["by_state"].get("RESOLVED") == 1
    assert then["consistent_with"]["tree_size"] < now["consistent_with"]["tree_size"]
    assert at(disagreeing, state="RESOLVED")["by_state"] == {}
    assert at(utcnow(), state="RESOLVED", rule="NAME_MISMATCH")["by_agency"] == {"BKN": 1}
    current = client.get(SUMMARY, headers=auditor).json()
    assert current.pop("consistent_with") is None
    assert {k: v for k, v in now.items() if k != "consistent_with"} == current
    assert_problem(client.get(SUMMARY, params={"as_of": "2999-01-01T00:00:00Z"}, headers=auditor), 422)
