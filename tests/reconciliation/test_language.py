"""Findings and the rule catalogue explain themselves in the reader's language: `message` and `description` follow
`Accept-Language` (Indonesian when preferred, English otherwise) with `Content-Language`, from the one gettext
catalogue, while the v1 fields `message_en`/`message_id` and `description_en`/`description_id` stay as published."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.core.actor import Scope
from app.core.i18n import Language, translate
from tests.auth_helpers import AuthHeaders
from tests.factories import create_case

API = "/api/v1/reconciliation"
INDONESIAN = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US"}


def _one_finding(client: TestClient, headers: dict[str, str], rule: str) -> tuple[dict[str, Any], Any]:
    response = client.get(f"{API}/findings", params={"rule": rule}, headers=headers)
    assert response.status_code == 200, response.text
    (finding,) = response.json()["items"]
    return finding, response


def _record(client: TestClient, headers: dict[str, str], case: dict[str, Any], **fields: Any) -> None:
    body = {"nip": case["nip"], "name": case["name"], "violation_code": case["violation_code"], **fields}
    response = client.post(f"/api/v1/cases/{case['id']}/records", json=body, headers=headers)
    assert response.status_code == 201, response.text


def test_a_finding_says_what_differs_in_indonesian_or_english(client: TestClient, auth_headers: AuthHeaders) -> None:
    case = create_case(client, auth_headers("BAWASLU"), name="Budi Santoso")
    _record(client, auth_headers("BKN"), case, name="Budi Susanto")
    bkn = auth_headers("BKN")
    values = "CASE=Budi Santoso, BAWASLU=Budi Santoso, BKN=Budi Susanto"
    number, nip = case["case_number"], case["nip"]

    finding, response = _one_finding(client, bkn | INDONESIAN, "NAME_MISMATCH")
    assert (response.headers["content-language"], response.headers["vary"]) == ("id", "Accept-Language")
    expected_indonesian = f"Nama berbeda untuk NIP {nip} (kasus {number}) setelah normalisasi: {values} (nama berbeda)."
    assert finding["message"] == finding["message_id"] == expected_indonesian
    english = f"Names differ for NIP {nip} (case {number}) after normalisation: {values} (different)."
    assert finding["message_en"] == english  # the v1 fields carry both languages whatever was asked

    for headers in (bkn | ENGLISH, bkn):  # English when asked, and when nothing is asked
        finding, response = _one_finding(client, headers, "NAME_MISMATCH")
        assert response.headers["content-language"] == "en"
        assert finding["message"] == finding["message_en"] == english

    detail = client.get(f"{API}/findings/{finding['id']}", headers=bkn | INDONESIAN)
    assert (detail.headers["content-language"], detail.json()["message"]) == ("id", expected_indonesian)
    triaged = client.post(
        f"{API}/findings/{finding['id']}/transitions",
        json={"action": "acknowledge"},
        headers=bkn | INDONESIAN | {"If-Match": detail.headers["etag"]},
    )
    assert triaged.status_code == 200, triaged.text
    assert (triaged.headers["content-language"], triaged.json()["message"]) == ("id", expected_indonesian)


def test_an_explanation_built_from_parts_is_translated_part_by_part(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    """The NIP check's own reason (digit 15 is the gender) is a catalogue text inside the finding's text."""
    case = create_case(client, auth_headers("BAWASLU"))
    wrong_gender = case["nip"][:14] + "3" + case["nip"][15:]
    _record(client, auth_headers("BKN"), case, nip=wrong_gender)
    bkn = auth_headers("BKN")
    finding, _ = _one_finding(client, bkn | INDONESIAN, "NIP_INVALID")
    assert finding["message"] == (
        f"NIP {wrong_gender} yang dicatat BKN tidak valid: digit 15 adalah jenis kelamin dan harus 1 atau 2 "
        "(diterima 3)."
    )
    assert finding["message_en"] == (
        f"NIP {wrong_gender} recorded by BKN is not valid: digit 15 is the gender and must be 1 or 2 (got 3)."
    )
    assert finding["evidence"]["issues"] == ["digit 15 is the gender and must be 1 or 2 (got 3)"]


def test_the_rule_catalogue_describes_each_rule_in_the_language_asked(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    reader = auth_headers("BKN", scopes=[Scope.RECONCILIATION_READ])
    indonesian = client.get(f"{API}/rules", headers=reader | INDONESIAN)
    english = client.get(f"{API}/rules", headers=reader | ENGLISH)
    assert (indonesian.headers["content-language"], english.headers["content-language"]) == ("id", "en")
    for rule, same in zip(indonesian.json(), english.json(), strict=True):
        assert rule["description"] == rule["description_id"] == same["description_id"]
        assert same["description"] == same["description_en"] == rule["description_en"]
        assert rule["description_id"] == translate(Language.INDONESIAN, rule["description_en"])
        assert rule["description_id"] != rule["description_en"], rule["code"]
    by_code = {rule["code"]: rule for rule in indonesian.json()}
    assert by_code["STAGE_REGRESSION"]["description"] == "Catatan lembaga kembali ke tahap penanganan yang lebih awal."
