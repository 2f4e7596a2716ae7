"""An agency that has ceased to exist (KASN, from 2024-08-24; its duties passed to BKN) writes nothing dated on or
after its end, whoever built its principal: the domain refuses it with 403 agency-not-permitted, naming the end
date and the successor. Writes dated before the end (history) stay possible."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cases.schemas import AgencyRecordCreate, AgencyRecordUpdate, CaseCreate, CaseRead, TransitionCreate
from app.cases.workflow import Action
from app.core.actor import AGENCY_SCOPES, Agency, Principal, Role, WriteContext
from app.core.clock import today_in_jakarta
from app.core.etag import etag_of
from app.core.problems import AgencyNotPermitted
from app.flows import cases as flows
from app.ledger.models import LedgerEntry
from tests.auth_helpers import AuthHeaders, issue_agency_client
from tests.conftest import drain_outbox
from tests.factories import case_payload, create_case, transition
from tests.problems import assert_problem

pytestmark = pytest.mark.slow  # a hardening suite: run by ./test and CI; ./test --fast leaves it out

END = "2024-08-24"


def kasn() -> WriteContext:
    principal = Principal(client_id="archive-kasn", role=Role.AGENCY, agency=Agency.KASN, scopes=AGENCY_SCOPES)
    return WriteContext(principal=principal, body_sha256="0" * 64, request_id=str(uuid.uuid4()))


def assert_refused_naming_end_and_successor(error: pytest.ExceptionInfo[AgencyNotPermitted]) -> None:
    assert error.value.status == 403
    detail = error.value.detail or ""
    assert END in detail
    assert "BKN" in detail


def _forwarded_case(client: TestClient, auth_headers: AuthHeaders, on: str) -> dict[str, object]:
    case = create_case(client, auth_headers("BAWASLU"), incident_date="2024-08-01", reported_date="2024-08-02")
    for action in ("verify", "start_study", "forward"):
        case = transition(client, auth_headers("BAWASLU"), case, action, effective_date=on)
    return case


def _kasn_recommends(app: FastAPI, case: dict[str, object], effective: str | None) -> CaseRead:
    """KASN's own recommend step on ``case``, effective on ``effective`` (None: today), through the write flow."""
    data = TransitionCreate.model_validate(
        {
            "action": Action.RECOMMEND.value,
            "effective_date": effective,
            "sanction_code": "BERAT_PENURUNAN_JABATAN",
            "reference_number": "R-1/KASN/8/2024",
        }
    )
    etag = etag_of(int(str(case["version"])))
    settings = app.state.settings
    return flows.transition_case(
        app.state.sessionmaker, settings, kasn(), uuid.UUID(str(case["id"])), data, etag, None
    ).body


@pytest.mark.parametrize("reported", [END, "2024-09-02"])
def test_case_creation_dated_from_the_end_is_refused(app: FastAPI, reported: str) -> None:
    data = CaseCreate.model_validate(case_payload(incident_date="2024-08-01", reported_date=reported))
    with pytest.raises(AgencyNotPermitted) as error:
        flows.create_case(app.state.sessionmaker, app.state.settings, kasn(), data, None)
    assert_refused_naming_end_and_successor(error)


def test_case_creation_dated_before_the_end_stays_possible(app: FastAPI) -> None:
    data = CaseCreate.model_validate(case_payload(incident_date="2024-08-01", reported_date="2024-08-23"))
    created = flows.create_case(app.state.sessionmaker, app.state.settings, kasn(), data, None).body
    assert created.created_by_agency == "KASN"


@pytest.mark.parametrize("effective", [END, "2024-09-02", None])  # None: today
def test_transitions_dated_from_the_end_are_refused(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, effective: str | None
) -> None:
    case = _forwarded_case(client, auth_headers, "2024-08-05")
    with pytest.raises(AgencyNotPermitted) as error:
        _kasn_recommends(app, case, effective)
    assert_refused_naming_end_and_successor(error)


def test_a_transition_dated_before_the_end_stays_possible(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _forwarded_case(client, auth_headers, "2024-08-05")
    assert _kasn_recommends(app, case, "2024-08-23").recommended_by == "KASN"


def test_record_submission_and_update_are_refused(app: FastAPI, client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    case_id = uuid.UUID(str(case["id"]))
    with pytest.raises(AgencyNotPermitted) as error:
        flows.submit_record(
            app.state.sessionmaker, app.state.settings, kasn(), case_id, AgencyRecordCreate(stage="DITERIMA"), None
        )
    assert_refused_naming_end_and_successor(error)
    # A KASN record kept from before the end (written straight to the table) cannot be changed either.
    from app.cases.models import AgencyRecord

    with app.state.sessionmaker() as session, session.begin():
        record = AgencyRecord(case_id=case_id, agency="KASN", stage="DITERIMA", submitted_by_client="archive-kasn")
        session.add(record)
        session.flush()
        record_id, version = record.id, record.version
    with pytest.raises(AgencyNotPermitted) as error:
        flows.update_record(
            app.state.sessionmaker,
            app.state.settings,
            kasn(),
            case_id,
            record_id,
            AgencyRecordUpdate(stage="KAJIAN"),
            etag_of(version),
        )
    assert_refused_naming_end_and_successor(error)


def test_kasn_tokens_are_refused_by_the_resource_server(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.get("/api/v1/cases", headers=auth_headers("KASN"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="sbt", error="invalid_token"')
    assert END in response.json()["detail"]
    assert "BKN" in response.json()["detail"]


def test_the_attack_of_a_kasn_client_writes_nothing_today_whatever_its_dates(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, session: Session
) -> None:
    """The attacker's run: KASN creating a case dated today, then recommending and imposing back-dated."""
    kasn_headers = auth_headers("KASN")
    forwarded = _forwarded_case(client, auth_headers, "2024-08-05")
    recommended = _forwarded_case(client, auth_headers, "2024-08-05")
    recommended = _kasn_recommends(app, recommended, "2024-08-20").model_dump(mode="json")  # KASN's own history
    drain_outbox(app)  # the findings of that history, before counting what the attack writes
    ledger_before = session.scalar(select(func.count()).select_from(LedgerEntry))
    today = today_in_jakarta().isoformat()
    attempts = [
        ("/api/v1/cases", case_payload(reported_date=today), {}),
        (
            f"/api/v1/cases/{forwarded['id']}/transitions",
            {
                "action": "recommend",
                "effective_date": "2024-08-20",
                "sanction_code": "BERAT_PENURUNAN_JABATAN",
                "reference_number": "R-2/KASN/8/2024",
            },
            {"If-Match": etag_of(int(str(forwarded["version"])))},
        ),
        (
            f"/api/v1/cases/{recommended['id']}/transitions",
            {"action": "impose_sanction", "effective_date": "2024-08-22", "sanction_code": "BERAT_PENURUNAN_JABATAN"},
            {"If-Match": etag_of(int(str(recommended["version"])))},
        ),
    ]
    for path, body, extra in attempts:
        response = client.post(path, json=body, headers=kasn_headers | extra)
        assert_problem(response, 401)
        assert END in response.json()["detail"]
    session.rollback()  # see what the requests committed
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == ledger_before
    for case in (forwarded, recommended):
        now = client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("auditor")).json()
        assert (now["stage"], now["version"]) == (case["stage"], case["version"])


def test_the_embedded_issuer_gives_a_kasn_client_no_token(app: FastAPI, client: TestClient) -> None:
    with app.state.sessionmaker() as session, session.begin():
        credentials = issue_agency_client(session, app, Agency.KASN, "kasn-archive", "KASN archive")
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("kasn-archive", credentials.client_secret),
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "unauthorized_client"
    assert END in response.json()["error_description"]
    assert "BKN" in response.json()["error_description"]


def test_today_is_after_the_end() -> None:
    assert dt.date.fromisoformat(END) < today_in_jakarta()
