"""Text inputs refuse control characters and bidirectional controls (422 naming the field); names are one line."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.cases.schemas import CaseCreate
from tests.auth_helpers import AuthHeaders
from tests.factories import case_payload, create_case
from tests.problems import assert_problem

CASES = "/api/v1/cases"


BIDI_AND_CONTROLS = ["\u202e", "\u202a", "\u2066", "\u2069", "\x1b", "\x07", "\x7f", "\x85", "\x9f"]


TEXT_FIELDS = ["name", "instansi", "summary", "reference_number", "external_id", "regency"]


@pytest.mark.parametrize("character", BIDI_AND_CONTROLS, ids=[f"U+{ord(c):04X}" for c in BIDI_AND_CONTROLS])
def test_every_text_field_refuses_each_control_and_bidi_character(character: str) -> None:
    """The whole matrix, on the input schema itself (the check lives once, in InputSchema)."""
    for field in TEXT_FIELDS:
        with pytest.raises(ValidationError) as refused:
            CaseCreate.model_validate(case_payload(**{field: f"Amir{character}Santoso"}))
        (error,) = refused.value.errors()
        assert error["loc"] == (field,), field
        assert f"U+{ord(character):04X}" in error["msg"], field


@pytest.mark.parametrize(
    ("field", "character"), list(zip(TEXT_FIELDS, BIDI_AND_CONTROLS, strict=False)), ids=TEXT_FIELDS
)
def test_case_text_refuses_controls_and_bidi_overrides(
    client: TestClient, auth_headers: AuthHeaders, field: str, character: str
) -> None:
    payload = case_payload(**{field: f"Amir{character}Santoso"})
    body = assert_problem(client.post(CASES, json=payload, headers=auth_headers("BAWASLU")), 422)
    assert [param["name"] for param in body["invalid_params"]] == [f"body.{field}"]
    assert f"U+{ord(character):04X}" in body["invalid_params"][0]["reason"]


@pytest.mark.parametrize("character", ["\u202e", "\x85", "\x9f"], ids=["U+202E", "U+0085", "U+009F"])
def test_a_name_with_a_c1_control_or_a_right_to_left_override_is_not_stored(
    client: TestClient, auth_headers: AuthHeaders, character: str
) -> None:
    """The attacker's run stored these in names: a case's and an agency record's name refuse them."""
    headers = auth_headers("BAWASLU")
    refused = client.post(CASES, json=case_payload(name=f"Amir{character}Santoso"), headers=headers)
    assert [param["name"] for param in assert_problem(refused, 422)["invalid_params"]] == ["body.name"]
    case = create_case(client, headers)
    record = {"nip": case["nip"], "name": f"Amir{character}Santoso", "stage": "DITERIMA"}
    refused = client.post(f"{CASES}/{case['id']}/records", json=record, headers=auth_headers("BKN"))
    assert [param["name"] for param in assert_problem(refused, 422)["invalid_params"]] == ["body.name"]
    listed = client.get(CASES, headers=auth_headers("auditor")).json()["items"]
    assert [item["name"] for item in listed] == [case["name"]]
    records = client.get(f"{CASES}/{case['id']}/records", headers=auth_headers("BKN")).json()
    assert [(r["agency"], r["name"]) for r in records] == [("BAWASLU", case["name"])]  # its own, made with the case


@pytest.mark.parametrize("field", ["name", "instansi", "reference_number"])
def test_names_and_references_are_one_line(client: TestClient, auth_headers: AuthHeaders, field: str) -> None:
    body = assert_problem(
        client.post(CASES, json=case_payload(**{field: "Amir\nSantoso"}), headers=auth_headers("BAWASLU")), 422
    )
    assert [param["name"] for param in body["invalid_params"]] == [f"body.{field}"]


def test_free_text_keeps_line_breaks_and_names_keep_zero_width_characters(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    payload = case_payload(name="Drs. H. Budi\u200b Santoso", summary="Baris satu.\nBaris dua.\tTab.")
    response = client.post(CASES, json=payload, headers=auth_headers("BAWASLU"))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Drs. H. Budi\u200b Santoso"


def test_transition_notes_and_record_names_are_checked(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = client.post(CASES, json=case_payload(), headers=auth_headers("BAWASLU")).json()
    transition = client.post(
        f"{CASES}/{case['id']}/transitions",
        json={"action": "forward", "note": "diteruskan \u202eevil"},
        headers=auth_headers("BAWASLU"),
    )
    assert [p["name"] for p in assert_problem(transition, 422)["invalid_params"]] == ["body.note"]
    record = client.post(
        f"{CASES}/{case['id']}/records", json={"name": "Amir\u2067Santoso"}, headers=auth_headers("BKN")
    )
    assert [p["name"] for p in assert_problem(record, 422)["invalid_params"]] == ["body.name"]
