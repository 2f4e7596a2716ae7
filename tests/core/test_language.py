"""Problem details in the client's language: Indonesian when ``Accept-Language`` prefers it, English otherwise,
with ``Content-Language`` saying which; the negotiation itself."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api.language import negotiate
from app.core.i18n import Language
from tests.auth_helpers import AuthHeaders

ID, EN = Language.INDONESIAN, Language.ENGLISH


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, EN),
        ("", EN),
        ("id", ID),
        ("id-ID,id;q=0.9,en-US;q=0.8", ID),
        ("en-US,en;q=0.9,id;q=0.8", EN),
        ("fr-FR, id;q=0.5", ID),
        ("fr, de", EN),
        ("*", EN),
        ("id;q=0, en;q=0.1", EN),
        ("en;q=0.5, id;q=0.5", EN),
        ("id;q=abc, en;q=0.2", EN),
        ("ID;Q=1", ID),
    ],
)
def test_negotiation_takes_the_highest_weighted_supported_language(header: str | None, expected: Language) -> None:
    assert negotiate(header, EN) is expected


def test_a_problem_answers_in_indonesian_when_asked_and_in_english_otherwise(client: TestClient) -> None:
    indonesian = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"})
    assert indonesian.status_code == 404
    assert indonesian.json()["title"] == "Sumber daya tidak ditemukan"
    assert indonesian.headers["content-language"] == "id"
    assert indonesian.headers["vary"] == "Accept-Language"
    english = client.get("/api/v1/no-such-thing")
    assert english.json()["title"] == "Resource not found"
    assert english.headers["content-language"] == "en"
    assert indonesian.json()["type"] == english.json()["type"]  # the type is the same in every language


def test_validation_details_are_translated_with_their_numbers(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.post(
        "/api/v1/cases", json={"nip": "1"}, headers=auth_headers("BAWASLU") | {"Accept-Language": "id"}
    )
    assert response.status_code == 422
    problem = response.json()
    count = len(problem["invalid_params"])
    assert (problem["title"], problem["detail"]) == ("Permintaan tidak sah", f"{count} masukan tidak sah.")
    english = client.post("/api/v1/cases", json={"nip": "1"}, headers=auth_headers("BAWASLU")).json()
    assert english["detail"] == f"{count} invalid input(s)."


def test_refusals_of_the_middleware_are_translated_too(client: TestClient) -> None:
    unauthenticated = client.get("/api/v1/cases", headers={"Accept-Language": "id"})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["title"] == "Autentikasi diperlukan"
    assert unauthenticated.headers["content-language"] == "id"


def test_details_with_values_keep_them_in_either_language(client: TestClient, auth_headers: AuthHeaders) -> None:
    headers = auth_headers("BKN")
    indonesian = client.get("/api/v1/cases?provinsi=73", headers=headers | {"Accept-Language": "id"}).json()
    english = client.get("/api/v1/cases?provinsi=73", headers=headers).json()
    assert indonesian["detail"].startswith("Parameter kueri tidak dikenal: provinsi. Operasi ini menerima: ")
    assert english["detail"].startswith("Unknown query parameter(s): provinsi. This operation takes: ")
    assert indonesian["detail"].rsplit(": ", 1)[1] == english["detail"].rsplit(": ", 1)[1]  # the same parameters
