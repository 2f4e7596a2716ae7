"""The count bridge: national number, each agency's own number, and causes that add up exactly to each delta.

Each scenario is built through the API; the expected causes are worked out by hand from what the scenario wrote.
The demo-data test (tests/audit/test_count_bridge_demo.py) checks the same invariants on a realistic sample by
recomputing every listed case's cause from the agency records.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.core.db import utcnow
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, make_nip, transition
from tests.problems import assert_problem

BRIDGE = "/api/v1/audit/count-bridge"
JANUARY = {"from": "2024-01-01", "to": "2024-01-31"}


def _record(client: TestClient, headers: dict[str, str], case: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/cases/{case['id']}/records", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _bridge(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(BRIDGE, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert_causes_add_up(body)
    return body


def assert_causes_add_up(body: dict[str, Any]) -> None:
    """The bridge's invariants: every delta is its agency's count minus the national one, and the causes add up to
    it exactly, one case per unit of each cause."""
    for agency in body["agencies"]:
        assert agency["delta"] == agency["count"] - body["national"]
        assert sum(cause["count"] for cause in agency["causes"]) == agency["delta"], agency
        for cause in agency["causes"]:
            assert cause["count"] == cause["effect"] * len(cause["case_ids"])
            assert cause["effect"] in (-1, 1)


def causes_of(body: dict[str, Any], agency: str) -> dict[tuple[str, int], list[str]]:
    entry = next(a for a in body["agencies"] if a["agency"] == agency)
    return {(cause["cause"], cause["effect"]): cause["case_ids"] for cause in entry["causes"]}


def test_every_cause_on_hand_built_cases(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu, bkn, auditor = auth_headers("BAWASLU"), auth_headers("BKN"), auth_headers("auditor")
    dated_elsewhere = create_case(client, bawaslu, incident_date="2024-01-03", reported_date="2024-01-04")
    _record(client, bkn, dated_elsewhere, reported_date="2024-02-10")
    counted = create_case(client, bawaslu, incident_date="2024-01-05", reported_date="2024-01-05")
    _record(client, bkn, counted, reported_date="2024-01-05")
    duplicate = create_case(client, bawaslu, nip=counted["nip"], incident_date="2024-01-05", reported_date="2024-01-06")
    _record(client, bkn, duplicate, reported_date="2024-01-06")
    later = create_case(client, bawaslu, incident_date="2024-02-01", reported_date="2024-02-03")
    _record(client, bkn, later, reported_date="2024-01-20")
    rejected = transition(client, bawaslu, create_case(client, bawaslu, reported_date="2024-01-07"), "reject")
    _record(client, bkn, rejected, reported_date="2024-01-07", stage="DITERIMA")
    never_sent = create_case(client, bawaslu, reported_date="2024-01-08")
    archived = client.post(  # KASN's own record of `counted`, from its archive (imported by BKN, its successor)
        f"/api/v1/cases/{counted['id']}/archived-records",
        json={"archive_of": "KASN", "recorded_on": "2024-01-06", "reported_date": "2024-01-05"},
        headers=bkn,
    )
    assert archived.status_code == 201, archived.text

    body = _bridge(client, auditor, unit="cases", **JANUARY)
    # National: the dated-elsewhere, counted and never-sent cases; the duplicate folds into `counted`, the
    # rejected case is no case, the later one is outside January.
    assert body["national"] == 3
    assert body["consistent_with"]["tree_size"] > 0
    counts = {agency["agency"]: agency["count"] for agency in body["agencies"]}
    assert counts == {"BAWASLU": 4, "KASN": 1, "BKN": 4, "KEMENDAGRI": 0, "KEMENPANRB": 0}
    assert causes_of(body, "BKN") == {
        ("duplicate_at_agency", 1): [duplicate["id"]],
        ("not_yet_received", -1): [never_sent["id"]],
        ("other_period", -1): [dated_elsewhere["id"]],
        ("other_period", 1): [later["id"]],
        ("other_stage", 1): [rejected["id"]],
    }
    national = sorted([dated_elsewhere["id"], counted["id"], never_sent["id"]])
    # KASN ceased on 2024-08-24: its archive counts what it holds; what it never received stays out of it.
    assert causes_of(body, "KASN") == {("retired_archive", -1): sorted([dated_elsewhere["id"], never_sent["id"]])}
    assert causes_of(body, "KEMENDAGRI") == {("not_yet_received", -1): national}
    # Bawaslu's records of the cases it created: the duplicate counts again; its record of the rejected case
    # followed its own step to DITOLAK, so it is no case there either.
    assert causes_of(body, "BAWASLU") == {("duplicate_at_agency", 1): [duplicate["id"]]}


def test_a_register_number_is_one_report_whoever_created_its_cases(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    """Bawaslu's temuan and a laporan BKN received name two ASN of one incident under one nomor register."""
    auditor, incident = auth_headers("auditor"), {"incident_date": "2024-01-08", "reported_date": "2024-01-10"}
    for agency in ("BAWASLU", "BKN"):
        create_case(client, auth_headers(agency), register_number="045/Reg/LP/PB/Kab/73.06/I/2024", **incident)
    create_case(client, auth_headers("BAWASLU"), **incident)
    assert _bridge(client, auditor, unit="reports", **JANUARY)["national"] == 2
    assert _bridge(client, auditor, unit="cases", **JANUARY)["national"] == 3


def test_one_report_or_one_person_with_several_cases_is_another_unit(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    bawaslu, bkn, auditor = auth_headers("BAWASLU"), auth_headers("BKN"), auth_headers("auditor")
    register = {"reference_number": "REG-001/LP/PILKADA/2024", "reported_date": "2024-01-10"}
    first = create_case(client, bawaslu, incident_date="2024-01-08", **register)
    second = create_case(client, bawaslu, incident_date="2024-01-08", **register)
    person = make_nip()
    again = [
        create_case(client, bawaslu, nip=person, incident_date=day, reported_date=day)
        for day in ("2024-01-12", "2024-01-20")
    ]
    for case in (first, second, *again):
        _record(client, bkn, case, reported_date=case["reported_date"])

    reports = _bridge(client, auditor, unit="reports", **JANUARY)
    assert reports["national"] == 3  # one register number for two ASN, plus two reports without one
    assert causes_of(reports, "BKN") == {("other_unit", 1): [second["id"]]}
    people = _bridge(client, auditor, unit="asn", **JANUARY)
    assert people["national"] == 3
    assert causes_of(people, "BKN") == {("other_unit", 1): [again[1]["id"]]}
    cases = _bridge(client, auditor, unit="cases", **JANUARY)
    assert cases["national"] == 4
    assert causes_of(cases, "BKN") == {}


def _forwarded(client: TestClient, headers: dict[str, str], reported: str) -> dict[str, Any]:
    case = create_case(client, headers, incident_date=reported, reported_date=reported)
    for action in ("verify", "start_study", "forward"):
        case = transition(client, headers, case, action, effective_date=reported)
    return case


def _recommend(client: TestClient, headers: dict[str, str], case: dict[str, Any], on: str) -> dict[str, Any]:
    return transition(
        client, headers, case, "recommend", effective_date=on, sanction_code="BERAT_PENURUNAN_JABATAN",
        reference_number=f"R-{on}/BKN",
    )  # fmt: skip


def test_recommendations_missing_where_the_stage_requires_them_and_as_of(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    bawaslu, bkn, auditor = auth_headers("BAWASLU"), auth_headers("BKN"), auth_headers("auditor")
    kemendagri, kemenpanrb = auth_headers("KEMENDAGRI"), auth_headers("KEMENPANRB")
    september = {"from": "2024-09-01", "to": "2024-09-30"}
    escalated, recommended = _forwarded(client, bawaslu, "2024-09-02"), _forwarded(client, bawaslu, "2024-09-03")
    before = utcnow()
    time.sleep(0.01)
    # BKN recommends (KASN's duty since 2024-08-24); the PPK misses the deadline, BKN reprimands, and Kemendagri
    # sanctions the PPK of the regional instansi: its step makes its record, which holds no recommendation date.
    escalated = _recommend(client, bkn, escalated, "2024-09-05")
    escalated = transition(client, bkn, escalated, "reprimand", effective_date="2024-09-23")  # 10 working days
    transition(client, kemendagri, escalated, "sanction_ppk", effective_date="2024-09-27")  # 3 working days
    recommended = _recommend(client, bkn, recommended, "2024-09-10")
    _record(client, kemendagri, recommended, recommendation_date="2024-09-10", stage="DITERIMA")
    _record(client, kemenpanrb, recommended, recommendation_date="2024-09-25", stage="REKOMENDASI")

    now = _bridge(client, auditor, unit="recommendations", **september)
    assert now["national"] == 2
    assert causes_of(now, "BKN") == {}  # its records follow the steps it took
    assert causes_of(now, "KEMENDAGRI") == {
        ("other_period", -1): [escalated["id"]],  # its record of its own step has no recommendation date
        ("other_stage", -1): [recommended["id"]],  # its record still says DITERIMA
    }
    # KemenPANRB supervises no PPK of a pemerintah daerah: it has not received the escalated case; its record of
    # the other counts.
    assert causes_of(now, "KEMENPANRB") == {("not_yet_received", -1): [escalated["id"]]}
    both = sorted([escalated["id"], recommended["id"]])
    assert causes_of(now, "BAWASLU") == {("other_period", -1): both}  # Bawaslu's records hold no recommendation
    assert causes_of(now, "KASN") == {("retired_archive", -1): both}

    earlier = _bridge(client, auditor, unit="recommendations", as_of=before.isoformat(), **september)
    assert earlier["national"] == 0
    assert earlier["consistent_with"]["tree_size"] < now["consistent_with"]["tree_size"]
    assert all(agency["causes"] == [] for agency in earlier["agencies"])


def test_csv_and_xlsx_keep_ids_as_text(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu, auditor = auth_headers("BAWASLU"), auth_headers("auditor")
    cases = [create_case(client, bawaslu, reported_date="2024-01-09") for _ in range(2)]
    ids = sorted(case["id"] for case in cases)

    as_csv = client.get(BRIDGE, params={**JANUARY, "format": "csv"}, headers=auditor | {"Accept-Language": "id"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig")), delimiter=";"))  # Indonesian Excel
    kemendagri = [row for row in rows if row["agency"] == "KEMENDAGRI"]
    assert sorted(row["case_id"] for row in kemendagri) == [f'="{case_id}"' for case_id in ids]  # Excel: text
    assert {(row["cause"], row["effect"], row["delta"]) for row in kemendagri} == {("not_yet_received", "-1", "-2")}
    plain = client.get(BRIDGE, params={**JANUARY, "format": "csv", "excel": "false", "sep": ","}, headers=auditor)
    rows = list(csv.DictReader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert sorted(row["case_id"] for row in rows if row["agency"] == "KEMENDAGRI") == ids

    accepted = client.get(
        BRIDGE,
        params=JANUARY,
        headers=auditor | {"Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert accepted.status_code == 200, accepted.text
    workbook = load_workbook(io.BytesIO(accepted.content))
    assert workbook.sheetnames == ["agencies", "causes", "cases"]
    sheet = workbook["cases"]
    assert sheet.freeze_panes == "A2"
    listed = [row for row in sheet.iter_rows(min_row=2, values_only=True) if row[0] == "KEMENDAGRI"]
    assert sorted(str(row[3]) for row in listed) == ids
    for row in sheet.iter_rows(min_row=2):
        assert row[3].data_type == "s"
        assert row[3].number_format == "@"
    summary = {row[7]: row for row in workbook["agencies"].iter_rows(min_row=2, values_only=True)}
    assert summary["KEMENDAGRI"][9] == -2
    assert summary["BAWASLU"][9] == 0


def test_bad_bridge_requests_are_problems(client: TestClient, auth_headers: AuthHeaders) -> None:
    auditor = auth_headers("auditor")
    for params in (
        {"from": "2024-02-01", "to": "2024-01-01"},
        {"from": "2024-01-01"},
        {"from": "2024-01-01", "to": "2024-01-31", "unit": "persons"},
        {"from": "2024-01-01", "to": "2024-01-31", "as_of": "2024-01-01T00:00:00"},
        {"from": "2024-01-01", "to": "2024-01-31", "as_of": "2999-01-01T00:00:00+07:00"},
        {"from": "20240101", "to": "2024-01-31"},
    ):
        assert_problem(client.get(BRIDGE, params=params, headers=auditor), 422)


def test_statistics_as_of_before_a_transition_give_the_earlier_counts(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    bawaslu, auditor = auth_headers("BAWASLU"), auth_headers("auditor")
    start = utcnow()
    time.sleep(0.01)
    case = create_case(client, bawaslu, reported_date="2024-01-09")
    created = utcnow()
    time.sleep(0.01)
    transition(client, bawaslu, case, "verify", effective_date="2024-01-10")
    stats = "/api/v1/audit/statistics"

    def at(moment: dt.datetime, **filters: str) -> dict[str, Any]:
        response = client.get(stats, params={"as_of": moment.isoformat(), **filters}, headers=auditor)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    empty, before, after = at(start), at(created), at(utcnow())
    assert empty["total_cases"] == 0
    assert empty["by_stage"] == []
    assert before["by_stage"] == [{"key": "DITERIMA", "count": 1}]
    assert after["by_stage"] == [{"key": "TERVERIFIKASI", "count": 1}]
    assert before["consistent_with"]["tree_size"] < after["consistent_with"]["tree_size"]
    assert at(created, stage="TERVERIFIKASI")["total_cases"] == 0
    assert at(utcnow(), stage="TERVERIFIKASI", agency="BAWASLU")["total_cases"] == 1
    assert at(utcnow(), agency="BKN")["total_cases"] == 0
    jakarta = dt.timezone(dt.timedelta(hours=7))
    assert at(created.astimezone(jakarta))["by_stage"] == before["by_stage"]  # any UTC offset names the moment
    assert_problem(client.get(stats, params={"as_of": "2024-01-01T00:00:00"}, headers=auditor), 422)  # no offset
