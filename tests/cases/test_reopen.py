"""Reopening a case that ended, over HTTP: it returns to the workflow at the right stage and can proceed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cases.workflow import REOPENINGS, TERMINAL_STAGES, Action, Stage
from tests.auth_helpers import AuthHeaders
from tests.cases.test_workflow import PATH, SANCTION, _fields
from tests.factories import create_case, transition
from tests.problems import assert_problem

CASES = "/api/v1/cases"
BANDING = "800.1.6.4/123/BPASN/2025"


def _reopen(client: TestClient, headers: dict[str, str], case: dict[str, Any], **body: Any) -> Any:
    return client.post(
        f"{CASES}/{case['id']}/reopen",
        json={"reference_number": BANDING} | body,
        headers=headers | {"If-Match": f'"{case["version"]}"'},
    )


def _reopened(client: TestClient, headers: dict[str, str], case: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = _reopen(client, headers, case, **body)
    assert response.status_code == 200, response.text
    reopened: dict[str, Any] = response.json()
    return reopened


def _walk(client: TestClient, auth_headers: AuthHeaders, stage: Stage) -> dict[str, Any]:
    case = create_case(client, auth_headers("BAWASLU"), incident_date="2024-09-03", reported_date="2024-09-05")
    for action, agency, on in PATH[stage]:
        case = transition(client, auth_headers(agency), case, action.value, effective_date=on, **_fields(action))
    return case


def _findings(client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any]) -> set[tuple[str, str]]:
    response = client.get(
        "/api/v1/reconciliation/findings", params={"case_id": case["id"]}, headers=auth_headers("auditor")
    )
    assert response.status_code == 200, response.text
    return {(finding["rule"], finding["state"]) for finding in response.json()["items"]}


def test_every_terminal_stage_can_be_reopened() -> None:
    assert set(REOPENINGS) == TERMINAL_STAGES


def test_a_sanction_annulled_on_banding_returns_the_case_to_the_ppk(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    bkn = auth_headers("BKN")
    case = _walk(client, auth_headers, Stage.REKOMENDASI)
    case = transition(client, bkn, case, "impose_sanction", effective_date="2024-09-20", sanction_code=SANCTION)
    assert "reopen" in case["allowed_actions"]

    reopened = _reopened(client, bkn, case, reason="BANDING", effective_date="2025-02-03", note="Banding dikabulkan")
    assert reopened["stage"] == "REKOMENDASI"
    assert reopened["stage_entered_on"] == "2025-02-03"
    assert reopened["deadline_date"] == "2025-02-17"  # the PPK has 10 working days again
    assert reopened["imposed_sanction_code"] is None
    assert reopened["sanction_date"] is None
    assert reopened["recommended_sanction_code"] == SANCTION  # the recommendation stands
    assert "impose_sanction" in reopened["allowed_actions"]

    history = client.get(f"{CASES}/{case['id']}/transitions", headers=auth_headers("auditor")).json()
    assert (history[-1]["action"], history[-1]["from_stage"], history[-1]["to_stage"]) == (
        "reopen",
        "SANKSI_DIJATUHKAN",
        "REKOMENDASI",
    )
    assert (history[-1]["reopen_reason"], history[-1]["reference_number"], history[-1]["agency"]) == (
        "BANDING",
        BANDING,
        "BKN",
    )
    assert all(step["reopen_reason"] is None for step in history[:-1])

    # BKN's own record follows the step, as for any transition: back to its recommendation
    records = client.get(f"{CASES}/{case['id']}/records", headers=bkn).json()
    bkn_record = next(record for record in records if record["agency"] == "BKN")
    assert (bkn_record["stage"], bkn_record["sanction_status"], bkn_record["sanction_code"]) == (
        "REKOMENDASI",
        "RECOMMENDED",
        SANCTION,
    )
    assert bkn_record["sanction_date"] is None

    entries = client.get(
        f"/api/v1/ledger/cases/{case['id']}/entries", params={"limit": 500}, headers=auth_headers("auditor")
    ).json()
    reopen_entry = next(e for e in reversed(entries["items"]) if e["entry_type"] == "case.transitioned")
    assert reopen_entry["payload"]["action"] == "reopen"
    assert reopen_entry["payload"]["reopen_reason"] == "BANDING"
    assert reopen_entry["payload"]["case"]["stage"] == "REKOMENDASI"

    # the PPK decides again; nothing about the reopening is a disagreement between agencies
    done = transition(client, bkn, reopened, "impose_sanction", effective_date="2025-02-10", sanction_code=SANCTION)
    assert done["stage"] == "SANKSI_DIJATUHKAN"
    # the only finding was the PPK's new deadline passing (these dates are long gone), closed by the sanction
    assert _findings(client, auth_headers, case) == {("DEADLINE_EXCEEDED", "RESOLVED")}


@pytest.mark.parametrize(
    ("ending", "by", "target"),
    [
        (("reject", "BAWASLU"), "BKN", "DITERIMA"),  # either agency that may reject reopens
        (("dismiss", "BAWASLU"), "BAWASLU", "KAJIAN"),  # Bawaslu's own dismissal after its kajian
        (("cancel", "BKN"), "BAWASLU", "DITERUSKAN"),
        (("deactivate", "BKN"), "BKN", "DITERUSKAN"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, tuple) else value,
)
def test_a_case_that_ended_early_returns_to_the_stage_it_ended_from_and_proceeds(
    client: TestClient, auth_headers: AuthHeaders, ending: tuple[str, str], by: str, target: str
) -> None:
    action, ender = ending
    start = {"reject": Stage.DITERIMA, "dismiss": Stage.KAJIAN}.get(action, Stage.DITERUSKAN)
    case = transition(
        client, auth_headers(ender), _walk(client, auth_headers, start), action, effective_date="2024-09-12"
    )
    reason = "STATUS_ASN_DIPULIHKAN" if action == "deactivate" else "BUKTI_BARU"
    reopened = _reopened(client, auth_headers(by), case, reason=reason, effective_date="2024-10-01")
    assert reopened["stage"] == target
    assert reopened["deadline_date"] is not None
    assert "reopen" not in reopened["allowed_actions"]
    next_step = {
        "DITERIMA": ("verify", "BAWASLU"),
        "KAJIAN": ("forward", "BAWASLU"),
        "DITERUSKAN": ("recommend", "BKN"),
    }
    step, agency = next_step[target]
    moved = transition(
        client, auth_headers(agency), reopened, step, effective_date="2024-10-02", **_fields(Action(step))
    )
    assert moved["stage"] != target


@pytest.mark.parametrize("stage", [Stage.DITERIMA, Stage.KAJIAN, Stage.REKOMENDASI, Stage.DIBLOKIR], ids=str)
def test_a_case_still_open_cannot_be_reopened(client: TestClient, auth_headers: AuthHeaders, stage: Stage) -> None:
    case = _walk(client, auth_headers, stage)
    problem = assert_problem(_reopen(client, auth_headers("BKN"), case, reason="BUKTI_BARU"), 409)
    assert problem["type"].endswith("/illegal-transition")
    assert problem["current_stage"] == stage
    assert "has not ended" in problem["detail"]
    after = client.get(f"{CASES}/{case['id']}", headers=auth_headers("BKN")).json()
    assert (after["stage"], after["version"]) == (stage, case["version"])


def test_reopening_is_refused_with_a_clear_problem(client: TestClient, auth_headers: AuthHeaders) -> None:
    bawaslu = auth_headers("BAWASLU")
    case = transition(client, bawaslu, create_case(client, bawaslu), "reject", effective_date="2024-01-05")

    wrong_reason = assert_problem(_reopen(client, bawaslu, case, reason="BANDING"), 422)
    assert wrong_reason["invalid_params"][0]["name"] == "body.reason"
    assert "BUKTI_BARU" in wrong_reason["detail"]
    wrong_agency = assert_problem(_reopen(client, auth_headers("KEMENDAGRI"), case, reason="BUKTI_BARU"), 403)
    assert "BAWASLU, BKN" in wrong_agency["detail"]
    no_reference = client.post(
        f"{CASES}/{case['id']}/reopen",
        json={"reason": "BUKTI_BARU"},
        headers=bawaslu | {"If-Match": f'"{case["version"]}"'},
    )
    assert_problem(no_reference, 422)
    before_the_end = assert_problem(
        _reopen(client, bawaslu, case, reason="BUKTI_BARU", effective_date="2024-01-04"), 422
    )
    assert before_the_end["invalid_params"][0]["name"] == "body.effective_date"
    no_precondition = client.post(
        f"{CASES}/{case['id']}/reopen", json={"reason": "BUKTI_BARU", "reference_number": BANDING}, headers=bawaslu
    )
    assert_problem(no_precondition, 428)
    as_transition = client.post(
        f"{CASES}/{case['id']}/transitions",
        json={"action": "reopen"},
        headers=bawaslu | {"If-Match": f'"{case["version"]}"'},
    )
    assert f"{CASES}/{case['id']}/reopen" in assert_problem(as_transition, 409)["detail"]
    unchanged = client.get(f"{CASES}/{case['id']}", headers=bawaslu).json()
    assert (unchanged["stage"], unchanged["version"]) == ("DITOLAK", case["version"])
