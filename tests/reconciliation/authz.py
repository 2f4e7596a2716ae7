"""Authorization matrix rows: reconciliation runs, findings and their triage.

Agencies see (and triage) findings about cases they hold a record of; any other agency gets 404. The auditor
reads everything and changes nothing; the admin manages clients only.
"""

from __future__ import annotations

from typing import Any

from tests.authz import READERS, Call, MatrixContext, Row, statuses
from tests.factories import case_payload

API = "/api/v1/reconciliation"
HOLDERS_ONLY = statuses(anonymous=401, agencies=404, auditor=200, admin=403, BAWASLU=200, BKN=200)
"""A finding on a case recorded by Bawaslu and BKN only."""


def _case_with_finding(context: MatrixContext) -> dict[str, Any]:
    """Bawaslu reports 'Budi Santoso', BKN records 'Budi Susanto': a NAME_MISMATCH finding opens."""
    client, headers = context.client, context.auth_headers
    case = client.post("/api/v1/cases", json=case_payload(name="Budi Santoso"), headers=headers("BAWASLU")).json()
    record = {"nip": case["nip"], "name": "Budi Susanto", "stage": "DITERIMA"}
    response = client.post(f"/api/v1/cases/{case['id']}/records", json=record, headers=headers("BKN"))
    assert response.status_code == 201, response.text
    findings = client.get(
        f"{API}/findings", params={"case_id": case["id"], "rule": "NAME_MISMATCH"}, headers=headers("auditor")
    ).json()["items"]
    return {"case": case, "finding": findings[0]}


def _shared(context: MatrixContext) -> dict[str, Any]:
    shared: dict[str, Any] = context.remember("reconciliation", lambda: _case_with_finding(context))
    return shared


def _finding_path(context: MatrixContext, who: str) -> Call:
    del who
    return Call(f"{API}/findings/{_shared(context)['finding']['id']}")


def _acknowledge_fresh_finding(context: MatrixContext, who: str) -> Call:
    """Each identity its own finding, so one acknowledgement does not turn the next into a 409."""
    del who
    finding = _case_with_finding(context)["finding"]
    return Call(
        f"{API}/findings/{finding['id']}/transitions",
        json={"action": "acknowledge"},
        headers={"If-Match": f'"{finding["version"]}"'},
    )


def _check_case(context: MatrixContext, who: str) -> Call:
    del who
    return Call(f"{API}/cases/{_shared(context)['case']['id']}/check")


def _start_run(context: MatrixContext, who: str) -> Call:
    del context, who
    return Call(f"{API}/runs", json={"mode": "DEADLINES"})


def _run_path(context: MatrixContext, who: str) -> Call:
    del who

    def start() -> str:
        response = context.client.post(f"{API}/runs", json={}, headers=context.auth_headers("BKN"))
        assert response.status_code == 202, response.text
        location: str = response.headers["location"]
        return location

    location: str = context.remember("run", start)
    return Call(location)


ROWS = [
    Row("POST", f"{API}/runs", statuses(anonymous=401, agencies=202, auditor=403, admin=403), _start_run),
    Row("GET", f"{API}/runs/{{run_id}}", READERS, _run_path),
    Row("GET", f"{API}/findings", READERS),
    Row("GET", f"{API}/findings.csv", READERS),
    Row("GET", f"{API}/findings/{{finding_id}}", HOLDERS_ONLY, _finding_path),
    Row(
        "POST",
        f"{API}/findings/{{finding_id}}/transitions",
        statuses(anonymous=401, agencies=404, auditor=403, admin=403, BAWASLU=200, BKN=200),
        _acknowledge_fresh_finding,
    ),
    Row("GET", f"{API}/summary", READERS),
    Row(
        "POST",
        f"{API}/cases/{{case_id}}/check",
        statuses(anonymous=401, agencies=404, auditor=403, admin=403, BAWASLU=200, BKN=200),
        _check_case,
    ),
    Row("GET", f"{API}/rules", READERS),
]
