"""The SKB sanction matrix over HTTP: what a recommendation may name and a PPK may impose, by violation form, employee
kind and date; level-only recommendations; reasons for a departure; the audited correction of a recorded sanction.

Cases run after KASN's end (2024-08-24), so BKN recommends; the 2020 case is recommended by KASN through the write
flow (KASN's tokens are refused today) and then goes on over HTTP.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.cases.schemas import TransitionCreate
from app.core.actor import AGENCY_SCOPES, Agency, Principal, Role, WriteContext
from app.core.etag import etag_of
from app.core.problems import PROBLEM_BASE, SanctionNotAllowed
from app.flows import cases as flows
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case, make_pppk_nip, transition

NOT_ALLOWED = PROBLEM_BASE + "sanction-not-allowed"
REASON_REQUIRED = PROBLEM_BASE + "sanction-reason-required"
BERAT_PP94 = ["BERAT_PENURUNAN_JABATAN", "BERAT_PEMBEBASAN_JABATAN", "BERAT_PDHTAPS"]
LEGACY_BERAT = [
    "LEGACY_PEMINDAHAN_PENURUNAN_JABATAN",
    "LEGACY_PENURUNAN_PANGKAT_3",
    "LEGACY_PEMBEBASAN_JABATAN",
    "LEGACY_PDHTAPS",
]
LETTER = "R-12/BKN/9/2024"


def _forwarded(client: TestClient, auth_headers: AuthHeaders, **case: Any) -> dict[str, Any]:
    """A case forwarded for a recommendation in September 2024 (BKN recommends)."""
    fields = {"incident_date": "2024-09-03", "reported_date": "2024-09-05", **case}
    created = create_case(client, auth_headers("BAWASLU"), **fields)
    for action, on in (("verify", "2024-09-06"), ("start_study", "2024-09-09"), ("forward", "2024-09-10")):
        created = transition(client, auth_headers("BAWASLU"), created, action, effective_date=on)
    return created


def _post(
    client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any], body: dict[str, Any], agency: str = "BKN"
) -> Any:
    return client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json=body,
        headers=auth_headers(agency) | {"If-Match": f'"{case["version"]}"'},
    )


def _recommend(
    client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any], on: str = "2024-09-11", **sanction: str
) -> Any:
    body = {"action": "recommend", "effective_date": on, "reference_number": LETTER, **sanction}
    return _post(client, auth_headers, case, body)


def _refused(response: Any, problem_type: str, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["type"] == problem_type
    assert [param["name"] for param in problem["invalid_params"]] == [f"body.{field}"]
    return problem


def _unchanged(client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any]) -> None:
    """A refused step leaves no trace: same case version, same history, same ledger."""
    now = client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("auditor")).json()
    assert (now["stage"], now["version"]) == (case["stage"], case["version"])
    history = client.get(f"/api/v1/cases/{case['id']}/transitions", headers=auth_headers("auditor")).json()
    assert history[-1]["to_stage"] == case["stage"]


def _findings(
    client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any], rule: str | None = None
) -> list[dict[str, Any]]:
    """The case's open findings (of one rule)."""
    query = {"case_id": case["id"], "state": "OPEN"} | ({"rule": rule} if rule else {})
    page = client.get("/api/v1/reconciliation/findings", params=query, headers=auth_headers("auditor"))
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def _record(client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any], agency: str) -> dict[str, Any]:
    records = client.get(f"/api/v1/cases/{case['id']}/records", headers=auth_headers("auditor")).json()
    record: dict[str, Any] = next(row for row in records if row["agency"] == agency)
    return record


def _ledger(client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any]) -> list[dict[str, Any]]:
    page = client.get(f"/api/v1/ledger/cases/{case['id']}/entries", headers=auth_headers("auditor"))
    assert page.status_code == 200, page.text
    entries: list[dict[str, Any]] = page.json()["items"]
    return entries


def test_a_code_of_ethics_form_gets_no_disciplinary_sanction(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _forwarded(client, auth_headers, violation_code="KE-4", phase="BAKAL_CALON")
    problem = _refused(
        _recommend(client, auth_headers, case, sanction_code="BERAT_PENURUNAN_JABATAN"), NOT_ALLOWED, "sanction_code"
    )
    assert problem["allowed_levels"] == ["MORAL"]
    assert problem["allowed_sanctions"] == ["MORAL_TERTUTUP", "MORAL_TERBUKA"]
    assert "MORAL_TERTUTUP, MORAL_TERBUKA" in problem["detail"]
    _unchanged(client, auth_headers, case)
    _refused(_recommend(client, auth_headers, case, sanction_level="BERAT"), NOT_ALLOWED, "sanction_level")
    assert _recommend(client, auth_headers, case, sanction_code="MORAL_TERBUKA").status_code == 200


def test_d6_gets_no_moral_sanction(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _forwarded(client, auth_headers, violation_code="D-6")
    problem = _refused(
        _recommend(client, auth_headers, case, sanction_code="MORAL_TERBUKA"), NOT_ALLOWED, "sanction_code"
    )
    assert (problem["allowed_levels"], problem["allowed_sanctions"]) == (["BERAT"], BERAT_PP94)
    _unchanged(client, auth_headers, case)


def test_party_membership_is_ptdh_only(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _forwarded(client, auth_headers, violation_code="D-5")
    problem = _refused(_recommend(client, auth_headers, case, sanction_level="SEDANG"), NOT_ALLOWED, "sanction_level")
    assert (problem["allowed_levels"], problem["allowed_sanctions"]) == (["PTDH"], ["PTDH"])
    recommended = _recommend(client, auth_headers, case, sanction_level="PTDH")
    assert recommended.status_code == 200, recommended.text
    # not even a reason makes a party member's sanction a lighter kind
    lighter = {"action": "impose_sanction", "effective_date": "2024-09-20", "sanction_reason": "KEBERATAN"}
    refused = _post(client, auth_headers, recommended.json(), lighter | {"sanction_code": "BERAT_PDHTAPS"})
    assert _refused(refused, NOT_ALLOWED, "sanction_code")["allowed_sanctions"] == ["PTDH"]


def test_pppk_gets_the_pp_49_2018_forms(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _forwarded(client, auth_headers, nip=make_pppk_nip(), violation_code="D-6")
    assert case["employee_kind"] == "PPPK"
    refused = _recommend(client, auth_headers, case, sanction_code="BERAT_PDHTAPS")
    assert _refused(refused, NOT_ALLOWED, "sanction_code")["allowed_sanctions"] == ["PPPK_PHK_DENGAN_HORMAT"]
    accepted = _recommend(client, auth_headers, case, sanction_code="PPPK_PHK_DENGAN_HORMAT")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["recommended_sanction_level"] == "BERAT"
    catalogue = client.get("/api/v1/reference/sanctions", headers=auth_headers("BKN")).json()
    pppk = {row["code"]: row for row in catalogue if row["employee_kind"] == "PPPK"}
    assert "PP 49/2018" in pppk["PPPK_PHK_DENGAN_HORMAT"]["legal_basis"]
    assert {row["level"] for row in pppk.values()} == {"RINGAN", "SEDANG", "BERAT", "PTDH"}


def _kasn() -> WriteContext:
    principal = Principal(client_id="archive-kasn", role=Role.AGENCY, agency=Agency.KASN, scopes=AGENCY_SCOPES)
    return WriteContext(principal=principal, body_sha256="0" * 64, request_id=str(uuid.uuid4()))


def test_2020_cases_take_pp_53_2010_codes_and_later_ones_do_not(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = create_case(
        client, auth_headers("BAWASLU"), election_year=2020, incident_date="2020-10-05", reported_date="2020-10-06"
    )
    for action, on in (("verify", "2020-10-07"), ("start_study", "2020-10-08"), ("forward", "2020-10-12")):
        case = transition(client, auth_headers("BAWASLU"), case, action, effective_date=on)
    body = {"action": "recommend", "effective_date": "2020-10-20", "reference_number": "R-1194/KASN/10/2020"}

    def kasn_recommends(code: str) -> None:
        data = TransitionCreate.model_validate(body | {"sanction_code": code})
        factory, settings, etag = app.state.sessionmaker, app.state.settings, etag_of(case["version"])
        flows.transition_case(factory, settings, _kasn(), uuid.UUID(case["id"]), data, etag, None)

    with pytest.raises(SanctionNotAllowed) as refused:
        kasn_recommends("BERAT_PENURUNAN_JABATAN")
    assert refused.value.extra["allowed_sanctions"] == LEGACY_BERAT
    kasn_recommends("LEGACY_PEMBEBASAN_JABATAN")
    case = client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("BKN")).json()
    assert (case["recommended_sanction_code"], case["recommended_sanction_level"]) == (
        "LEGACY_PEMBEBASAN_JABATAN",
        "BERAT",
    )
    # BKN records the PPK's 2020 decision over HTTP: a PP 94/2021 code on a 2020 date is refused
    impose = {"action": "impose_sanction", "effective_date": "2020-10-28", "sanction_code": "BERAT_PDHTAPS"}
    problem = _refused(_post(client, auth_headers, case, impose), NOT_ALLOWED, "sanction_code")
    assert problem["allowed_sanctions"] == LEGACY_BERAT
    assert "2020-10-28" in problem["detail"]
    done = _post(client, auth_headers, case, impose | {"sanction_code": "LEGACY_PDHTAPS"})
    assert done.status_code == 200, done.text


def test_legacy_codes_are_refused_after_pp_94_2021(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _forwarded(client, auth_headers, violation_code="D-3")
    problem = _refused(
        _recommend(client, auth_headers, case, sanction_code="LEGACY_PENUNDAAN_KGB"), NOT_ALLOWED, "sanction_code"
    )
    assert problem["allowed_sanctions"] == ["SEDANG_TUKIN_25_6", "SEDANG_TUKIN_25_9", "SEDANG_TUKIN_25_12"]


def test_a_level_only_recommendation_is_accepted_and_held(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _forwarded(client, auth_headers, violation_code="D-3")
    response = _recommend(client, auth_headers, case, sanction_level="SEDANG")  # "Disiplin Sedang"
    assert response.status_code == 200, response.text
    recommended = response.json()
    assert (recommended["recommended_sanction_code"], recommended["recommended_sanction_level"]) == (None, "SEDANG")
    record = _record(client, auth_headers, recommended, "BKN")
    assert (record["sanction_code"], record["sanction_level"], record["sanction_status"]) == (
        None,
        "SEDANG",
        "RECOMMENDED",
    )
    step = client.get(f"/api/v1/cases/{case['id']}/transitions", headers=auth_headers("auditor")).json()[-1]
    assert (step["action"], step["sanction_level"]) == ("recommend", "SEDANG")
    # any sanction of the level, no reason needed, and nothing for reconciliation to report
    imposed = transition(
        client,
        auth_headers("BKN"),
        recommended,
        "impose_sanction",
        effective_date="2024-09-20",
        sanction_code="SEDANG_TUKIN_25_12",
    )
    assert imposed["imposed_sanction_code"] == "SEDANG_TUKIN_25_12"
    assert _findings(client, auth_headers, imposed) == []


def test_another_sanction_of_the_recommended_level_is_no_departure(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _forwarded(client, auth_headers, violation_code="D-3")
    recommended = _recommend(client, auth_headers, case, sanction_code="SEDANG_TUKIN_25_6").json()
    imposed = transition(
        client,
        auth_headers("BKN"),
        recommended,
        "impose_sanction",
        effective_date="2024-09-20",
        sanction_code="SEDANG_TUKIN_25_12",
    )
    assert imposed["imposed_sanction_reason"] is None
    assert _findings(client, auth_headers, imposed) == []


def test_a_lighter_sanction_needs_a_reason_that_is_kept_and_reported(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _forwarded(client, auth_headers, violation_code="D-6")
    recommended = _recommend(client, auth_headers, case, sanction_code="BERAT_PDHTAPS").json()
    lighter = {"action": "impose_sanction", "effective_date": "2024-09-20", "sanction_code": "SEDANG_TUKIN_25_12"}
    problem = _refused(_post(client, auth_headers, recommended, lighter), REASON_REQUIRED, "sanction_reason")
    assert (problem["allowed_levels"], problem["allowed_sanctions"]) == (["BERAT"], BERAT_PP94)
    assert problem["reasons"] == ["KEBERATAN", "BANDING", "KEPUTUSAN_PPK"]
    _unchanged(client, auth_headers, recommended)
    # another sanction of the recommended level needs no reason; the reason is for a departure from the level
    response = _post(client, auth_headers, recommended, lighter | {"sanction_reason": "KEBERATAN"})
    assert response.status_code == 200, response.text
    imposed = response.json()
    assert (imposed["imposed_sanction_code"], imposed["imposed_sanction_reason"]) == ("SEDANG_TUKIN_25_12", "KEBERATAN")
    assert _record(client, auth_headers, imposed, "BKN")["sanction_reason"] == "KEBERATAN"
    entry = next(e for e in _ledger(client, auth_headers, imposed) if e["payload"].get("action") == "impose_sanction")
    assert entry["payload"]["sanction_reason"] == "KEBERATAN"
    assert entry["payload"]["case"]["imposed_sanction_reason"] == "KEBERATAN"
    (finding,) = _findings(client, auth_headers, imposed, "SANCTION_DEPARTURE_EXPLAINED")
    assert (finding["severity"], finding["hint"]) == ("LOW", "lighter")
    assert finding["evidence"]["reason"] == "KEBERATAN"
    assert _findings(client, auth_headers, imposed, "SANCTION_NOT_PER_RECOMMENDATION") == []


def test_a_reason_is_only_for_an_imposed_sanction(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _forwarded(client, auth_headers, violation_code="D-6")
    body = {"action": "recommend", "reference_number": LETTER, "sanction_level": "BERAT", "sanction_reason": "BANDING"}
    response = _post(client, auth_headers, case, body)
    assert response.status_code == 422
    assert response.json()["type"] == PROBLEM_BASE + "validation-error"


def _sanctioned(client: TestClient, auth_headers: AuthHeaders) -> dict[str, Any]:
    case = _forwarded(client, auth_headers, violation_code="D-6")
    recommended = _recommend(client, auth_headers, case, sanction_level="BERAT").json()
    return transition(
        client,
        auth_headers("BKN"),
        recommended,
        "impose_sanction",
        effective_date="2024-09-20",
        sanction_code="BERAT_PDHTAPS",
    )


def _correct(
    client: TestClient, auth_headers: AuthHeaders, case: dict[str, Any], agency: str = "BKN", **body: Any
) -> Any:
    return client.post(
        f"/api/v1/cases/{case['id']}/sanction-corrections",
        json={"reference_number": "800.1.6/123/BKD/2024", "effective_date": "2024-10-01", **body},
        headers=auth_headers(agency) | {"If-Match": f'"{case["version"]}"'},
    )


def test_a_wrong_sanction_is_corrected_in_the_ledger_and_reconciled(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    case = _sanctioned(client, auth_headers)
    kemendagri = client.post(
        f"/api/v1/cases/{case['id']}/records",
        json={"sanction_code": "BERAT_PDHTAPS", "sanction_status": "IMPOSED", "stage": "SANKSI_DIJATUHKAN"},
        headers=auth_headers("KEMENDAGRI"),
    )
    assert kemendagri.status_code == 201, kemendagri.text
    case = client.get(f"/api/v1/cases/{case['id']}", headers=auth_headers("BKN")).json()
    response = _correct(client, auth_headers, case, sanction_code="BERAT_PENURUNAN_JABATAN", reason="SALAH_CATAT")
    assert response.status_code == 200, response.text
    corrected = response.json()
    assert (corrected["stage"], corrected["imposed_sanction_code"], corrected["imposed_sanction_reason"]) == (
        "SANKSI_DIJATUHKAN",
        "BERAT_PENURUNAN_JABATAN",
        "SALAH_CATAT",
    )
    assert corrected["sanction_date"] == "2024-09-20"  # the PPK's decision keeps its date
    step = client.get(f"/api/v1/cases/{case['id']}/transitions", headers=auth_headers("auditor")).json()[-1]
    assert (
        step["action"],
        step["from_stage"],
        step["to_stage"],
        step["sanction_reason"],
        step["reference_number"],
    ) == (
        "correct_sanction",
        "SANKSI_DIJATUHKAN",
        "SANKSI_DIJATUHKAN",
        "SALAH_CATAT",
        "800.1.6/123/BKD/2024",
    )
    entry = next(
        e for e in _ledger(client, auth_headers, corrected) if e["payload"].get("action") == "correct_sanction"
    )
    assert entry["entry_type"] == "case.transitioned"
    assert response.headers["Ledger-Seq"].split(",")[0] == str(entry["seq"])  # the correction's receipt
    assert corrected["receipt"]["entries"][0]["seq"] == entry["seq"]
    assert entry["agency"] == "BKN"
    assert (entry["payload"]["previous_sanction_code"], entry["payload"]["sanction_code"]) == (
        "BERAT_PDHTAPS",
        "BERAT_PENURUNAN_JABATAN",
    )
    assert _record(client, auth_headers, corrected, "BKN")["sanction_code"] == "BERAT_PENURUNAN_JABATAN"
    # Kemendagri still holds the sanction as first recorded: a real disagreement now, reported at once
    (mismatch,) = _findings(client, auth_headers, corrected, "SANCTION_RECORD_MISMATCH")
    assert mismatch["agencies"] == ["BKN", "KEMENDAGRI"]


def test_a_correction_is_checked_like_an_imposition(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _sanctioned(client, auth_headers)
    lighter = _correct(client, auth_headers, case, sanction_code="SEDANG_TUKIN_25_6", reason="SALAH_CATAT")
    assert _refused(lighter, REASON_REQUIRED, "sanction_reason")["allowed_sanctions"] == BERAT_PP94
    moral = _correct(client, auth_headers, case, sanction_code="MORAL_TERBUKA", reason="BANDING")
    _refused(moral, NOT_ALLOWED, "sanction_code")
    by_bawaslu = _correct(
        client, auth_headers, case, "BAWASLU", sanction_code="BERAT_PENURUNAN_JABATAN", reason="BANDING"
    )
    assert by_bawaslu.status_code == 403
    _unchanged(client, auth_headers, case)
    banding = _correct(client, auth_headers, case, sanction_code="SEDANG_TUKIN_25_6", reason="BANDING")
    assert banding.status_code == 200, banding.text
    (finding,) = _findings(client, auth_headers, banding.json(), "SANCTION_DEPARTURE_EXPLAINED")
    assert (finding["severity"], finding["evidence"]["reason"]) == ("LOW", "BANDING")


def test_only_a_recorded_sanction_is_corrected(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _forwarded(client, auth_headers, violation_code="D-6")
    response = _correct(client, auth_headers, case, sanction_code="BERAT_PDHTAPS", reason="SALAH_CATAT")
    assert response.status_code == 409
    assert response.json()["type"] == PROBLEM_BASE + "illegal-transition"


def test_the_matrix_is_served_with_its_doubts(client: TestClient, auth_headers: AuthHeaders) -> None:
    rows = client.get("/api/v1/reference/sanction-matrix", headers=auth_headers("BAWASLU")).json()
    levels: dict[str, set[str]] = {}
    for row in rows:
        levels.setdefault(row["violation_code"], set()).add(row["level"])
    assert len(levels) == 20
    assert all(levels[f"KE-{n}"] == {"MORAL"} for n in range(1, 8))
    assert levels["D-5"] == {"PTDH"}
    assert levels["D-6"] == {"BERAT"}
    assert all(row["note"] for row in rows if row["violation_code"] in {"D-8", "D-9", "D-13"})


def test_a_corrected_sanction_can_still_be_annulled_by_reopening(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = _sanctioned(client, auth_headers)
    corrected = _correct(client, auth_headers, case, sanction_code="BERAT_PENURUNAN_JABATAN", reason="SALAH_CATAT")
    assert corrected.status_code == 200, corrected.text
    case = corrected.json()
    reopened = client.post(
        f"/api/v1/cases/{case['id']}/reopen",
        json={"reason": "BANDING", "reference_number": "BANDING/7/2024", "effective_date": "2024-10-02"},
        headers=auth_headers("BKN") | {"If-Match": f'"{case["version"]}"'},
    )
    assert reopened.status_code == 200, reopened.text
    back = reopened.json()
    assert (back["stage"], back["imposed_sanction_code"], back["imposed_sanction_reason"]) == (
        "REKOMENDASI",
        None,
        None,
    )
    assert back["recommended_sanction_level"] == "BERAT"
    record = _record(client, auth_headers, back, "BKN")
    assert (record["sanction_level"], record["sanction_status"], record["sanction_reason"]) == (
        "BERAT",
        "RECOMMENDED",
        None,
    )
