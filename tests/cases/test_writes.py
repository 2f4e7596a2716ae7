"""Idempotency-Key, ETag/If-Match, agency records and problem+json on bad input."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.cases.models import Case
from app.core.clock import today_in_jakarta
from app.core.db import utcnow
from app.idempotency.models import IdempotencyRecord
from tests.auth_helpers import AuthHeaders
from tests.conftest import Writing
from tests.factories import case_payload, create_case, make_nip, make_pppk_nip

PROBLEM = "application/problem+json"


def _case_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Case)) or 0


class TestCreateCase:
    def test_creates_case_and_the_creators_record(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        response = client.post("/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU"))
        assert response.status_code == 201
        body = response.json()
        assert response.headers["location"] == f"/api/v1/cases/{body['id']}"
        assert response.headers["etag"] == f'"{body["version"]}"'
        assert body["case_number"].startswith(f"SBT-{today_in_jakarta().year}-")
        assert body["stage"] == "DITERIMA"
        assert body["employee_kind"] == "PNS"
        assert body["created_by_agency"] == "BAWASLU"
        assert body["deadline_date"] == "2024-01-11"  # 7 days for verification
        records = client.get(f"/api/v1/cases/{body['id']}/records", headers=auth_headers("BKN")).json()
        assert [(r["agency"], r["nip"], r["stage"]) for r in records] == [("BAWASLU", body["nip"], "DITERIMA")]

    def test_pppk_nip_is_accepted(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        body = create_case(client, auth_headers("BKN"), nip=make_pppk_nip())
        assert body["employee_kind"] == "PPPK"

    def test_case_numbers_are_unique_and_sequential(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        numbers = [create_case(client, auth_headers("BAWASLU"))["case_number"] for _ in range(3)]
        assert len(set(numbers)) == 3
        assert [int(n.rsplit("-", 1)[1]) for n in numbers] == sorted(int(n.rsplit("-", 1)[1]) for n in numbers)


class TestBadInput:
    @pytest.mark.parametrize(
        ("overrides", "location"),
        [
            ({"nip": 196608011988031001}, "body.nip"),
            ({"nip": "19660801198803100"}, "body.nip"),
            ({"nip": "1966080119880310011"}, "body.nip"),
            ({"nip": "196602301988031001"}, "body.nip"),
            ({"nip": "196608011988033001"}, "body.nip"),
            ({"election_year": "2024"}, "body.election_year"),
            ({"phase": "SOMETIME"}, "body.phase"),
            ({"unexpected": "field"}, "body.unexpected"),
            ({"reported_date": "2023-12-01"}, "body"),
            ({"name": "Amir\u0000Santoso"}, "body.name"),
        ],
    )
    def test_invalid_fields_are_422_problems(
        self,
        client: TestClient,
        auth_headers: AuthHeaders,
        session: Session,
        overrides: dict[str, object],
        location: str,
    ) -> None:
        response = client.post("/api/v1/cases", json=case_payload(**overrides), headers=auth_headers("BAWASLU"))
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"].endswith("/validation-error")
        assert problem["status"] == 422
        assert any(param["name"].startswith(location) for param in problem["invalid_params"])
        assert _case_count(session) == 0

    @pytest.mark.parametrize(
        ("field", "code"),
        [("violation_code", "D-99"), ("province_code", "99"), ("position_category", "PRESIDEN")],
    )
    def test_unknown_reference_codes_are_422(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session, field: str, code: str
    ) -> None:
        response = client.post("/api/v1/cases", json=case_payload(**{field: code}), headers=auth_headers("BAWASLU"))
        assert response.status_code == 422
        assert response.json()["invalid_params"][0]["name"] == f"body.{field}"
        assert _case_count(session) == 0

    @pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2", '{"nip": "\u0000"'.encode()])
    def test_malformed_json_is_a_400_problem(self, client: TestClient, auth_headers: AuthHeaders, body: bytes) -> None:
        response = client.post(
            "/api/v1/cases",
            content=body,
            headers=auth_headers("BAWASLU") | {"Content-Type": "application/json"},
        )
        assert response.status_code in {400, 422}
        assert response.headers["content-type"] == PROBLEM

    def test_unknown_case_is_404_problem(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        response = client.get("/api/v1/cases/00000000-0000-4000-8000-000000000000", headers=auth_headers("BKN"))
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
        assert client.get("/api/v1/cases/not-a-uuid", headers=auth_headers("BKN")).status_code == 422

    def test_unknown_route_is_404_problem(self, client: TestClient) -> None:
        response = client.get("/api/v1/nothing-here")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


class TestIdempotency:
    def test_replay_returns_the_first_response_and_creates_nothing_new(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        headers = auth_headers("BAWASLU") | {"Idempotency-Key": "8e0e6a52-3a42-4a40-9a53-5b8f0f1d2c11"}
        payload = case_payload()
        first = client.post("/api/v1/cases", json=payload, headers=headers)
        second = client.post("/api/v1/cases", json=payload, headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert second.headers["location"] == first.headers["location"]
        assert "idempotent-replayed" not in first.headers
        assert _case_count(session) == 1

    def test_same_key_with_a_different_body_is_422(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        headers = auth_headers("BAWASLU") | {"Idempotency-Key": "key-1"}
        assert client.post("/api/v1/cases", json=case_payload(), headers=headers).status_code == 201
        response = client.post("/api/v1/cases", json=case_payload(name="Someone Else"), headers=headers)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/idempotency-key-reused")
        assert _case_count(session) == 1

    def test_request_still_in_flight_is_409(
        self, client: TestClient, auth_headers: AuthHeaders, writing: Writing
    ) -> None:
        headers = auth_headers("BAWASLU") | {"Idempotency-Key": "key-in-flight"}
        payload = case_payload()
        body = json.dumps(payload).encode()
        # Claim the key as a first request that has not finished would (same client, same request).
        first = client.post("/api/v1/cases", content=body, headers=headers | {"Content-Type": "application/json"})
        with writing() as writer:
            claimed = writer.scalars(select(IdempotencyRecord)).one()
            claimed.response_status = None
            claimed.created_at = utcnow()
        response = client.post("/api/v1/cases", content=body, headers=headers | {"Content-Type": "application/json"})
        assert first.status_code == 201
        assert response.status_code == 409
        assert response.json()["type"].endswith("/idempotency-in-flight")
        assert response.headers["retry-after"] == "1"

    def test_keys_are_per_client(self, client: TestClient, auth_headers: AuthHeaders, session: Session) -> None:
        payload = case_payload()
        for agency in ("BAWASLU", "BKN"):
            response = client.post(
                "/api/v1/cases", json=payload, headers=auth_headers(agency) | {"Idempotency-Key": "k"}
            )
            assert response.status_code == 201
            assert "idempotent-replayed" not in response.headers
        assert _case_count(session) == 2

    def test_a_failed_request_does_not_burn_the_key(
        self, client: TestClient, auth_headers: AuthHeaders, session: Session
    ) -> None:
        headers = auth_headers("BAWASLU") | {"Idempotency-Key": "retry-me"}
        payload = case_payload(violation_code="D-99")
        assert client.post("/api/v1/cases", json=payload, headers=headers).status_code == 422
        assert session.scalars(select(IdempotencyRecord)).all() == []
        payload["violation_code"] = "D-6"
        assert client.post("/api/v1/cases", json=payload, headers=headers).status_code == 201


class TestAgencyRecordsAndPreconditions:
    def test_agency_submits_then_updates_its_own_record_with_if_match(
        self, client: TestClient, auth_headers: AuthHeaders
    ) -> None:
        case = create_case(client, auth_headers("BAWASLU"))
        submitted = client.post(
            f"/api/v1/cases/{case['id']}/records",
            json={"nip": case["nip"], "name": "Amir Santoso", "stage": "DITERIMA", "external_id": "KMD-77"},
            headers=auth_headers("KEMENDAGRI"),
        )
        assert submitted.status_code == 201
        record = submitted.json()
        assert record["agency"] == "KEMENDAGRI"
        url = f"/api/v1/cases/{case['id']}/records/{record['id']}"
        etag = client.get(url, headers=auth_headers("BKN")).headers["etag"]
        assert etag == f'"{record["version"]}"'

        missing = client.patch(url, json={"stage": "KAJIAN"}, headers=auth_headers("KEMENDAGRI"))
        assert missing.status_code == 428, missing.text
        assert missing.headers["content-type"] == PROBLEM
        stale = client.patch(url, json={"stage": "KAJIAN"}, headers=auth_headers("KEMENDAGRI") | {"If-Match": '"999"'})
        assert stale.status_code == 412
        assert stale.headers["etag"] == etag
        updated = client.patch(url, json={"stage": "KAJIAN"}, headers=auth_headers("KEMENDAGRI") | {"If-Match": etag})
        assert updated.status_code == 200
        assert updated.json()["stage"] == "KAJIAN"
        assert updated.json()["external_id"] == "KMD-77"
        assert updated.headers["etag"] != etag
        again = client.patch(url, json={"stage": "DITERUSKAN"}, headers=auth_headers("KEMENDAGRI") | {"If-Match": etag})
        assert again.status_code == 412

    def test_second_record_of_the_same_agency_is_409(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        case = create_case(client, auth_headers("BAWASLU"))
        response = client.post(f"/api/v1/cases/{case['id']}/records", json={}, headers=auth_headers("BAWASLU"))
        assert response.status_code == 409

    def test_other_agencys_record_cannot_be_changed(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        case = create_case(client, auth_headers("BAWASLU"))
        record = client.get(f"/api/v1/cases/{case['id']}/records", headers=auth_headers("BKN")).json()[0]
        url = f"/api/v1/cases/{case['id']}/records/{record['id']}"
        response = client.patch(url, json={"name": "X"}, headers=auth_headers("BKN") | {"If-Match": '"1"'})
        assert response.status_code == 404
        assert client.get(url, headers=auth_headers("BKN")).json()["name"] == record["name"]

    def test_record_nip_must_be_an_18_digit_string(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        case = create_case(client, auth_headers("BAWASLU"))
        for nip in (196608011988031001, "1966080119880310"):
            response = client.post(
                f"/api/v1/cases/{case['id']}/records", json={"nip": nip}, headers=auth_headers("BKN")
            )
            assert response.status_code == 422

    def test_transition_needs_if_match(self, client: TestClient, auth_headers: AuthHeaders) -> None:
        case = create_case(client, auth_headers("BAWASLU"), nip=make_nip())
        url = f"/api/v1/cases/{case['id']}/transitions"
        assert client.post(url, json={"action": "verify"}, headers=auth_headers("BAWASLU")).status_code == 428
        stale = client.post(url, json={"action": "verify"}, headers=auth_headers("BAWASLU") | {"If-Match": '"41"'})
        assert stale.status_code == 412
        assert client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("BKN")).json()["stage"] == "DITERIMA"


def test_a_failed_commit_is_never_acknowledged(
    client: TestClient, auth_headers: AuthHeaders, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request's commit runs before the response is sent: if it fails, the client gets an error, not a 201."""

    def failing_commit(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Session, "commit", failing_commit)
    response = TestClient(client.app, raise_server_exceptions=False).post(
        "/api/v1/cases", json=case_payload(), headers=auth_headers("BAWASLU")
    )
    monkeypatch.undo()
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert _case_count(session) == 0
