"""The reconciliation API as agencies and auditors use it: findings appear on write, triage, runs, exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.actor import Scope
from app.core.config import Settings
from app.ledger.models import LedgerEntry
from app.reconciliation.service import on_case_written
from tests.auth_helpers import AuthHeaders
from tests.conftest import Writing
from tests.factories import create_case
from tests.reconciliation.builders import insert_case, insert_record, system_ctx

API = "/api/v1/reconciliation"
PROBLEM = "application/problem+json"


def _submit(client: TestClient, headers: dict[str, str], case: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {
        "nip": case["nip"],
        "name": case["name"],
        "violation_code": case["violation_code"],
        "stage": case["stage"],
        "reported_date": case["reported_date"],
        **fields,
    }
    response = client.post(f"/api/v1/cases/{case['id']}/records", json=body, headers=headers)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def _findings(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/findings", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _name_case(client: TestClient, auth_headers: AuthHeaders) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bawaslu reports 'Budi Santoso'; BKN records 'Budi Susanto' for the same NIP."""
    case = create_case(client, auth_headers("BAWASLU"), name="Budi Santoso")
    record = _submit(client, auth_headers("BKN"), case, name="Budi Susanto")
    return case, record


def _transition(
    client: TestClient, headers: dict[str, str], finding: dict[str, Any], etag: str | None, **body: Any
) -> Any:
    extra = {"If-Match": etag} if etag is not None else {}
    return client.post(f"{API}/findings/{finding['id']}/transitions", json=body, headers=headers | extra)


def test_a_write_opens_a_finding_with_every_agencys_values(client: TestClient, auth_headers: AuthHeaders) -> None:
    case, _ = _name_case(client, auth_headers)
    (finding,) = _findings(client, auth_headers("BKN"), rule="NAME_MISMATCH")
    assert finding["case_id"] == case["id"]
    assert (finding["severity"], finding["hint"], finding["state"], finding["agencies"]) == (
        "HIGH",
        "different",
        "OPEN",
        ["BKN"],
    )
    assert finding["observed"]["BKN"]["name"] == {
        "raw": "Budi Susanto",
        "normalized": "budi susanto",
        "normalizations": ["case"],
    }
    assert finding["observed"]["BAWASLU"]["name"]["raw"] == "Budi Santoso"
    assert finding["message_en"]
    assert finding["message_id"]
    detail = client.get(f"{API}/findings/{finding['id']}", headers=auth_headers("BAWASLU"))
    assert detail.status_code == 200
    assert detail.headers["etag"] == '"1"'
    assert [event["action"] for event in detail.json()["events"]] == ["opened"]


def test_agencies_see_only_findings_about_their_cases(client: TestClient, auth_headers: AuthHeaders) -> None:
    _name_case(client, auth_headers)
    (finding,) = _findings(client, auth_headers("auditor"), rule="NAME_MISMATCH")
    assert _findings(client, auth_headers("KEMENDAGRI")) == []
    response = client.get(f"{API}/findings/{finding['id']}", headers=auth_headers("KEMENDAGRI"))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert _transition(client, auth_headers("KEMENDAGRI"), finding, '"1"', action="acknowledge").status_code == 404


def test_auditor_reads_everything_but_cannot_triage_or_run(client: TestClient, auth_headers: AuthHeaders) -> None:
    _name_case(client, auth_headers)
    auditor = auth_headers("auditor")
    (finding,) = _findings(client, auditor, rule="NAME_MISMATCH")
    assert _transition(client, auditor, finding, '"1"', action="acknowledge").status_code == 403
    assert client.post(f"{API}/runs", json={}, headers=auditor).status_code == 403
    assert client.get(f"{API}/rules", headers=auditor).status_code == 200


def test_transitions_need_a_current_etag(client: TestClient, auth_headers: AuthHeaders) -> None:
    _name_case(client, auth_headers)
    bkn = auth_headers("BKN")
    (finding,) = _findings(client, bkn, rule="NAME_MISMATCH")
    missing = _transition(client, bkn, finding, None, action="acknowledge")
    assert missing.status_code == 428
    assert missing.headers["content-type"] == PROBLEM
    assert _transition(client, bkn, finding, '"7"', action="acknowledge").status_code == 412
    done = _transition(client, bkn, finding, '"1"', action="acknowledge", note="checking with SIASN")
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.headers["etag"]) == ("ACKNOWLEDGED", '"2"')
    assert _transition(client, bkn, finding, '"2"', action="acknowledge").status_code == 409


def test_resolving_while_the_data_still_disagree_is_409(client: TestClient, auth_headers: AuthHeaders) -> None:
    _name_case(client, auth_headers)
    bkn = auth_headers("BKN")
    (finding,) = _findings(client, bkn, rule="NAME_MISMATCH")
    response = _transition(client, bkn, finding, '"1"', action="resolve", note="fixed")
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert _findings(client, bkn, rule="NAME_MISMATCH")[0]["state"] == "OPEN"


def test_fixing_the_data_resolves_the_finding(client: TestClient, auth_headers: AuthHeaders) -> None:
    _case, record = _name_case(client, auth_headers)
    bkn = auth_headers("BKN")
    response = client.patch(
        f"/api/v1/cases/{record['case_id']}/records/{record['id']}",
        json={"name": "BUDI SANTOSO"},
        headers=bkn | {"If-Match": f'"{record["version"]}"'},
    )
    assert response.status_code == 200, response.text
    (finding,) = _findings(client, bkn, rule="NAME_MISMATCH")
    assert (finding["state"], finding["resolution"]) == ("RESOLVED", "AUTO_CLEARED")


def test_acknowledged_then_data_change_gives_a_new_finding(client: TestClient, auth_headers: AuthHeaders) -> None:
    _case, record = _name_case(client, auth_headers)
    bkn = auth_headers("BKN")
    (first,) = _findings(client, bkn, rule="NAME_MISMATCH")
    assert _transition(client, bkn, first, '"1"', action="acknowledge").status_code == 200
    client.patch(
        f"/api/v1/cases/{record['case_id']}/records/{record['id']}",
        json={"name": "Budi Sutanto"},
        headers=bkn | {"If-Match": f'"{record["version"]}"'},
    ).raise_for_status()
    by_state = {f["state"]: f for f in _findings(client, bkn, rule="NAME_MISMATCH")}
    assert by_state.keys() == {"RESOLVED", "OPEN"}
    assert by_state["RESOLVED"]["id"] == first["id"]
    assert by_state["OPEN"]["finding_key"] != first["finding_key"]
    assert by_state["OPEN"]["observed"]["BKN"]["name"]["raw"] == "Budi Sutanto"


def test_suppress_needs_a_reason_and_reopen_brings_it_back(client: TestClient, auth_headers: AuthHeaders) -> None:
    _name_case(client, auth_headers)
    bkn = auth_headers("BKN")
    (finding,) = _findings(client, bkn, rule="NAME_MISMATCH")
    assert _transition(client, bkn, finding, '"1"', action="suppress").status_code == 422
    suppressed = _transition(
        client, bkn, finding, '"1"', action="suppress", note="alias confirmed by SIASN", suppressed_until="2030-01-01"
    )
    assert suppressed.status_code == 200, suppressed.text
    assert (suppressed.json()["state"], suppressed.json()["suppressed_until"]) == ("SUPPRESSED", "2030-01-01")
    check = client.post(f"{API}/cases/{finding['case_id']}/check", headers=bkn)
    assert check.status_code == 200
    assert "NAME_MISMATCH" not in {f["rule"] for f in check.json()["findings"]}  # stays suppressed
    reopened = _transition(client, bkn, finding, suppressed.headers["etag"], action="reopen", note="recheck")
    assert reopened.json()["state"] == "OPEN"


def test_state_changes_are_in_the_ledger(client: TestClient, auth_headers: AuthHeaders, session: Session) -> None:
    _name_case(client, auth_headers)
    bkn = auth_headers("BKN")
    (finding,) = _findings(client, bkn, rule="NAME_MISMATCH")
    _transition(client, bkn, finding, '"1"', action="acknowledge").raise_for_status()
    types = session.scalars(select(LedgerEntry.entry_type).where(LedgerEntry.entry_type.like("finding.%"))).all()
    assert "finding.opened" in types
    assert "finding.acknowledged" in types


def test_deadline_crossed_without_any_write_is_found_by_the_sweep(
    client: TestClient, auth_headers: AuthHeaders, writing: Writing, settings: Settings
) -> None:
    with writing() as writer:
        case = insert_case(writer)
        for agency in ("BAWASLU", "BKN"):
            insert_record(writer, case, agency)
        on_case_written(writer, settings, system_ctx(), case.id, as_of=dt.datetime(2024, 10, 5, 12, tzinfo=dt.UTC))
    bkn = auth_headers("BKN")
    assert _findings(client, bkn, case_id=str(case.id)) == []
    started = client.post(f"{API}/runs", json={"mode": "DEADLINES", "as_of": "2024-10-11T17:30:00Z"}, headers=bkn)
    assert started.status_code == 202, started.text
    run = client.get(started.headers["location"], headers=bkn).json()
    assert (run["status"], run["stats"]["opened"]) == ("SUCCEEDED", 1)
    (finding,) = _findings(client, bkn, case_id=str(case.id))
    assert (finding["rule"], finding["evidence"]["days"]) == ("DEADLINE_EXCEEDED", 1)  # 12 Oct in WIB already
    assert [f["id"] for f in _findings(client, bkn, overdue="true", case_id=str(case.id))] == [finding["id"]]


def test_resolve_succeeds_once_the_condition_is_gone(
    client: TestClient, auth_headers: AuthHeaders, writing: Writing, settings: Settings
) -> None:
    with writing() as writer:
        case = insert_case(writer)
        for agency in ("BAWASLU", "BKN"):
            insert_record(writer, case, agency)
        on_case_written(writer, settings, system_ctx(), case.id, as_of=dt.datetime(2024, 10, 9, 12, tzinfo=dt.UTC))
    bkn = auth_headers("BKN")
    (approaching,) = _findings(client, bkn, rule="DEADLINE_APPROACHING")
    resolved = _transition(client, bkn, approaching, '"1"', action="resolve", note="PPK acted")
    assert resolved.status_code == 200, resolved.text  # today the deadline is past: no longer "approaching"
    assert (resolved.json()["state"], resolved.json()["resolution"]) == ("RESOLVED", "FIXED_AT_SOURCE")


def test_runs_validate_their_input(client: TestClient, auth_headers: AuthHeaders) -> None:
    bkn = auth_headers("BKN")
    assert client.post(f"{API}/runs", json={"mode": "CASES"}, headers=bkn).status_code == 422
    unknown = {"mode": "CASES", "case_ids": ["00000000-0000-0000-0000-000000000001"]}
    assert client.post(f"{API}/runs", json=unknown, headers=bkn).status_code == 404
    assert client.post(f"{API}/runs", json={"as_of": "2024-10-11T17:30:00"}, headers=bkn).status_code == 422
    assert client.get(f"{API}/runs/00000000-0000-0000-0000-000000000001", headers=bkn).status_code == 404


def test_full_run_over_the_api_changes_nothing_after_incremental(client: TestClient, auth_headers: AuthHeaders) -> None:
    _name_case(client, auth_headers)
    started = client.post(f"{API}/runs", json={"mode": "FULL"}, headers=auth_headers("BKN"))
    run = client.get(started.headers["location"], headers=auth_headers("BKN")).json()
    assert run["status"] == "SUCCEEDED"
    assert (run["stats"]["opened"], run["stats"]["resolved"], run["stats"]["reopened"]) == (0, 0, 0)
    assert run["stats"]["unchanged"] >= 1


def test_check_case_now(client: TestClient, auth_headers: AuthHeaders) -> None:
    case, _ = _name_case(client, auth_headers)
    response = client.post(f"{API}/cases/{case['id']}/check", headers=auth_headers("BKN"))
    assert response.status_code == 200
    assert "NAME_MISMATCH" in {f["rule"] for f in response.json()["findings"]}
    assert client.post(f"{API}/cases/{case['id']}/check", headers=auth_headers("KEMENPANRB")).status_code == 404


def test_filters_pagination_and_summary(client: TestClient, auth_headers: AuthHeaders) -> None:
    _name_case(client, auth_headers)
    _name_case(client, auth_headers)
    auditor = auth_headers("auditor")
    assert len(_findings(client, auditor, rule="NAME_MISMATCH", severity="HIGH")) == 2
    assert _findings(client, auditor, rule="NAME_MISMATCH", severity="LOW") == []
    assert len(_findings(client, auditor, rule="NAME_MISMATCH", min_severity="MEDIUM", agency="BKN")) == 2
    assert _findings(client, auditor, province_code="11") == []
    first = client.get(f"{API}/findings", params={"rule": "NAME_MISMATCH", "limit": 1}, headers=auditor).json()
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    second = client.get(
        f"{API}/findings", params={"rule": "NAME_MISMATCH", "limit": 1, "cursor": first["next_cursor"]}, headers=auditor
    ).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]
    reused = client.get(
        f"{API}/findings", params={"rule": "NIP_MISMATCH", "cursor": first["next_cursor"]}, headers=auditor
    )
    assert reused.status_code == 400
    summary = client.get(f"{API}/summary", params={"state": "OPEN"}, headers=auditor).json()
    assert summary["by_rule"]["NAME_MISMATCH"] == 2
    assert summary["by_agency"]["BKN"] >= 2
    assert sum(summary["by_severity"].values()) == sum(summary["by_rule"].values())


def test_csv_export_streams_visible_findings(client: TestClient, auth_headers: AuthHeaders) -> None:
    _name_case(client, auth_headers)
    bkn = auth_headers("BKN")
    response = client.get(f"{API}/findings.csv", params={"rule": "NAME_MISMATCH", "excel": "false"}, headers=bkn)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs to read UTF-8
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(row["rule"], row["severity"], row["agencies"]) for row in rows] == [("NAME_MISMATCH", "HIGH", "BKN")]
    assert "Budi Susanto" in rows[0]["observed"]
    assert len(rows[0]["nip"]) == 18
    assert rows[0]["province_name"] == "Sulawesi Selatan"
    for_excel = client.get(
        f"{API}/findings.csv", params={"rule": "NAME_MISMATCH"}, headers=bkn | {"Accept-Language": "id"}
    )
    excel_rows = list(csv.DictReader(io.StringIO(for_excel.content.decode("utf-8-sig")), delimiter=";"))
    assert [row["nip"] for row in excel_rows] == [f'="{rows[0]["nip"]}"']  # Excel keeps the 18 digits as text
    empty = client.get(f"{API}/findings.csv", headers=auth_headers("KEMENPANRB"))
    assert len(list(csv.reader(io.StringIO(empty.content.decode("utf-8-sig"))))) == 1  # header only


def test_rules_catalogue(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.get(f"{API}/rules", headers=auth_headers("BKN", scopes=[Scope.RECONCILIATION_READ]))
    assert response.status_code == 200
    rules = {rule["code"]: rule for rule in response.json()}
    assert rules["DEADLINE_APPROACHING"]["params"] == {"days_before": 3}
    assert rules["NIP_MISMATCH"]["severity"] == "CRITICAL"
    assert all(rule["description_id"] and rule["description_en"] for rule in rules.values())
    assert (rules["SANCTION_NOT_PER_RECOMMENDATION"]["local"], rules["NAME_MISMATCH"]["local"]) == (True, False)
