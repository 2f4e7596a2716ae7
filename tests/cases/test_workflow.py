"""The handling workflow over HTTP: every legal transition, and a sample of illegal ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cases.workflow import TERMINAL_STAGES, TRANSITIONS, Action, Stage, Transition
from app.core.actor import Agency
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, transition

SANCTION = "BERAT_PENURUNAN_JABATAN"
Step = tuple[Action, str, str]  # action, agency, effective date

# One route through the workflow in late 2024: KASN has ended, BKN holds its duties. Dates leave every deadline
# behind (weekdays as in the original early-2024 route, 35 weeks later).
PATH: dict[Stage, list[Step]] = {Stage.DITERIMA: []}
_ROUTE: list[tuple[Stage, Step]] = [
    (Stage.TERVERIFIKASI, (Action.VERIFY, "BAWASLU", "2024-09-06")),
    (Stage.KAJIAN, (Action.START_STUDY, "BAWASLU", "2024-09-07")),
    (Stage.DITERUSKAN, (Action.FORWARD, "BAWASLU", "2024-09-09")),
    (Stage.REKOMENDASI, (Action.RECOMMEND, "BKN", "2024-09-11")),
    (Stage.TEGURAN_BKN, (Action.REPRIMAND, "BKN", "2024-09-27")),
    (Stage.PPK_DISANKSI, (Action.SANCTION_PPK, "KEMENDAGRI", "2024-10-03")),
    (Stage.DIBLOKIR, (Action.BLOCK, "BKN", "2024-10-07")),
]
for _index, (_stage, _step) in enumerate(_ROUTE):
    PATH[_stage] = [step for _, step in _ROUTE[: _index + 1]]


def _fields(action: Action, transition_spec: Transition | None = None) -> dict[str, Any]:
    spec = transition_spec or next(t for t in TRANSITIONS if t.action is action)
    fields: dict[str, Any] = {}
    if spec.requires_sanction:
        fields["sanction_code"] = SANCTION
    if spec.requires_reference:
        fields["reference_number"] = "R-1194/KASN/4/2024"
    return fields


def _walk(client: TestClient, auth_headers: AuthHeaders, stage: Stage) -> dict[str, Any]:
    case = create_case(client, auth_headers("BAWASLU"), incident_date="2024-09-03", reported_date="2024-09-05")
    for action, agency, on in PATH[stage]:
        case = transition(client, auth_headers(agency), case, action.value, effective_date=on, **_fields(action))
    return case


def _last_date(stage: Stage) -> dt.date:
    return dt.date.fromisoformat(PATH[stage][-1][2]) if PATH[stage] else dt.date(2024, 9, 5)


@pytest.mark.parametrize("edge", TRANSITIONS, ids=lambda t: f"{t.action}:{t.source}->{t.target}")
def test_every_legal_transition(client: TestClient, auth_headers: AuthHeaders, edge: Transition) -> None:
    case = _walk(client, auth_headers, edge.source)
    on = _last_date(edge.source) + dt.timedelta(days=21)  # past any deadline: 10 working days span up to 3 weeks
    agency = sorted(edge.agencies - {Agency.KASN} or {Agency.BKN})[0]  # KASN ended on 2024-08-24: BKN acts
    moved = transition(
        client,
        auth_headers(agency),
        case,
        edge.action.value,
        effective_date=on.isoformat(),
        **_fields(edge.action, edge),
    )
    assert moved["stage"] == edge.target
    assert moved["stage_entered_on"] == on.isoformat()
    assert moved["version"] == case["version"] + 1
    history = client.get(f"/api/v1/cases/{case['id']}/transitions", headers=auth_headers("auditor")).json()
    assert (
        history[-1]["action"],
        history[-1]["from_stage"],
        history[-1]["to_stage"],
        history[-1]["agency"],
    ) == (
        edge.action,
        edge.source,
        edge.target,
        agency,
    )
    if edge.target in TERMINAL_STAGES:
        assert moved["allowed_actions"] == ["reopen"]


def test_report_to_sanction_records_recommendation_and_deadlines(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _walk(client, auth_headers, Stage.REKOMENDASI)
    assert case["recommended_by"] == "BKN"
    assert case["recommendation_number"] == "R-1194/KASN/4/2024"
    assert case["recommended_sanction_code"] == SANCTION
    assert case["deadline_date"] == "2024-09-26"  # 10 working days for the PPK by default (16 Sep: Maulid)
    assert case["overdue"] is True
    done = transition(
        client,
        auth_headers("BKN"),
        case,
        "impose_sanction",
        effective_date="2024-09-19",
        sanction_code="BERAT_PEMBEBASAN_JABATAN",  # another sanction of the recommended level: no reason needed
    )
    assert done["stage"] == "SANKSI_DIJATUHKAN"
    assert done["imposed_sanction_code"] == "BERAT_PEMBEBASAN_JABATAN"
    assert done["deadline_date"] is None


def test_after_kasn_dissolution_bkn_recommends_and_kasn_may_not(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"), incident_date="2024-08-20", reported_date="2024-08-21")
    for action, agency, on in PATH[Stage.DITERUSKAN]:
        del on
        case = transition(client, auth_headers(agency), case, action.value, effective_date="2024-08-22")
    fields = _fields(Action.RECOMMEND)
    refused = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "recommend", "effective_date": "2024-08-24", **fields},
        headers=auth_headers("KASN") | {"If-Match": f'"{case["version"]}"'},
    )
    assert refused.status_code == 401  # KASN's tokens are refused altogether since it ceased to exist
    assert "2024-08-24" in refused.json()["detail"]
    assert "BKN" in refused.json()["detail"]
    moved = transition(client, auth_headers("BKN"), case, "recommend", effective_date="2024-08-24", **fields)
    assert moved["recommended_by"] == "BKN"


@pytest.mark.parametrize(
    ("stage", "action", "agency", "status", "problem"),
    [
        (Stage.DITERIMA, Action.RECOMMEND, "BKN", 409, "illegal-transition"),
        (Stage.DITERIMA, Action.LIFT_BLOCK, "BKN", 409, "illegal-transition"),
        (Stage.KAJIAN, Action.VERIFY, "BAWASLU", 409, "illegal-transition"),
        (Stage.DITERIMA, Action.VERIFY, "KEMENDAGRI", 403, "agency-not-permitted"),
        (Stage.TERVERIFIKASI, Action.START_STUDY, "BKN", 403, "agency-not-permitted"),
        (Stage.TEGURAN_BKN, Action.SANCTION_PPK, "BKN", 403, "agency-not-permitted"),
        (Stage.DITERUSKAN, Action.RECOMMEND, "BAWASLU", 403, "agency-not-permitted"),
    ],
)
def test_illegal_transitions_are_refused_with_a_clear_problem(
    client: TestClient,
    auth_headers: AuthHeaders,
    stage: Stage,
    action: Action,
    agency: str,
    status: int,
    problem: str,
) -> None:
    case = _walk(client, auth_headers, stage)
    on = _last_date(stage) + dt.timedelta(days=15)
    response = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": action.value, "effective_date": on.isoformat(), **_fields(action)},
        headers=auth_headers(agency) | {"If-Match": f'"{case["version"]}"'},
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(problem)
    assert str(stage) in response.json()["detail"] or agency in response.json()["detail"]
    unchanged = client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("BKN")).json()
    assert unchanged["stage"] == stage
    assert unchanged["version"] == case["version"]


def test_escalation_before_the_deadline_is_refused(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _walk(client, auth_headers, Stage.REKOMENDASI)
    response = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "reprimand", "effective_date": "2024-09-21"},  # deadline day itself: not yet passed
        headers=auth_headers("BKN") | {"If-Match": f'"{case["version"]}"'},
    )
    assert response.status_code == 409
    assert "deadline" in response.json()["detail"]


def test_terminal_stage_allows_nothing(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    rejected = transition(client, auth_headers("BAWASLU"), case, "reject", effective_date="2024-01-05")
    response = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "verify"},
        headers=auth_headers("BAWASLU") | {"If-Match": f'"{rejected["version"]}"'},
    )
    assert response.status_code == 409
    assert "DITOLAK" in response.json()["detail"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reference_number": "R-1/KASN/1/2024"}, "body.sanction_code"),
        ({"sanction_code": SANCTION}, "body.reference_number"),
        ({"sanction_code": "NO_SUCH", "reference_number": "R-1"}, "body.sanction_code"),
    ],
)
def test_recommendation_needs_a_known_sanction_and_a_letter_number(
    client: TestClient, auth_headers: AuthHeaders, fields: dict[str, str], field: str
) -> None:
    case = _walk(client, auth_headers, Stage.DITERUSKAN)
    response = client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "recommend", "effective_date": "2024-09-11", **fields},
        headers=auth_headers("BKN") | {"If-Match": f'"{case["version"]}"'},
    )
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == field


def test_effective_date_cannot_precede_the_current_stage_or_lie_in_the_future(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = create_case(client, auth_headers("BAWASLU"))
    for effective in ("2024-01-03", "2999-01-01"):
        response = client.post(
            f"/api/v1/cases/{case['id']}/transitions",
            json={"action": "verify", "effective_date": effective},
            headers=auth_headers("BAWASLU") | {"If-Match": f'"{case["version"]}"'},
        )
        assert response.status_code == 422, effective


def test_each_step_updates_the_acting_agencys_own_record(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _walk(client, auth_headers, Stage.REKOMENDASI)
    done = transition(
        client, auth_headers("BKN"), case, "impose_sanction", effective_date="2024-09-19", sanction_code=SANCTION
    )
    records = {
        r["agency"]: r for r in client.get(f"/api/v1/cases/{done['id']}/records", headers=auth_headers("BKN")).json()
    }
    assert set(records) == {"BAWASLU", "BKN"}
    assert records["BAWASLU"]["stage"] == "DITERUSKAN"  # its last step: forward
    bkn = records["BKN"]
    assert (bkn["stage"], bkn["sanction_code"], bkn["sanction_status"]) == ("SANKSI_DIJATUHKAN", SANCTION, "IMPOSED")
    assert (bkn["recommendation_date"], bkn["sanction_date"]) == (case["recommendation_date"], "2024-09-19")
    assert bkn["reference_number"] == case["recommendation_number"]
    assert (bkn["nip"], bkn["name"], bkn["violation_code"]) == (done["nip"], done["name"], done["violation_code"])


def test_a_clean_happy_path_raises_no_finding_about_the_agencies_that_acted(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _walk(client, auth_headers, Stage.REKOMENDASI)
    done = transition(
        client, auth_headers("BKN"), case, "impose_sanction", effective_date="2024-09-19", sanction_code=SANCTION
    )
    findings = client.get(
        "/api/v1/reconciliation/findings", params={"case_id": done["id"]}, headers=auth_headers("auditor")
    ).json()["items"]
    about_the_actors = [
        (f["rule"], f["agencies"])
        for f in findings
        if f["state"] == "OPEN" and {"BAWASLU", "BKN"} & set(f["agencies"]) and f["rule"] != "DEADLINE_EXCEEDED"
    ]
    assert about_the_actors == []


@pytest.mark.parametrize(
    ("study_starts", "deadline"),
    [
        ("2024-04-05", "2024-04-18"),  # Idulfitri 10-11 April and cuti bersama 8, 9, 12, 15 April are not counted
        ("2024-12-24", "2024-12-31"),  # Christmas 25 December and cuti bersama 26 December
        ("2024-09-04", "2024-09-09"),  # an ordinary week: Thursday, Friday, then Monday
    ],
)
def test_the_kajian_deadline_counts_working_days_without_holidays_or_cuti_bersama(
    client: TestClient, auth_headers: AuthHeaders, study_starts: str, deadline: str
) -> None:
    bawaslu = auth_headers("BAWASLU")
    on = dt.date.fromisoformat(study_starts)
    case = create_case(
        client,
        bawaslu,
        incident_date=(on - dt.timedelta(days=3)).isoformat(),
        reported_date=(on - dt.timedelta(days=2)).isoformat(),
    )
    case = transition(client, bawaslu, case, "verify", effective_date=(on - dt.timedelta(days=1)).isoformat())
    case = transition(client, bawaslu, case, "start_study", effective_date=study_starts)
    assert (case["stage"], case["deadline_date"]) == ("KAJIAN", deadline)
