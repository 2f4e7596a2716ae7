"""The batch operations over HTTP: all items written with one ledger entry each, or none at all."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cases.batch import MAX_BATCH_ITEMS
from app.cases.models import AgencyRecord, Case, CaseTransition
from app.cases.schemas import CaseCreate
from app.core.actor import AGENCY_SCOPES, Agency, Principal, Role, WriteContext
from app.core.clock import today_in_jakarta
from app.core.problems import AgencyNotPermitted, BatchRejected
from app.flows import cases as flows
from app.flows.batch import BatchKind, write_batch
from app.ledger.models import LedgerEntry
from app.ledger.schemas import CASE_LINK
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload, create_case, make_nip, transition
from tests.problems import assert_problem

CASES = "/api/v1/cases"


def _refused(response: Any, status: int, slug: str) -> dict[str, Any]:
    problem = assert_problem(response, status)
    assert problem["type"] == f"https://sbt.example.go.id/problems/{slug}"
    return problem


def _count(session: Session, model: type[Any], *where: Any) -> int:
    session.rollback()  # end the read: see what the app committed since
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _entries(session: Session, entry_type: str) -> list[LedgerEntry]:
    session.rollback()  # end the read: see what the app committed since
    return list(session.scalars(select(LedgerEntry).where(LedgerEntry.entry_type == entry_type)))


def distinct_cases(count: int) -> list[dict[str, Any]]:
    """Cases of different ASN (distinct NIPs: no duplicate findings between them)."""
    first = dt.date(1970, 1, 1)
    return [case_payload(nip=make_nip(birth=first + dt.timedelta(days=i), seq=1)) for i in range(count)]


class TestCaseBatch:
    def test_a_valid_batch_creates_every_case_with_one_ledger_entry_each(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        items = distinct_cases(25)
        response = client.post(f"{CASES}:batch", json={"items": items}, headers=auth_headers("BAWASLU"))
        assert response.status_code == 200, response.text
        results = response.json()["items"]
        assert [r["index"] for r in results] == list(range(25))
        created = _entries(session, "case.created")
        assert len(created) == 25
        assert [r["ledger_seq"] for r in results] == [entry.seq for entry in sorted(created, key=lambda e: e.seq)]
        for item, result in zip(items, results, strict=True):
            case = client.get(result["location"], headers=auth_headers("BKN"))
            assert case.status_code == 200
            assert (case.json()["nip"], case.headers["etag"]) == (item["nip"], result["etag"])
            assert result["location"] == f"{CASES}/{result['id']}"
        entry = client.get(f"/api/v1/ledger/entries/{results[3]['ledger_seq']}", headers=auth_headers("BKN")).json()
        assert entry["payload"]["case"]["id"] == results[3]["id"]
        assert _count(session, AgencyRecord) == 25  # the creator's record of each, as POST /cases makes

    def test_the_batch_is_reconciled_with_what_was_there_before(
        self, client: TestClient, auth_headers: AuthHeaders
    ) -> None:
        """The same ASN and incident already on record, and twice in the batch: every copy is flagged, as three
        single writes would have left it."""
        earlier = create_case(client, auth_headers("BAWASLU"))
        twins = [case_payload(nip=earlier["nip"]), case_payload(nip=earlier["nip"])]
        response = client.post(f"{CASES}:batch", json={"items": twins}, headers=auth_headers("BAWASLU"))
        assert response.status_code == 200, response.text
        ids = [earlier["id"], *(item["id"] for item in response.json()["items"])]
        for case_id in ids:
            findings = client.get(
                f"/api/v1/reconciliation/findings?case_id={case_id}", headers=auth_headers("BAWASLU")
            ).json()["items"]
            assert "DUPLICATE_CASE" in {finding["rule"] for finding in findings}

    def test_one_bad_item_refuses_the_batch_naming_it_and_writes_nothing(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        items = distinct_cases(5)
        items[1]["nip"] = "12345"  # the schema refuses it
        items[3]["violation_code"] = "D-99"  # the service refuses it (unknown code)
        before = _count(session, LedgerEntry)
        response = client.post(f"{CASES}:batch", json={"items": items}, headers=auth_headers("BAWASLU"))
        problem = _refused(response, 422, "batch-rejected")
        assert [error["index"] for error in problem["errors"]] == [1]  # schema errors first, before any write
        nip = problem["errors"][0]["problem"]
        assert (nip["status"], nip["invalid_params"][0]["name"]) == (422, "body.nip")

        items[1] = distinct_cases(6)[5]
        response = client.post(f"{CASES}:batch", json={"items": items}, headers=auth_headers("BAWASLU"))
        problem = _refused(response, 422, "batch-rejected")
        assert [error["index"] for error in problem["errors"]] == [3]
        unknown = problem["errors"][0]["problem"]
        assert unknown["type"].endswith("/validation-error")
        assert unknown["invalid_params"] == [
            {"name": "body.violation_code", "reason": "unknown code 'D-99'; see /api/v1/reference"}
        ]
        assert _count(session, Case) == 0
        assert _count(session, LedgerEntry) == before

    def test_every_refused_item_is_listed(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        items = distinct_cases(4)
        items[0]["province_code"] = "99"
        items[2]["reported_date"] = (today_in_jakarta() + dt.timedelta(days=3)).isoformat()
        response = client.post(f"{CASES}:batch", json={"items": items}, headers=auth_headers("BAWASLU"))
        problem = _refused(response, 422, "batch-rejected")
        assert [(e["index"], e["problem"]["invalid_params"][0]["name"]) for e in problem["errors"]] == [
            (0, "body.province_code"),
            (2, "body.reported_date"),
        ]

    def test_refused_items_at_several_indexes_each_get_the_single_create_problem(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        """Checked together, each item is still refused for what a single create of it would answer, and two items
        with the same fault are both listed."""
        bawaslu = auth_headers("BAWASLU")
        items = distinct_cases(8)
        items[0]["position_category"] = "ASTRONAUT"
        items[2]["instansi_code"] = "31"  # DKI Jakarta's government: not a case of province 73
        items[4]["position_category"] = "ASTRONAUT"
        items[5]["reported_date"] = (today_in_jakarta() + dt.timedelta(days=1)).isoformat()
        items[7]["instansi_code"] = "99.99"
        response = client.post(f"{CASES}:batch", json={"items": items}, headers=bawaslu)
        problem = _refused(response, 422, "batch-rejected")
        assert [error["index"] for error in problem["errors"]] == [0, 2, 4, 5, 7]
        for error in problem["errors"]:
            single = client.post(CASES, json=items[error["index"]], headers=bawaslu).json()
            assert error["problem"] == {key: value for key, value in single.items() if key != "instance"}
        assert _count(session, Case) == 0

    def test_a_retired_agency_is_refused_only_the_items_dated_from_its_end(
        self, app: FastAPI, session: Session
    ) -> None:
        """KASN (ended 2024-08-24; its tokens are refused, so its principal is built here, as in
        tests/cases/test_retired_agency.py): history before the end is written, an item dated from it refused."""
        factory, settings = app.state.sessionmaker, app.state.settings
        principal = Principal(client_id="archive-kasn", role=Role.AGENCY, agency=Agency.KASN, scopes=AGENCY_SCOPES)
        kasn = WriteContext(principal=principal, body_sha256="0" * 64, request_id=str(uuid.uuid4()))
        before, after = (
            case_payload(nip=make_nip(seq=seq), incident_date="2024-08-20", reported_date=reported)
            for seq, reported in ((1, "2024-08-23"), (2, "2024-08-24"))
        )
        with pytest.raises(BatchRejected) as rejected:
            write_batch(factory, settings, kasn, BatchKind.CASES, [before, after, before], None)
        with pytest.raises(AgencyNotPermitted) as single:
            flows.create_case(factory, settings, kasn, CaseCreate.model_validate(after), None)
        assert [(e.index, e.problem.status) for e in rejected.value.errors] == [(1, 403)]
        assert rejected.value.errors[0].problem.detail == single.value.detail
        reply = write_batch(factory, settings, kasn, BatchKind.CASES, [before], None)
        assert _count(session, Case, Case.created_by_agency == "KASN") == len(reply.body.items) == 1

    def test_each_entry_holds_the_rows_as_stored_as_a_single_create_entry_does(
        self, client: TestClient, auth_headers: AuthHeaders
    ) -> None:
        """The batch's entries and a single create's: the same shape, each the case and its creator's record as
        they are read back (what the ledger's replay and the state audit compare)."""
        bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
        items = distinct_cases(3)
        items[1] |= {"reference_number": "001/LP/73", "external_id": "E-1", "known_date": "2024-01-03"}
        items[1] |= {"register_number": "001/Reg/LP/73/2024", "election_type": "PEMILU"}
        del items[2]["instansi"]  # the reference instansi's name
        response = client.post(f"{CASES}:batch", json={"items": items}, headers=bawaslu)
        assert response.status_code == 200, response.text
        single = create_case(client, bawaslu, **(items[1] | {"nip": make_nip(seq=999)}))

        def entry_of(seq: int) -> dict[str, Any]:
            entry = client.get(f"/api/v1/ledger/entries/{seq}", headers=bkn).json()
            assert entry["entry_type"] == "case.created"
            payload: dict[str, Any] = entry["payload"]
            return payload

        payloads = [entry_of(result["ledger_seq"]) for result in response.json()["items"]]
        for payload, result in zip(payloads, response.json()["items"], strict=True):
            case = client.get(result["location"], headers=bkn).json()
            (record,) = client.get(f"{result['location']}/records", headers=bkn).json()
            assert payload["case"] == {
                k: v for k, v in case.items() if k not in {"overdue", "allowed_actions", "updated_at"}
            }
            legacy = {"updated_at", "sanction_code", "sanction_level", "sanction_status", "sanction_reason"}
            assert payload["agency_record"] == {k: v for k, v in record.items() if k not in legacy}
        assert payloads[2]["case"]["instansi"] == "Pemerintah Kabupaten Gowa"
        assert (payloads[1]["agency_record"]["reference_number"], payloads[1]["case"]["deadline_date"]) == (
            "001/LP/73",
            single["deadline_date"],
        )
        alone = entry_of(single["receipt"]["entries"][0]["seq"])
        assert list(alone) == list(payloads[1])
        for part in ("case", "agency_record"):
            differ = {k for k in alone[part] if alone[part][k] != payloads[1][part][k]}
            assert differ <= {"id", "case_id", "case_number", "nip", "created_at"}, part
            assert list(alone[part]) == list(payloads[1][part])

    def test_more_than_the_maximum_is_refused(
        self, app: FastAPI, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        items = [case_payload()] * (MAX_BATCH_ITEMS + 1)
        response = client.post(f"{CASES}:batch", json={"items": items}, headers=auth_headers("BAWASLU"))
        problem = _refused(response, 422, "validation-error")
        assert problem["invalid_params"][0]["name"] == "body.items"
        assert "at most 1000" in problem["invalid_params"][0]["reason"]
        assert _count(session, Case) == 0
        stated = app.openapi()["components"]["schemas"]["CaseBatchCreate"]["properties"]["items"]
        assert (stated["maxItems"], stated["items"]["title"]) == (MAX_BATCH_ITEMS, "CaseCreate")

    def test_an_idempotent_retry_replays_the_first_reply(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        headers = auth_headers("BAWASLU") | {"Idempotency-Key": str(uuid.uuid4())}
        body = {"items": distinct_cases(3)}
        first = client.post(f"{CASES}:batch", json=body, headers=headers)
        again = client.post(f"{CASES}:batch", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert _count(session, Case) == 3
        other = client.post(f"{CASES}:batch", json={"items": distinct_cases(4)}, headers=headers)
        _refused(other, 422, "idempotency-key-reused")

    def test_a_refused_batch_releases_its_key(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        headers = auth_headers("BAWASLU") | {"Idempotency-Key": str(uuid.uuid4())}
        items = distinct_cases(2)
        items[1]["violation_code"] = "D-99"
        _refused(client.post(f"{CASES}:batch", json={"items": items}, headers=headers), 422, "batch-rejected")
        items[1]["violation_code"] = "D-6"
        assert client.post(f"{CASES}:batch", json={"items": items}, headers=headers).status_code == 200


class TestRecordAndTransitionBatches:
    def test_transitions_apply_in_order_and_each_item_has_its_problem(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        bawaslu = auth_headers("BAWASLU")
        first, second = (create_case(client, bawaslu, nip=nip) for nip in (make_nip(seq=7), make_nip(seq=8)))
        steps = [
            {"case_id": first["id"], "if_match": f'"{first["version"]}"', "transition": {"action": "verify"}},
            {"case_id": first["id"], "if_match": "*", "transition": {"action": "start_study"}},
            {"case_id": second["id"], "if_match": f'"{second["version"]}"', "transition": {"action": "verify"}},
        ]
        wrong = [*steps, {"case_id": second["id"], "if_match": "*", "transition": {"action": "recommend"}}]
        response = client.post(f"{CASES}/-/transitions:batch", json={"items": wrong}, headers=bawaslu)
        problem = _refused(response, 422, "batch-rejected")
        assert [(e["index"], e["problem"]["status"]) for e in problem["errors"]] == [(3, 409)]
        assert _count(session, CaseTransition) == 0

        response = client.post(f"{CASES}/-/transitions:batch", json={"items": steps}, headers=bawaslu)
        assert response.status_code == 200, response.text
        results = response.json()["items"]
        moved = client.get(f"{CASES}/{first['id']}", headers=bawaslu)
        assert (moved.json()["stage"], moved.headers["etag"]) == ("KAJIAN", results[1]["etag"])
        assert client.get(f"{CASES}/{second['id']}", headers=bawaslu).json()["stage"] == "TERVERIFIKASI"
        assert len(_entries(session, "case.transitioned")) == 3
        stale = [{**steps[2], "transition": {"action": "start_study"}}]
        response = client.post(f"{CASES}/-/transitions:batch", json={"items": stale}, headers=bawaslu)
        problem = _refused(response, 422, "batch-rejected")
        assert problem["errors"][0]["problem"]["status"] == 412

    def test_records_and_an_archive_in_batches(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        bawaslu = auth_headers("BAWASLU")
        case = create_case(client, bawaslu, incident_date="2024-07-29", reported_date="2024-08-01")
        for action in ("verify", "start_study", "forward"):
            case = transition(client, bawaslu, case, action, effective_date="2024-08-05")
        record = {"nip": case["nip"], "stage": "DITERUSKAN", "reported_date": "2024-08-01"}
        missing = str(uuid.uuid4())
        items = [{"case_id": case["id"], "record": record}, {"case_id": missing, "record": record}]
        response = client.post(f"{CASES}/-/records:batch", json={"items": items}, headers=auth_headers("KEMENDAGRI"))
        problem = _refused(response, 422, "batch-rejected")
        assert [(e["index"], e["problem"]["status"]) for e in problem["errors"]] == [(1, 404)]
        kemendagri = auth_headers("KEMENDAGRI")
        response = client.post(f"{CASES}/-/records:batch", json={"items": items[:1]}, headers=kemendagri)
        assert response.status_code == 200, response.text
        result = response.json()["items"][0]
        assert result["location"] == f"{CASES}/{case['id']}/records/{result['id']}"
        assert client.get(result["location"], headers=bawaslu).json()["agency"] == "KEMENDAGRI"

        archived = {"archive_of": "KASN", "recorded_on": "2024-08-12", **record}
        items = [{"case_id": case["id"], "record": archived}]
        response = client.post(f"{CASES}/-/archived-records:batch", json={"items": items}, headers=auth_headers("BKN"))
        assert response.status_code == 200, response.text
        kasn = client.get(response.json()["items"][0]["location"], headers=bawaslu).json()
        assert (kasn["agency"], kasn["imported_by"], kasn["recorded_on"]) == ("KASN", "BKN", "2024-08-12")
        findings = client.get(f"/api/v1/reconciliation/findings?case_id={case['id']}", headers=bawaslu).json()
        assert not [f for f in findings["items"] if f["rule"] == "RETIRED_AGENCY_DATA"]
        assert _count(session, AgencyRecord, AgencyRecord.agency == "KASN") == 1


def _single_problem(response: Any) -> dict[str, Any]:
    """A single operation's problem as a batch lists it (the batch's own request is its instance)."""
    return {key: value for key, value in response.json().items() if key != "instance"}


class TestRecordBatchesAsSingleSubmits:
    """A records batch is checked item by item as single submits in request order would be, and writes the rows
    and ledger entries those single submits would."""

    def test_refused_items_at_several_indexes_each_get_the_single_submit_problem(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        bawaslu, kemendagri = auth_headers("BAWASLU"), auth_headers("KEMENDAGRI")
        first, second, third = (create_case(client, bawaslu, nip=make_nip(seq=seq)) for seq in (11, 12, 13))
        record = {"nip": first["nip"], "stage": "DITERIMA"}
        items = [
            {"case_id": first["id"], "record": record},
            {"case_id": first["id"], "record": record | {"notes": "again"}},  # the earlier item's agency and case
            {"case_id": second["id"], "record": record | {"violation_code": "D-99"}},
            {"case_id": str(uuid.uuid4()), "record": record},
            {"case_id": second["id"], "record": record},
            {"case_id": third["id"], "record": record | {"position_category": "ASTRONAUT"}},
            {"case_id": third["id"], "record": record | {"imposed_sanction_code": "X-1"}},
            {"case_id": third["id"], "record": record},
        ]
        before = _count(session, LedgerEntry)
        response = client.post(f"{CASES}/-/records:batch", json={"items": items}, headers=kemendagri)
        problem = _refused(response, 422, "batch-rejected")
        errors = {error["index"]: error["problem"] for error in problem["errors"]}
        assert [(index, p["status"]) for index, p in errors.items()] == [
            (1, 409),
            (2, 422),
            (3, 404),
            (5, 422),
            (6, 422),
        ]
        assert _count(session, AgencyRecord, AgencyRecord.agency == "KEMENDAGRI") == 0
        assert _count(session, LedgerEntry) == before
        for index, item in enumerate(items):  # the same items one by one, in order
            single = client.post(f"{CASES}/{item['case_id']}/records", json=item["record"], headers=kemendagri)
            if index in errors:
                assert _single_problem(single) == errors[index], index
            else:
                assert single.status_code == 201, single.text

    def test_an_archive_batch_is_refused_as_single_imports_would_be(
        self, app: FastAPI, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
        cases = [
            create_case(client, bawaslu, nip=make_nip(seq=seq), incident_date="2024-07-29", reported_date="2024-08-01")
            for seq in (21, 22)
        ]
        archived = {"archive_of": "KASN", "recorded_on": "2024-08-12", "reported_date": "2024-08-01"}
        items = [
            {"case_id": cases[0]["id"], "record": archived},
            {"case_id": cases[1]["id"], "record": archived | {"recorded_on": "2024-08-24"}},  # KASN's end
            {"case_id": cases[1]["id"], "record": archived | {"sanction_date": "2024-08-13"}},  # after recorded_on
            {"case_id": cases[0]["id"], "record": archived},  # KASN's record of it is the first item
            {"case_id": cases[1]["id"], "record": archived | {"violation_code": "D-99"}},
            {"case_id": cases[1]["id"], "record": archived},
        ]
        response = client.post(f"{CASES}/-/archived-records:batch", json={"items": items}, headers=bkn)
        problem = _refused(response, 422, "batch-rejected")
        errors = {error["index"]: error["problem"] for error in problem["errors"]}
        assert [(index, p["status"]) for index, p in errors.items()] == [(1, 422), (2, 422), (3, 409), (4, 422)]
        for index, item in enumerate(items):
            single = client.post(f"{CASES}/{item['case_id']}/archived-records", json=item["record"], headers=bkn)
            if index in errors:
                assert _single_problem(single) == errors[index], index
            else:
                assert single.status_code == 201, single.text

        # only KASN's successor imports its archive: every item is refused, as each single import is
        refused = [{"case_id": case["id"], "record": archived | {"notes": "x"}} for case in cases]
        kemendagri = auth_headers("KEMENDAGRI")
        response = client.post(f"{CASES}/-/archived-records:batch", json={"items": refused}, headers=kemendagri)
        problem = _refused(response, 422, "batch-rejected")
        single = client.post(
            f"{CASES}/{cases[0]['id']}/archived-records", json=refused[0]["record"], headers=kemendagri
        )
        assert [(e["index"], e["problem"]) for e in problem["errors"]] == [
            (0, _single_problem(single)),
            (1, _single_problem(single)),
        ]
        assert _count(session, AgencyRecord, AgencyRecord.agency == "KASN") == 2

    def test_each_entry_holds_the_record_as_stored_as_a_single_submit_entry_does(
        self, client: TestClient, auth_headers: AuthHeaders
    ) -> None:
        bawaslu, bkn = auth_headers("BAWASLU"), auth_headers("BKN")
        cases = [
            create_case(client, bawaslu, nip=make_nip(seq=seq), incident_date="2024-07-29", reported_date="2024-08-01")
            for seq in (31, 32, 33, 34)
        ]
        record = {
            "nip": cases[0]["nip"],
            "name": "Budi Santoso",
            "stage": "DITERIMA",
            "violation_code": "D-6",
            "recommended_sanction_code": None,
            "reported_date": "2024-08-01",
            "reference_number": "12/BKN/2024",
            "external_id": "SIASN-1",
            "notes": "berkas lengkap",
        }
        archived = record | {"archive_of": "KASN", "recorded_on": "2024-08-12"}
        own = client.post(
            f"{CASES}/-/records:batch",
            json={"items": [{"case_id": case["id"], "record": record} for case in cases[:2]]},
            headers=bkn,
        )
        assert own.status_code == 200, own.text
        archive = client.post(
            f"{CASES}/-/archived-records:batch",
            json={"items": [{"case_id": cases[0]["id"], "record": archived}]},
            headers=bkn,
        )
        assert archive.status_code == 200, archive.text
        single = client.post(f"{CASES}/{cases[2]['id']}/records", json=record, headers=bkn)
        single_archive = client.post(f"{CASES}/{cases[3]['id']}/archived-records", json=archived, headers=bkn)
        assert (single.status_code, single_archive.status_code) == (201, 201)

        def entry_of(seq: int) -> dict[str, Any]:
            entry = client.get(f"/api/v1/ledger/entries/{seq}", headers=bkn).json()
            assert entry["entry_type"] == "agency_record.submitted"
            payload = {k: v for k, v in entry["payload"].items() if k != CASE_LINK}  # the case's previous entry
            return payload

        legacy = {"updated_at", "sanction_code", "sanction_level", "sanction_status", "sanction_reason"}
        batched = [*own.json()["items"], *archive.json()["items"]]
        for result in batched:
            stored = client.get(result["location"], headers=bkn)
            assert stored.headers["etag"] == result["etag"]
            assert entry_of(result["ledger_seq"]) == {k: v for k, v in stored.json().items() if k not in legacy}
        for alone, result in ((single, batched[0]), (single_archive, batched[2])):
            mine, theirs = entry_of(alone.json()["receipt"]["entries"][0]["seq"]), entry_of(result["ledger_seq"])
            assert list(mine) == list(theirs)
            assert {k for k in mine if mine[k] != theirs[k]} == {"id", "case_id", "created_at"}
            assert {k: v for k, v in alone.json().items() if k not in legacy | {"receipt"}} == mine
        assert (entry_of(batched[2]["ledger_seq"])["agency"], entry_of(batched[2]["ledger_seq"])["imported_by"]) == (
            "KASN",
            "BKN",
        )
